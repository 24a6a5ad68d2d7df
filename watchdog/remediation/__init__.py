"""Remediation: what an action is, when it may run, and running it safely.

    contract.py  the action contract (`Action`, `ActionType`, `Plan`, `ActionContext`), its
                 `RemediationRegistry` and `BaseAction`, the preamble every action shares
    policy.py    the gates, pure: trigger, dependencies, budget, backoff, storm, kill switch
    runtime.py   `Remediator`: trigger -> gates -> plan -> journal -> execute -> verify
    journal.py   `Ledger`: attempts written before execution, decisions, quarantines
    lease.py     one actor among replicas (a Redis lease)
"""
