"""Remediation types, one per module, registered in the `runbook_watchdog.remediations` group."""
