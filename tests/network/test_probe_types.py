"""The network probe types are registered by entry point and honour the probe contract."""

from __future__ import annotations

import importlib

import pytest

from watchdog.pipeline.probe import ProbeParams, ProbeRegistry

TYPES = ["http", "shkeeper", "redis", "mongo", "smtp"]


@pytest.mark.parametrize("name", TYPES)
def test_each_type_is_registered_with_params_causes_and_the_two_methods(name: str) -> None:
    cls = ProbeRegistry.from_entry_points()[name]
    assert issubclass(cls.Params, ProbeParams)
    assert "ok" in cls.causes
    assert callable(cls.check) and callable(cls.aclose)


@pytest.mark.parametrize("name", TYPES)
def test_every_failure_cause_has_a_runbook_hint(name: str) -> None:
    cls = ProbeRegistry.from_entry_points()[name]
    hints = importlib.import_module(cls.__module__).HINTS
    assert set(cls.causes) - {"ok"} <= set(hints)


def test_the_bundled_config_uses_every_network_probe_and_validates() -> None:
    from tests.support import ROOT, cli, daemon_env

    env = {k: v for k, v in daemon_env().items()
           if k not in ("REDIS_PASSWORD", "SHKEEPER_API_KEY", "SMTP_PASS", "MONGO_URI")}
    result = cli("validate", "--config", str(ROOT / "config" / "watchdog.yaml"), env=env)
    assert result.returncode == 0, result.stderr
    text = (ROOT / "config" / "watchdog.yaml").read_text()
    assert all(f"type: {name}" in text for name in ("http", "shkeeper", "redis", "mongo", "smtp"))
