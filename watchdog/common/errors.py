"""Exceptions raised by the core; library exceptions are translated into these at the edges.

    WatchdogError
    ├── ConfigError          a config file is invalid: carries every problem found
    │   └── ConfigMissing    the config file does not exist
    ├── UsageError           a command's argument is unusable: an unknown name, a bad value
    ├── PluginError          entry points: duplicate name, unknown type, bad plugin class
    ├── StateError           the SQLite state store cannot be opened or written
    └── ProbeError           raised inside a probe for a classified failure it cannot express
                             as an Observation (rare: probes normally return one)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class WatchdogError(Exception):
    """Base of every error this project raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in one config file: the file, the dotted key path, and what is wrong."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key or '<top level>'}: {self.message}"


class ConfigError(WatchdogError):
    """A config file is invalid; `problems` lists every problem, not just the first."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigMissing(ConfigError):
    """The config file does not exist: said as such, not as a list of one problem."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__([ConfigProblem(path, "", "cannot read: No such file or directory")])


class UsageError(WatchdogError):
    """A command was given an argument it cannot use (an unknown name, a bad value)."""


def unknown_name(kind: str, name: str, known: Iterable[str], where: object) -> UsageError:
    """`no probe named 'x' in FILE (known: a, b)`: the error for a name nothing configures."""
    listed = ", ".join(sorted(known)) or "none"
    return UsageError(f"no {kind} named {name!r} in {where} (known: {listed})")


class PluginError(WatchdogError):
    """A probe or remediation plugin is missing, duplicated or malformed."""


class StateError(WatchdogError):
    """The state store cannot be used."""


class ProbeError(WatchdogError):
    """A probe failed in a way it classified itself; `cause` is from the vocabulary."""

    def __init__(self, cause: str, summary: str) -> None:
        self.cause = cause
        super().__init__(summary)
