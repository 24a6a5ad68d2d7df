"""The network probe types are registered by entry point and honour the probe contract."""

from __future__ import annotations

import importlib

import pytest

from watchdog.probe import ProbeParams
from watchdog.registry import PROBE_GROUP, Registry

TYPES = ["http", "shkeeper", "redis", "mongo", "smtp"]


@pytest.mark.parametrize("name", TYPES)
def test_each_type_is_registered_with_params_causes_and_the_two_methods(name: str) -> None:
    cls = Registry.from_entry_points(PROBE_GROUP, "probe")[name]
    assert issubclass(cls.Params, ProbeParams)
    assert "ok" in cls.causes
    assert callable(cls.check) and callable(cls.aclose)


@pytest.mark.parametrize("name", TYPES)
def test_every_failure_cause_has_a_runbook_hint(name: str) -> None:
    cls = Registry.from_entry_points(PROBE_GROUP, "probe")[name]
    hints = importlib.import_module(cls.__module__).HINTS
    assert set(cls.causes) - {"ok"} <= set(hints)
