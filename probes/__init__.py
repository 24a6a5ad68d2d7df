"""Probe types, one per module, registered in the `runbook_watchdog.probes` entry-point group."""
