"""Access to the peers that probes and remediations share (the Docker Engine API, network
error vocabulary), so neither plugin package imports the other's private modules."""
