"""runbook-watchdog: the core of the daemon (config, scheduler, classifier, incidents, state).

The pipeline, one module per stage:
    probe (probes/*)  ->  observation  ->  classifier (pure)  ->  incidents  ->  state
with the scheduler driving probes and the daemon wiring everything to metrics and HTTP.
"""

__version__ = "0.1.0"
# The launcher checks this marker: the import name `watchdog` is shared with a popular
# filesystem-events library, and a shadowing package must fail loudly, not half-work.
__runbook_watchdog__ = True
