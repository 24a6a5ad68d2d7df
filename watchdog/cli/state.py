"""The state database of the config a command is given, as the daemon of that config has it.

The commands resolve `watchdog.state_dir` exactly as the daemon does (same loader, same
`${VAR:-default}` interpolation from the environment and the env_file), so they read the
state of the daemon run with the same config and environment.
"""

from __future__ import annotations

from watchdog.common.errors import StateError
from watchdog.common.state import StateStore
from watchdog.runtime.config import Config


def existing_state(config: Config, *, readonly: bool = False) -> StateStore:
    """The state database the daemon of `config` writes; StateError if it has none yet."""
    db = config.watchdog.state_dir / "state.db"
    if not db.exists():
        raise StateError(
            f"no state database at {db} (the state_dir of {config.path}): has the daemon "
            "run with this config and environment? A daemon started with "
            "RUNBOOK_WATCHDOG_STATE_DIR set (as `make run` does) is found with the same "
            "variable set here, or with a --config whose state_dir names its directory")
    return StateStore(db, readonly=readonly)
