"""Stage 5 of the pipeline, remediation: what the service's sandbox must grant the actions.

The shipped unit (systemd/runbook-watchdog.service) leaves the whole file system read-only
except its state directory (`ProtectSystem=strict`, `StateDirectory=`) and grants no
capability. An action type that needs more says so from its params (`sandbox_needs`), as
data; the core never lists action types:

- `needs_of(config)`: what the enabled remediations (mode not `off`) and the watchdog's
  own state need; `render_drop_in` turns it into the systemd drop-in that
  `runbook-watchdog unit-drop-in` prints and scripts/install.sh installs as `DROP_IN`;
- `read_unit(unit)`: what an installed unit and its `*.d/*.conf` drop-ins grant;
  `missing(needs, grants)`: what `runbook-watchdog validate` warns about;
- `NotPermitted`: at run time, a path an action cannot write (EROFS, EACCES, EPERM) or a
  capability the process lacks is a refusal, "refused: not permitted by the service's
  sandbox", never a failure to retry; `self_check` says at start what will be refused.
"""

from __future__ import annotations

import errno
import os
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal, Protocol, runtime_checkable

from watchdog.common.errors import WatchdogError
from watchdog.remediation.contract import ActionRefused
from watchdog.runtime.config import Config
from watchdog.runtime.config_models import WatchdogSettings

UNIT_NAME = "runbook-watchdog.service"
INSTALLED_UNIT = Path("/etc/systemd/system") / UNIT_NAME
DROP_IN = Path(f"{INSTALLED_UNIT}.d") / "50-remediations.conf"
# What the shipped unit's StateDirectory=runbook-watchdog makes writable.
UNIT_STATE_DIRECTORY = Path("/var/lib/runbook-watchdog")
SANDBOX_REFUSAL = "not permitted by the service's sandbox"
_DENIED = (errno.EROFS, errno.EACCES, errno.EPERM)

Kind = Literal["path", "capability", "address family"]


@dataclass(frozen=True)
class SandboxNeeds:
    """What one action needs beyond the shipped unit, and why (one line, for people)."""

    writes: tuple[Path, ...] = ()  # directories it writes in (ReadWritePaths=)
    creates: tuple[Path, ...] = ()  # directories it owns: created at install, then written
    capabilities: tuple[str, ...] = ()  # CAP_* (CapabilityBoundingSet=, AmbientCapabilities=)
    address_families: tuple[str, ...] = ()  # AF_* beyond AF_UNIX AF_INET AF_INET6
    why: str = ""


@runtime_checkable
class DeclaresNeeds(Protocol):
    """An action's params that declare sandbox needs (the others need nothing)."""

    def sandbox_needs(self, settings: WatchdogSettings) -> SandboxNeeds: ...


@dataclass(frozen=True)
class Need:
    """One grant one remediation needs: a writable path, a capability or an address family."""

    remediation: str  # "watchdog" for the daemon's own state
    type: str
    kind: Kind
    value: str
    why: str
    created: bool = False  # a directory the watchdog owns (install.sh creates it)


class UnitPathError(WatchdogError):
    """A configured path that a unit file cannot carry (a control character, a quote)."""


class NotPermitted(ActionRefused):
    """The sandbox (or the file system) does not let the action write `path`, or the
    process lacks a capability (`path` is then None)."""

    def __init__(self, path: Path | None, reason: str) -> None:
        where = f"cannot write {path}: " if path is not None else ""
        super().__init__(f"{SANDBOX_REFUSAL}: {where}{reason}")
        self.path = path


