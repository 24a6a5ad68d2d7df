"""Shared by every stage: errors, the secret scrubber, clocks, durations, the SQLite store,
plugin registries and the dotenv reader. Nothing here imports a stage."""
