"""Configuration: YAML -> `${VAR}` interpolation -> typed, frozen models, all errors at once.

Every problem names the file, the dotted key path and what is wrong. Probe and
remediation sections are split into the keys every plugin shares (`ProbeCommon`,
`RemediationCommon`) and the plugin's own `Params`, each validated strictly.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from watchdog.common.envfile import read_env_file
from watchdog.common.errors import ConfigError, ConfigMissing, ConfigProblem
from watchdog.common.registry import Plugin, Registry
from watchdog.common.secrets import collect_secrets
from watchdog.notification.models import MaintenanceWindow, NotifyConfig
from watchdog.notification.models import cross_check as notify_cross_check
from watchdog.pipeline.incidents import USER_REPORTS
from watchdog.pipeline.probe import ProbeRegistry, warning_causes
from watchdog.remediation.contract import RemediationRegistry, is_safe
from watchdog.runtime import yamlloader
from watchdog.runtime.config_models import (
    EscalateRule,
    ProbeCommon,
    RemediationCommon,
    SeverityConfig,
    Strict,
    WatchdogSettings,
)
from watchdog.runtime.webconfig import WebConfig, load_web_config

# Looked for in this order when neither --config nor $RUNBOOK_WATCHDOG_CONFIG names a file;
# the second is relative to the current directory (a checkout, `make run`).
DEFAULT_PATHS = (Path("/etc/runbook-watchdog/watchdog.yaml"), Path("config/watchdog.yaml"))
ENV_CONFIG = "RUNBOOK_WATCHDOG_CONFIG"
_VAR = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\})")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ProbeSpec:
    """One configured probe: shared keys plus its type's validated params."""

    name: str
    common: ProbeCommon
    params: BaseModel
    warnings: frozenset[str] = frozenset()  # its type's warning causes (never "down")

    @property
    def type(self) -> str:
        return self.common.type

    def escalation(self, default: EscalateRule | None) -> EscalateRule | None:
        rule = self.common.escalate
        return None if rule is False else (rule or default)


@dataclass(frozen=True)
class RemediationSpec:
    name: str
    common: RemediationCommon
    params: BaseModel


@dataclass(frozen=True)
class Config:
    path: Path
    watchdog: WatchdogSettings
    severity: SeverityConfig
    probes: Mapping[str, ProbeSpec]
    remediations: Mapping[str, RemediationSpec]
    secrets: tuple[str, ...] = field(default=(), repr=False)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    maintenance: tuple[MaintenanceWindow, ...] = ()
    web: WebConfig | None = None  # watchdog.web_config_file, read and checked


class _RootKeys(Strict):
    watchdog: dict[str, Any] | None = None
    severity: dict[str, Any] | None = None
    probes: dict[str, Any] | None = None
    remediations: dict[str, Any] | None = None
    notify: dict[str, Any] | None = None
    maintenance: list[Any] | None = None


class _Maintenance(Strict):
    maintenance: tuple[MaintenanceWindow, ...] = ()


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """$RUNBOOK_WATCHDOG_CONFIG, else the first of DEFAULT_PATHS that exists, else the last
    (./config/watchdog.yaml), absolute so that errors name the folder it was looked for in.
    Never a path inside the installed package: that is the example (`example-config`)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    found = next((p for p in DEFAULT_PATHS if p.exists()), DEFAULT_PATHS[-1])
    return Path.cwd() / found


def load_config(
    path: Path,
    *,
    probes: ProbeRegistry | None = None,
    remediations: RemediationRegistry | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read, interpolate and validate `path`; raise ConfigError listing every problem."""
    loader = _Loader(str(path), os.environ if environ is None else environ)
    raw = loader.read_yaml(path)
    probe_types = probes if probes is not None else ProbeRegistry.from_entry_points()
    rem_types = remediations if remediations is not None else \
        RemediationRegistry.from_entry_points()
    config = loader.build(path, raw, probe_types, rem_types)
    if loader.problems or config is None:
        raise ConfigError(loader.problems)
    return config


