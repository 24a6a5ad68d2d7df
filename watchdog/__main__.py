"""`python -m watchdog`: the same entry point as the console script, shadow check included."""

from runbook_watchdog_launcher import main

main()
