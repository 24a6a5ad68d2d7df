"""The plugin contract, enforced when a type is registered (injected or from an entry point).

The plugin classes here are deliberately broken fakes, one contract clause each: the
registry must refuse each with a PluginError naming the plugin and what it misses.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from probes.http import HttpProbe
from watchdog.common.errors import PluginError
from watchdog.common.registry import PROBE_GROUP, REMEDIATION_GROUP
from watchdog.pipeline.observation import Observation, ok
from watchdog.pipeline.probe import ProbeParams, ProbeRegistry
from watchdog.remediation.contract import ActionParams, Plan, RemediationRegistry, Trigger

# -- probes --------------------------------------------------------------------------------


class GoodProbe:
    Params: ClassVar[type[ProbeParams]] = ProbeParams
    causes: ClassVar[frozenset[str]] = frozenset({"ok"})

    def __init__(self, params: Any, ctx: Any) -> None:
        pass

    async def check(self) -> Observation:
        return ok("fine")

    async def aclose(self) -> None:
        return None


def variant(name: str, base: type, **attrs: object) -> type:
    """A deliberately broken plugin class, built at run time so the type checker does not
    reject what the loader is meant to reject."""
    return type(name, (base,), attrs)


class PlainParams:  # not a pydantic model at all
    pass


ParamsNotAModel = variant("ParamsNotAModel", GoodProbe, Params=PlainParams)


class ParamsOffTheBase(GoodProbe):
    class Params(BaseModel):  # a model, but not a ProbeParams
        url: str = ""


class ParamsMissing:
    causes: ClassVar[frozenset[str]] = frozenset({"ok"})

    async def check(self) -> Observation:
        return ok("fine")

    async def aclose(self) -> None:
        return None


CausesAList = variant("CausesAList", GoodProbe, causes=["ok", "refused"])


CausesNotStrings = variant("CausesNotStrings", GoodProbe, causes=frozenset({"ok", 503}))


WarningsOutsideCauses = variant("WarningsOutsideCauses", GoodProbe,
                                warning_causes=frozenset({"ok", "slow"}))


class CausesMissing:
    Params: ClassVar[type[ProbeParams]] = ProbeParams

    async def check(self) -> Observation:
        return ok("fine")

    async def aclose(self) -> None:
        return None


CheckNotACoroutine = variant("CheckNotACoroutine", GoodProbe, check=lambda self: ok("fine"))


class AcloseMissing:
    Params: ClassVar[type[ProbeParams]] = ProbeParams
    causes: ClassVar[frozenset[str]] = frozenset({"ok"})

    async def check(self) -> Observation:
        return ok("fine")


def a_probe_factory(params: Any, ctx: Any) -> GoodProbe:  # a function, not a class
    return GoodProbe(params, ctx)


@pytest.mark.parametrize(("plugin", "says"), [
    (ParamsNotAModel, "Params is PlainParams, not a pydantic model subclassing ProbeParams"),
    (ParamsOffTheBase, "Params is ParamsOffTheBase.Params, not a pydantic model subclassing "
                       "ProbeParams"),
    (ParamsMissing, "Params is missing (a pydantic model subclassing ProbeParams)"),
    (CausesAList, "causes is list ['ok', 'refused'], not a set of strings"),
    (CausesNotStrings, "not a set of strings"),
    (CausesMissing, "causes is missing (a set of strings: the cause vocabulary)"),
    (WarningsOutsideCauses, "warning_causes names 'slow', not in causes"),
    (CheckNotACoroutine, "check() is not a coroutine function (it must be `async def`)"),
    (AcloseMissing, "aclose() is missing (an async method)"),
    (a_probe_factory, "is a function, not a class"),
])
def test_an_injected_probe_class_that_breaks_the_contract_is_refused(plugin: Any,
                                                                       says: str) -> None:
    with pytest.raises(PluginError) as caught:
        ProbeRegistry({"broken": plugin})
    message = str(caught.value)
    assert message.startswith("probe type 'broken' (tests.test_plugin_contract:")
    assert getattr(plugin, "__qualname__", "") in message
    assert says in message


def test_every_problem_of_a_class_is_named_at_once() -> None:
    class Hopeless:
        Params = dict
        causes = "ok"

        def check(self) -> None:
            pass

    with pytest.raises(PluginError) as caught:
        ProbeRegistry({"hopeless": Hopeless})
    message = str(caught.value)
    for says in ("Params is dict", "causes is str 'ok'", "check() is not a coroutine",
                 "aclose() is missing"):
        assert says in message


def test_a_probe_class_that_keeps_the_contract_is_registered() -> None:
    registry = ProbeRegistry({"good": GoodProbe, "http": HttpProbe})
    assert registry["good"] is GoodProbe and registry.kind == "probe"


def test_a_broken_probe_class_from_an_entry_point_is_refused_naming_the_entry_point(
        monkeypatch: pytest.MonkeyPatch) -> None:
    broken = importlib.metadata.EntryPoint(
        name="sloppy", value="tests.test_plugin_contract:CausesAList", group=PROBE_GROUP)

    def entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
        return [broken] if group == PROBE_GROUP else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    with pytest.raises(PluginError) as caught:
        ProbeRegistry.from_entry_points()
    assert str(caught.value) == (
        "probe type 'sloppy' (entry point tests.test_plugin_contract:CausesAList from ?) does "
        "not keep the probe contract: causes is list ['ok', 'refused'], not a set of strings")


def test_every_installed_plugin_keeps_its_contract() -> None:
    assert "http" in ProbeRegistry.from_entry_points()
    assert "rollback" in RemediationRegistry.from_entry_points()


# -- remediations ----------------------------------------------------------------------------


class GoodAction:  # no `fires_on`: the runtime defaults it to "failing"
    Params: ClassVar[type[ActionParams]] = ActionParams

    def __init__(self, params: Any, ctx: Any) -> None:
        pass

    async def plan(self, trigger: Trigger) -> Plan:
        return Plan("t", "do it")

    async def execute(self, plan: Plan) -> Mapping[str, Any]:
        return {}

    async def verify(self, plan: Plan) -> bool:
        return True


# a model, but the probe base
ActionWithProbeParams = variant("ActionWithProbeParams", GoodAction, Params=ProbeParams)


PlanNotACoroutine = variant("PlanNotACoroutine", GoodAction,
                            plan=lambda self, trigger: Plan("t", "do it"))


class ExecuteMissing:
    Params: ClassVar[type[ActionParams]] = ActionParams

    async def plan(self, trigger: Trigger) -> Plan:
        return Plan("t", "do it")

    async def verify(self, plan: Plan) -> bool:
        return True


VerifyNotACoroutine = variant("VerifyNotACoroutine", GoodAction, verify=lambda self, plan: True)


class SyncAclose(GoodAction):
    def aclose(self) -> None:
        pass


class SyncUndo(GoodAction):
    def undo(self, plan: Plan) -> str:
        return "restored"


class FiresSometimes(GoodAction):
    fires_on = "sometimes"


class ProbeFieldParams(ActionParams):
    probe_fields: ClassVar[tuple[str, ...]] = ("probe", "prbe")
    probe: str


ProbeFieldsAStray = variant("ProbeFieldsAStray", GoodAction, Params=ProbeFieldParams)


@pytest.mark.parametrize(("plugin", "says"), [
    (ProbeFieldsAStray, "Params.probe_fields names 'prbe', not a field of ProbeFieldParams"),
    (ActionWithProbeParams, "Params is ProbeParams, not a pydantic model subclassing "
                            "ActionParams"),
    (PlanNotACoroutine, "plan() is not a coroutine function (it must be `async def`)"),
    (ExecuteMissing, "execute() is missing (an async method)"),
    (VerifyNotACoroutine, "verify() is not a coroutine function"),
    (SyncAclose, "aclose() is not a coroutine function"),
    (SyncUndo, "undo() is not a coroutine function"),
    (FiresSometimes, "fires_on is 'sometimes', not one of 'failing', 'open'"),
])
def test_an_injected_action_class_that_breaks_the_contract_is_refused(plugin: Any,
                                                                        says: str) -> None:
    with pytest.raises(PluginError) as caught:
        RemediationRegistry({"broken": plugin})
    message = str(caught.value)
    assert message.startswith(f"remediation type 'broken' (tests.test_plugin_contract:"
                              f"{plugin.__qualname__}) does not keep the remediation contract")
    assert says in message


class FiresOnOpen(GoodAction):
    fires_on = "open"


def test_an_action_class_that_keeps_the_contract_is_registered() -> None:
    registry = RemediationRegistry({"good": GoodAction, "open": FiresOnOpen})
    assert registry["good"] is GoodAction and registry.kind == "remediation"


def test_a_broken_action_class_from_an_entry_point_is_refused_naming_the_entry_point(
        monkeypatch: pytest.MonkeyPatch) -> None:
    broken = importlib.metadata.EntryPoint(
        name="half", value="tests.test_plugin_contract:ExecuteMissing", group=REMEDIATION_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group: [broken] if group == REMEDIATION_GROUP else [])
    with pytest.raises(PluginError, match=r"remediation type 'half' \(entry point tests\."
                                          r"test_plugin_contract:ExecuteMissing from \?\).*"
                                          r"execute\(\) is missing"):
        RemediationRegistry.from_entry_points()