class _Loader:
    def __init__(self, file: str, environ: Mapping[str, str]) -> None:
        self.file = file
        self.environ = environ
        self.problems: list[ConfigProblem] = []
        self._env_file: dict[str, str] | None = None
        self._env_file_error: str | None = None
        self._unset: set[str] = set()  # keys with an unset ${VAR}: reported once, as that

    def problem(self, key: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.file, key, message))

    # -- reading -----------------------------------------------------------------------
    def read_yaml(self, path: Path) -> dict[str, Any]:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ConfigMissing(self.file) from exc
        except OSError as exc:
            raise ConfigError([ConfigProblem(self.file, "", f"cannot read: {exc.strerror}")]) \
                from exc
        except UnicodeDecodeError as exc:
            what = f"not UTF-8 text (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r})"
            raise ConfigError([ConfigProblem(self.file, "", what)]) from exc
        try:
            data = yamlloader.load(text)
        except yaml.YAMLError as exc:
            raise ConfigError([ConfigProblem(self.file, _yaml_where(exc), _yaml_what(exc))]) \
                from exc
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError([ConfigProblem(self.file, "", "must be a mapping of sections")])
        return data

    # -- interpolation -----------------------------------------------------------------
    def interpolate(self, value: Any, key: str) -> Any:
        if isinstance(value, dict):
            return {k: self.interpolate(v, _join(key, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [self.interpolate(v, f"{key}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            return _VAR.sub(lambda m: self._resolve(m, key), value)
        return value

    def _resolve(self, match: re.Match[str], key: str) -> str:
        name, default = match.group(1), match.group(2)
        if name is None:
            return "$"
        if name in self.environ:
            return self.environ[name]
        env_file = self._env_file or {}
        if name in env_file:
            return env_file[name]
        if default is not None:
            return default
        where = f" ({self._env_file_error})" if self._env_file_error else \
            " nor in the env_file" if self._env_file is not None else ""
        self.problem(key, f"variable ${{{name}}} is not set in the environment{where}")
        self._unset.add(key)
        return ""

    def load_env_file(self, raw_settings: Mapping[str, Any]) -> None:
        raw_path = raw_settings.get("env_file")
        if not raw_path:
            return
        path = Path(str(self.interpolate(raw_path, "watchdog.env_file")))
        try:
            values, problems = read_env_file(path)
        except FileNotFoundError:
            self._env_file_error = f"env_file {path} does not exist"
            return
        except OSError as exc:
            self._env_file_error = f"env_file {path} cannot be read: {exc.strerror}"
            return
        for line, what in problems:
            self.problem("watchdog.env_file", f"{path} line {line}: {what}")
        self._env_file = values

    # -- validation ----------------------------------------------------------------------
    def build(self, path: Path, raw: dict[str, Any], probe_types: ProbeRegistry,
              rem_types: RemediationRegistry) -> Config | None:
        root = self.validate(_RootKeys, raw, "")
        if root is None:
            return None
        settings_raw = root.watchdog if isinstance(root.watchdog, dict) else {}
        self.load_env_file(settings_raw)
        data = self.interpolate(raw, "")
        settings = self.validate(WatchdogSettings, data.get("watchdog") or {}, "watchdog")
        severity = self.validate(SeverityConfig, data.get("severity") or {}, "severity")
        probes = self.plugins(data.get("probes") or {}, "probes", ProbeCommon, probe_types)
        rems = self.plugins(data.get("remediations") or {}, "remediations", RemediationCommon,
                            rem_types)
        notify = self.validate(NotifyConfig, data.get("notify") or {}, "notify")
        windows = self.validate(_Maintenance, {"maintenance": data.get("maintenance") or []}, "")
        if settings is None or severity is None or notify is None or windows is None:
            return None
        web = self.web_config(settings.web_config_file)
        # A probe given but not loaded has had its problem reported: references to it are not.
        declared = {str(name) for name in data.get("probes") or {}} \
            if isinstance(data.get("probes"), dict) else set()
        refs = _References(probes, probe_types, frozenset(declared))
        self.cross_check(severity, probes, refs)
        self.check_reports(settings, severity, declared)
        named = {**dict.fromkeys(declared), **probes}  # a probe that did not load: no follow-on
        for key, message in notify_cross_check(notify, windows.maintenance, severity, named):
            self.problem(key, message)
        self.check_remediations(rems, refs, rem_types)
        if self.problems:
            return None
        secrets = collect_secrets([settings, notify, *(s.params for s in probes.values()),
                                   *(s.params for s in rems.values())])
        return Config(path, settings, severity, probes, rems, secrets=tuple(secrets),
                      notify=notify, maintenance=windows.maintenance, web=web)

    def web_config(self, path: Path | None) -> WebConfig | None:
        if path is None:
            return None
        web, problems = load_web_config(path)
        self.problems += problems
        return web

    def validate(self, model: type[M], data: Any, key: str,
                 allowed: list[str] | None = None) -> M | None:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for where, message in _problems(exc, key, allowed or list(model.model_fields)):
                if where not in self._unset:
                    self.problem(where, message)
            return None

    def plugins(self, section: dict[str, Any], key: str, common_model: type[Strict],
                types: Registry[Plugin]) -> dict[str, Any]:
        specs: dict[str, Any] = {}
        spec_cls: Callable[..., Any] = ProbeSpec if key == "probes" else RemediationSpec
        for name, raw in section.items():
            where = _join(key, str(name))
            if not isinstance(raw, dict):
                self.problem(where, "must be a mapping of keys")
                continue
            plugin = self.plugin_type(types, raw.get("type"), where)
            # A type may default common keys its own way (mail_dns is Sev3 by default).
            shared = {**getattr(plugin, "common_defaults", {}),
                      **{k: v for k, v in raw.items() if k in common_model.model_fields}}
            own = {k: v for k, v in raw.items() if k not in common_model.model_fields}
            common = self.validate(common_model, shared, where)
            params = None if plugin is None else self.validate(
                plugin.Params, own, where, allowed=[*common_model.model_fields,
                                                    *plugin.Params.model_fields])
            if common is not None and params is not None:
                # A type whose own keys depend on common ones says so (socketio: hold < timeout).
                for sub, problem in getattr(plugin, "config_problems", _none)(params, common):
                    self.problem(_join(where, sub), problem)
                extra = {"warnings": warning_causes(plugin)} if key == "probes" else {}
                specs[str(name)] = spec_cls(str(name), common, params, **extra)
        return specs

    def plugin_type(self, types: Registry[Plugin], name: Any, where: str) -> Plugin | None:
        if not isinstance(name, str):
            return None  # the common model reports a missing or non-string `type`
        if name not in types:
            known = ", ".join(sorted(types)) or "none installed"
            self.problem(f"{where}.type", f"unknown {types.kind} type {name!r} (known: {known})")
            return None
        return types[name]

    def cross_check(self, severity: SeverityConfig, probes: Mapping[str, ProbeSpec],
                    refs: _References) -> None:
        levels = ", ".join(severity.levels)
        for spec in probes.values():
            where = f"probes.{spec.name}"
            if spec.common.severity not in severity.levels:
                self.problem(f"{where}.severity",
                             f"unknown severity {spec.common.severity!r} (levels: {levels})")
            for i, dep in enumerate(spec.common.depends_on):
                if dep == spec.name:
                    self.problem(f"{where}.depends_on[{i}]",
                                 f"{dep!r} is not another configured probe (it is this one)")
                elif refs.unknown(dep):
                    self.problem(f"{where}.depends_on[{i}]",
                                 f"{dep!r} is not another configured probe{refs.known(dep)}")

    def check_reports(self, settings: WatchdogSettings, severity: SeverityConfig,
                      declared: set[str]) -> None:
        if USER_REPORTS in declared:
            self.problem(f"probes.{USER_REPORTS}", "this name is reserved for the incident "
                         "user reports open (watchdog.reports): name the probe otherwise")
        level = settings.reports.severity if settings.reports is not None else None
        if level is not None and level not in severity.levels:
            self.problem("watchdog.reports.severity", f"unknown severity {level!r} "
                         f"(levels: {', '.join(severity.levels)})")

    @staticmethod
    def _on_entry(entry: str, refs: _References, safe: bool) -> str | None:
        name, colon, cause = entry.partition(":")
        if refs.unknown(name):
            return f"{entry!r} names no configured probe{refs.known(name)}"
        if not colon or name not in refs.probes:
            return None
        if cause not in refs.causes(name):
            reports = ", ".join(sorted(refs.causes(name)))
            return f"probe {name!r} never reports cause {cause!r} (it reports: {reports})"
        if cause in refs.probes[name].warnings and not safe:
            return (f"{cause!r} is a warning of probe {name!r}, not an outage: a warning "
                    "never triggers an action that changes something (only a safe one, "
                    "such as evidence capture)")
        return None

    def check_remediations(self, rems: Mapping[str, RemediationSpec], refs: _References,
                           rem_types: RemediationRegistry) -> None:
        """Every probe and probe:cause a remediation names exists, or it would never fire;
        a warning cause triggers only a safe action."""
        for spec in rems.values():
            where = f"remediations.{spec.name}"
            safe = spec.common.type in rem_types and is_safe(rem_types[spec.common.type])
            for i, entry in enumerate(spec.common.on):
                problem = self._on_entry(entry, refs, safe)
                if problem:
                    self.problem(f"{where}.on[{i}]", problem)
            verify = spec.common.verify.probe
            if verify is not None and refs.unknown(verify):
                self.problem(f"{where}.verify.probe",
                             f"{verify!r} is not a configured probe{refs.known(verify)}")
            for field_name in getattr(type(spec.params), "probe_fields", ()):
                value = getattr(spec.params, field_name, None)
                named = [(field_name, value)] if isinstance(value, str) else \
                    [(f"{field_name}[{i}]", v) for i, v in enumerate(value or ())]
                for key, probe in named:
                    if refs.unknown(probe):
                        self.problem(f"{where}.{key}",
                                     f"{probe!r} is not a configured probe{refs.known(probe)}")


@dataclass(frozen=True)
class _References:
    """What names in the config may refer to: the loaded probes and their causes.

    A name given in `probes:` that did not load (its problems are already reported) is
    neither known nor unknown: references to it are not reported again."""

    probes: Mapping[str, ProbeSpec]
    types: ProbeRegistry
    declared: frozenset[str]

    def unknown(self, name: str) -> bool:
        return name not in self.probes and name not in self.declared

    def known(self, name: str) -> str:
        """A close match if there is one, else the probes there are."""
        close = difflib.get_close_matches(name, list(self.probes), n=1)
        if close:
            return f" (did you mean {close[0]!r}?)"
        return f" (probes: {', '.join(sorted(self.probes))})" if self.probes else ""

    def causes(self, name: str) -> frozenset[str]:
        spec = self.probes[name]
        probe_type = self.types[spec.type]
        configured = getattr(probe_type, "configured_causes", None)
        causes = configured(spec.params) if configured is not None else probe_type.causes
        return frozenset(causes)


def _yaml_where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _yaml_what(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    return f"invalid YAML: {problem or exc}"


def _none(*_: Any) -> tuple[tuple[str, str], ...]:
    """A plugin type without `config_problems`: its keys stand on their own."""
    return ()


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _problems(exc: ValidationError, key: str, allowed: list[str]) -> Iterator[tuple[str, str]]:
    for error in exc.errors(include_input=False, include_url=False):
        loc = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
        where = ".".join([key, *loc]) if key else ".".join(loc)
        yield where, _message(error, loc, allowed)


def _message(error: Any, loc: list[str], allowed: list[str]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(loc[-1], allowed, n=1) if len(loc) == 1 else []
        return "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind == "missing":
        return "required key is missing"
    msg = str(error["msg"])
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