# Linux capability numbers (include/uapi/linux/capability.h), for /proc/self/status.
CAPABILITY_NUMBERS = {name: number for number, name in enumerate((
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"))}


# -- at run time --------------------------------------------------------------------------
def refusal(exc: OSError, path: Path) -> NotPermitted | None:
    """A NotPermitted for a write that failed with EROFS, EACCES or EPERM; else None."""
    if exc.errno not in _DENIED:
        return None
    name = errno.errorcode.get(exc.errno or 0, "?")
    # `path` (what the action writes), not exc.filename: that may be a temporary file's name.
    return NotPermitted(path, f"{exc.strerror or os.strerror(exc.errno or 0)} ({name})")


def effective_capabilities(status: Path = Path("/proc/self/status")) -> frozenset[str]:
    """The capabilities this process may use now (CapEff), by name; all of them when that
    cannot be read (nothing is refused on a guess)."""
    try:
        text = status.read_text()
    except OSError:
        return frozenset(CAPABILITY_NUMBERS)
    for line in text.splitlines():
        if line.startswith("CapEff:"):
            bits = int(line.split()[1], 16)
            return frozenset(n for n, i in CAPABILITY_NUMBERS.items() if bits >> i & 1)
    return frozenset()


def require_capabilities(names: Sequence[str]) -> None:
    """Raise NotPermitted unless the process holds every capability in `names`; what the
    programs it runs get too (the unit passes them on as ambient capabilities)."""
    lacking = sorted(set(names) - effective_capabilities())
    if lacking:
        raise NotPermitted(None, f"{' '.join(lacking)} not among the process's capabilities "
                                 "(CapabilityBoundingSet=, AmbientCapabilities=)")


def writable(path: Path) -> bool:
    """access(2) with the effective IDs and capabilities (CAP_DAC_OVERRIDE counts): with the
    real IDs, the kernel drops the capabilities of a process that is not root."""
    return os.access(path, os.W_OK | os.X_OK if path.is_dir() else os.W_OK,
                     effective_ids=os.access in os.supports_effective_ids)


def require_writable(directory: Path) -> None:
    """Raise NotPermitted unless files can be created in `directory` (or, when it does not
    exist yet, in its nearest existing ancestor). Writes nothing: dry-run uses it too."""
    here = directory
    while not here.exists() and here.parent != here:
        here = here.parent
    if not here.is_dir():
        return  # a file in the way is not the sandbox: the write reports what it is
    if not writable(here):
        # access(2) reports a read-only mount as EROFS, but returns only True/False.
        reason = "Read-only file system (EROFS)" if _read_only_mount(here) \
            else f"{here} is not writable by uid {os.geteuid()} (access(2))"
        raise NotPermitted(directory, reason)


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


# -- what the config needs ----------------------------------------------------------------
def needs_of(config: Config) -> list[Need]:
    """Every grant the enabled remediations and the watchdog's own state need."""
    found = list(_own_needs(config.watchdog))
    for name, spec in config.remediations.items():
        if spec.common.mode == "off":
            continue
        if not isinstance(spec.params, DeclaresNeeds):
            continue
        needs = spec.params.sandbox_needs(config.watchdog)
        kind_values: list[tuple[Kind, str, bool]] = [
            *(("path", _abs(p), False) for p in needs.writes),
            *(("path", _abs(p), True) for p in needs.creates),
            *(("capability", c, False) for c in needs.capabilities),
            *(("address family", a, False) for a in needs.address_families)]
        found += [Need(name, spec.common.type, kind, value, needs.why, created)
                  for kind, value, created in kind_values]
    return found


def self_check(needs: Sequence[Need]) -> list[str]:
    """What this process, in its sandbox, cannot do of what `needs` says: one line each."""
    problems = []
    held = effective_capabilities()
    for need in needs:
        if need.kind == "capability" and need.value not in held:
            problems.append(f"remediation {need.remediation} ({need.type}) needs "
                            f"{need.value}, which this process does not hold")
        elif need.kind == "path":
            try:
                require_writable(Path(need.value))
            except NotPermitted as exc:
                problems.append(f"remediation {need.remediation} ({need.type}): {exc}")
    return [f"{p}: it will be refused; grant it with `runbook-watchdog unit-drop-in` "
            "(docs/install.md)" for p in problems]


def _own_needs(settings: WatchdogSettings) -> Iterable[Need]:
    yield Need("watchdog", "state", "path", _abs(settings.state_dir),
               "the state database, the audit file, post-mortem drafts", created=True)
    if settings.audit_file is not None:
        yield Need("watchdog", "state", "path", _abs(settings.audit_file.parent),
                   "the audit file (watchdog.audit_file)")


def _abs(path: Path) -> str:
    return os.path.normpath(os.path.join("/", str(path)))


def _within(path: str, directory: str) -> bool:
    return PurePosixPath(path).is_relative_to(directory)


def owned_dirs(needs: Sequence[Need]) -> list[str]:
    """Directories the watchdog owns and install.sh creates (the evidence directory)."""
    return sorted({n.value for n in needs if n.kind == "path" and n.created
                   and n.remediation != "watchdog"})


def render_drop_in(config: Config, needs: Sequence[Need], exe: str = "runbook-watchdog") -> str:
    """The `[Service]` drop-in that grants `needs` beyond the shipped unit, commented."""
    source = _comment(str(config.path.absolute()))
    lines = [f"# Generated by `{exe} unit-drop-in --config {source}`:",
             "# what the remediations enabled there (mode not off) need beyond the shipped",
             "# unit. After editing the config, regenerate it and restart:",
             f"#   {exe} unit-drop-in --config {source} > {DROP_IN}",
             "#   systemctl daemon-reload && systemctl restart runbook-watchdog",
             "[Service]"]
    paths, granted = _paths(needs)
    for need in needs:
        if need.kind != "path":
            continue
        note = "inside StateDirectory=, already writable" if need.value in granted \
            else f"ReadWritePaths={_covering(need.value, paths)}"
        lines.append(_comment(f"# {need.remediation} ({need.type}): {need.value}: {need.why} "
                              f"({note})"))
    # `-`: a directory that is missing when the service starts is skipped, not fatal; the
    # action then refuses ("not permitted by the service's sandbox") instead.
    lines += [f"ReadWritePaths={_unit_path(path)}" for path in paths]
    caps = _values(needs, "capability")
    families = _values(needs, "address family")
    for need in needs:
        if need.kind != "path":
            lines.append(_comment(f"# {need.remediation} ({need.type}): {need.value}: "
                                  f"{need.why}"))
    if caps:
        lines += [f"CapabilityBoundingSet={' '.join(caps)}",
                  f"AmbientCapabilities={' '.join(caps)}"]
    if families:
        lines.append(f"RestrictAddressFamilies={' '.join(families)}")
    if not (paths or caps or families):
        lines.append("# Nothing: the enabled remediations need no more than the unit grants.")
    return "\n".join(lines) + "\n"


def _comment(text: str) -> str:
    """One comment line, whatever names it quotes (a newline would start a directive)."""
    return "".join("?" if _control(c) else c for c in text)


def _control(char: str) -> bool:
    """C0 and C1 controls and Unicode line separators: what could end a line."""
    code = ord(char)
    return code < 32 or 127 <= code < 160 or char in "\u2028\u2029"


def _unit_path(path: str) -> str:
    """`-PATH` as a unit file wants it: `%` escaped, quoted when it holds a space."""
    if any(_control(c) or c in "\"'\\" for c in path):
        raise UnitPathError(f"{path!r}: a path with a control character, a quote or a "
                            "backslash cannot be granted in a unit file; rename it")
    word = "-" + path.replace("%", "%%")
    return f'"{word}"' if any(c.isspace() for c in path) else word


def _paths(needs: Sequence[Need]) -> tuple[list[str], set[str]]:
    """(the minimal ReadWritePaths= list, the paths already under the state directory)."""
    state = str(UNIT_STATE_DIRECTORY)
    wanted = sorted({n.value for n in needs if n.kind == "path"})
    granted = {p for p in wanted if _within(p, state)}
    rest = [p for p in wanted if p not in granted]
    return [p for p in rest if not any(q != p and _within(p, q) for q in rest)], granted


def _covering(path: str, paths: Sequence[str]) -> str:
    return next((p for p in paths if _within(path, p)), path)


def _values(needs: Sequence[Need], kind: Kind) -> list[str]:
    return sorted({n.value for n in needs if n.kind == kind})


# -- what an installed unit grants ----------------------------------------------------------
@dataclass(frozen=True)
class CapSet:
    """A capability set as systemd builds it: `only` these, or all `except` these."""

    names: frozenset[str]
    inverted: bool  # True: every capability except `names`

    def __contains__(self, name: object) -> bool:
        return (name in self.names) != self.inverted

    def assign(self, value: str, initial: bool) -> CapSet:
        """The set after one `Key=value` line (`initial`: the key was not set before)."""
        words = value.split()
        if not words:
            return CapSet(frozenset(), False)
        inverted = words[0].startswith("~")
        named = frozenset(w.lstrip("~") for w in words)
        if not inverted:
            if initial:
                return CapSet(named, False)
            return CapSet(self.names | named, False) if not self.inverted \
                else CapSet(self.names - named, True)
        if initial:
            return CapSet(named, True)
        return CapSet(named - self.names, True) if not self.inverted \
            else CapSet(self.names & named, True)


ALL = CapSet(frozenset(), True)
NONE = CapSet(frozenset(), False)
_DIRECTORIES = {"StateDirectory": "/var/lib", "CacheDirectory": "/var/cache",
                "LogsDirectory": "/var/log", "RuntimeDirectory": "/run"}
_RO_SYSTEM = {"yes": ("/usr", "/boot", "/efi"), "true": ("/usr", "/boot", "/efi"),
              "full": ("/usr", "/boot", "/efi", "/etc"), "strict": ("/",)}


@dataclass(frozen=True)
class UnitGrants:
    """What a unit file plus its drop-ins grant, read the way systemd merges them."""

    files: tuple[Path, ...]
    rules: tuple[tuple[str, bool], ...]  # (path, writable), later ones win a tie
    bounding: CapSet
    ambient: CapSet
    root: bool  # User= unset or root: capabilities need no AmbientCapabilities=
    families: CapSet  # address families, as a set of names

    def writable(self, path: str) -> bool:
        best: tuple[int, bool] | None = None
        for rule, writable in self.rules:
            if _within(path, rule) and (best is None or len(rule) >= best[0]):
                best = (len(rule), writable)
        return True if best is None else best[1]

    def has_capability(self, name: str) -> bool:
        return name in self.bounding and (self.root or name in self.ambient)

    def has_family(self, name: str) -> bool:
        return name in self.families

    def grants(self, need: Need) -> bool:
        if need.kind == "path":
            return self.writable(need.value)
        if need.kind == "capability":
            return self.has_capability(need.value)
        return self.has_family(need.value)


def unit_files(unit: Path, drop_in_dirs: Sequence[Path] | None = None) -> list[Path]:
    """The unit, then its drop-ins (`UNIT.d/*.conf`) in the order systemd applies them."""
    dirs = drop_in_dirs if drop_in_dirs is not None else [unit.with_name(f"{unit.name}.d")]
    confs: dict[str, Path] = {}
    for directory in dirs:
        for conf in sorted(directory.glob("*.conf")) if directory.is_dir() else ():
            confs.setdefault(conf.name, conf)  # an earlier directory masks the same name
    return [unit, *(confs[name] for name in sorted(confs))]


def read_unit(unit: Path, drop_in_dirs: Sequence[Path] | None = None) -> UnitGrants:
    """What `unit` and its drop-ins grant: writable paths, capabilities, address families."""
    files = unit_files(unit, drop_in_dirs)
    settings: list[tuple[str, str]] = []
    for file in files:
        settings += _service_settings(file.read_text(encoding="utf-8"))
    bounding, ambient, families = _capability_sets(settings)
    users = [value.strip() for key, value in settings if key == "User"]
    return UnitGrants(tuple(files), tuple(_path_rules(settings)), bounding, ambient,
                      (users or [""])[-1] in ("", "root", "0"), families)


def _path_rules(settings: Sequence[tuple[str, str]]) -> list[tuple[str, bool]]:
    """(path, writable) rules: the ProtectSystem=/ProtectHome= base, then the explicit ones."""
    protect, home = "no", "no"
    writable: list[str] = []
    read_only: list[str] = []
    directories: list[str] = []
    for key, value in settings:
        if key == "ProtectSystem":
            protect = value.strip().lower()
        elif key == "ProtectHome":
            home = value.strip().lower()
        elif key == "ReadWritePaths":  # an empty assignment resets the list
            writable = writable + _path_list(value) if value.strip() else []
        elif key in ("ReadOnlyPaths", "InaccessiblePaths"):
            read_only = read_only + _path_list(value) if value.strip() else []
        elif key in _DIRECTORIES:
            directories += [f"{_DIRECTORIES[key]}/{d}" for d in value.split()]
        elif key == "PrivateTmp" and _yes(value):
            directories += ["/tmp", "/var/tmp"]  # noqa: S108 - the unit's private ones
    rules = [(p, False) for p in _RO_SYSTEM.get(protect, ())]
    if home in ("yes", "true", "read-only", "tmpfs"):
        rules += [(p, False) for p in ("/home", "/root", "/run/user")]
    return rules + [(p, False) for p in read_only] + [(p, True) for p in directories + writable]


def _capability_sets(settings: Sequence[tuple[str, str]]) -> tuple[CapSet, CapSet, CapSet]:
    """(bounding set, ambient set, address families), each merged over its lines."""
    bounding, ambient, families = ALL, NONE, ALL
    seen: set[str] = set()
    for key, value in settings:
        if key == "CapabilityBoundingSet":
            bounding = bounding.assign(value, key not in seen)
        elif key == "AmbientCapabilities":
            ambient = ambient.assign(value, key not in seen)
        elif key == "RestrictAddressFamilies":
            families = _families(families, value, key in seen)
        seen.add(key)
    return bounding, ambient, families


def _families(current: CapSet, value: str, seen: bool) -> CapSet:
    """RestrictAddressFamilies=: an allow list, or `~` a deny list; later lines refine it."""
    words = value.split()
    if not words:
        return ALL  # reset: no restriction
    if words == ["none"]:
        return NONE
    deny = words[0].startswith("~")
    named = frozenset(w.lstrip("~") for w in words)
    if not seen:
        return CapSet(named, deny)
    if deny:
        return CapSet(current.names | named, True) if current.inverted \
            else CapSet(current.names - named, False)
    return CapSet(current.names - named, True) if current.inverted \
        else CapSet(current.names | named, False)


def _service_settings(text: str) -> list[tuple[str, str]]:
    """(key, value) of the `[Service]` section, continuation lines joined."""
    found, section, pending = [], "", ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, sep, value = line.partition("=")
        if section == "Service" and sep:
            found.append((key.strip(), value.strip()))
    return found


def _path_list(value: str) -> list[str]:
    try:
        words = shlex.split(value)
    except ValueError:  # an unbalanced quote: systemd ignores the line too
        return []
    paths = []
    for word in words:
        word = word.lstrip("-+").replace("%%", "%")
        if word.startswith("/"):
            paths.append(os.path.normpath(word))
    return paths


def _yes(value: str) -> bool:
    return value.strip().lower() in ("yes", "true", "1", "on")


# -- comparing ------------------------------------------------------------------------------
_GRANTED_BY = {"path": "ReadWritePaths=", "capability": "CapabilityBoundingSet= and "
               "AmbientCapabilities=", "address family": "RestrictAddressFamilies="}


def missing(needs: Sequence[Need], grants: UnitGrants) -> list[Need]:
    return [need for need in needs if not grants.grants(need)]


def warning(need: Need, unit: Path, config: Path, exe: str = "runbook-watchdog") -> str:
    """One line naming the action, what it needs, and how to grant it."""
    who = "the watchdog's state" if need.remediation == "watchdog" \
        else f"remediation {need.remediation} ({need.type})"
    verb = "writes in" if need.kind == "path" else f"needs the {need.kind}"
    return (f"warning: {who} {verb} {need.value}, which {unit} does not grant "
            f"({_GRANTED_BY[need.kind]}); regenerate the drop-in: {exe} "
            f"unit-drop-in --config {config.absolute()} > {_drop_in_for(unit)} && systemctl "
            "daemon-reload && systemctl restart runbook-watchdog")


def _drop_in_for(unit: Path) -> Path:
    return unit.with_name(f"{unit.name}.d") / DROP_IN.name

