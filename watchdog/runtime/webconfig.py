"""The HTTP listener's access: the Prometheus exporter-toolkit web config file.

`watchdog.web_config_file` names a file in the format every Prometheus exporter reads
(https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md):

    tls_server_config:
      cert_file: server.crt          # relative paths: to the web config file's folder
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
      client_ca_file: clients.crt
      min_version: TLS12             # optional; max_version too
    basic_auth_users:
      prometheus: $2b$12$...         # bcrypt hashes (`htpasswd -nBC 12 prometheus`)

It is read with the config (so `validate` checks it: file, key, problem) and again on
SIGHUP. TLS covers every path; basic auth covers /metrics, /api/status and the page
(/healthz says only "ok" or why not, for probes of liveness that hold no password).
bcrypt is slow by design (tens of milliseconds a check): results are cached by a digest of
hash and password, as the exporter-toolkit does, so a scrape every few seconds costs one
bcrypt computation, not one per scrape.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, Field, ValidationError

from watchdog.common.errors import ConfigProblem
from watchdog.runtime import yamlloader
from watchdog.runtime.config_models import Strict

_BCRYPT = re.compile(r"^\$2[aby]?\$\d\d\$[./A-Za-z0-9]{53}$")
_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
             "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
# client_auth_type -> how Python's TLS asks for a client certificate. Go's RequestClientCert
# and RequireAnyClientCert accept a certificate without verifying it: OpenSSL cannot.
_CLIENT_AUTH = {"NoClientCert": ssl.CERT_NONE, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
                "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
CACHE_SIZE = 1024


def _bcrypt_hash(value: str) -> str:
    if not _BCRYPT.match(value):
        raise ValueError("not a bcrypt hash ($2b$COST$ and 53 characters; make one with "
                         "`htpasswd -nBC 12 USER`)")
    return value


Version = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
BcryptHash = Annotated[str, AfterValidator(_bcrypt_hash)]


class TlsServerConfig(Strict):
    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: Version = "TLS12"
    max_version: Version | None = None


class WebConfigFile(Strict):
    tls_server_config: TlsServerConfig | None = None
    basic_auth_users: dict[str, BcryptHash] = Field(default_factory=dict)


@dataclass(frozen=True)
class WebConfig:
    """What the listener applies: a TLS context (or plain HTTP) and the users' hashes."""

    path: Path
    tls: ssl.SSLContext | None
    auth: BasicAuth | None
    cert_file: Path | None = None  # the certificate served, for the CLI's `status` to trust

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"


@dataclass
class BasicAuth:
    """Checks `Authorization: Basic …` against bcrypt hashes, caching each result."""

    users: Mapping[str, bytes]
    _cache: dict[bytes, bool] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def allows(self, header: str | None) -> bool:
        credentials = _credentials(header)
        if credentials is None:
            return False
        user, password = credentials
        hashed = self.users.get(user)
        key = hashlib.sha256(b"%s\0%s\0%s" % (user.encode(), hashed or b"", password)).digest()
        with self._lock:
            known = self._cache.get(key)
        if known is None:
            import bcrypt  # here, not at the top: only a config with basic auth loads it

            # An unknown user costs a bcrypt check too: timing does not tell names apart.
            known = bcrypt.checkpw(password, hashed or _unknown_user_hash()) and \
                hashed is not None
            with self._lock:
                if len(self._cache) >= CACHE_SIZE:
                    self._cache.clear()
                self._cache[key] = known
        return known


_DUMMY: list[bytes] = []


def _unknown_user_hash() -> bytes:
    import bcrypt

    if not _DUMMY:
        _DUMMY.append(bcrypt.hashpw(b"no such user", bcrypt.gensalt(12)))
    return _DUMMY[0]


def _credentials(header: str | None) -> tuple[str, bytes] | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    return (user.decode("utf-8", "replace"), password) if sep else None


def load_web_config(path: Path) -> tuple[WebConfig | None, list[ConfigProblem]]:
    """Read and check the web config file; problems name it, the key and what is wrong."""
    where = str(path)
    try:
        raw = yamlloader.load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        return None, [ConfigProblem(where, "", f"cannot read the web config file "
                                    f"(watchdog.web_config_file): {exc.strerror}")]
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return None, [ConfigProblem(where, "", f"invalid YAML: {exc}")]
    try:
        model = WebConfigFile.model_validate(raw)
    except ValidationError as exc:
        return None, [ConfigProblem(where, ".".join(str(p) for p in e["loc"]),
                                    _message(e["type"], str(e["msg"]), len(e["loc"])))
                      for e in exc.errors(include_input=False, include_url=False)]
    tls, problems = _tls(model.tls_server_config, path.parent, where)
    users = {u: h.encode() for u, h in model.basic_auth_users.items()}
    cert = model.tls_server_config.cert_file if model.tls_server_config else None
    web = WebConfig(path, tls, BasicAuth(users) if users else None,
                    path.parent / cert if cert else None)
    return (None if problems else web), problems


def _message(kind: str, msg: str, depth: int) -> str:
    if kind == "extra_forbidden" and depth == 1:
        return "unknown key (runbook-watchdog reads tls_server_config and basic_auth_users)"
    if kind == "extra_forbidden":
        return "not supported by runbook-watchdog (docs/install.md lists what is)"
    if kind == "missing":
        return "required key is missing"
    return msg.removeprefix("Value error, ")


def _tls(config: TlsServerConfig | None, base: Path,
         where: str) -> tuple[ssl.SSLContext | None, list[ConfigProblem]]:
    if config is None:
        return None, []
    key = "tls_server_config"
    mode = _CLIENT_AUTH.get(config.client_auth_type)
    if mode is None:
        return None, [ConfigProblem(where, f"{key}.client_auth_type", (
            f"{config.client_auth_type!r} is not supported (supported: "
            f"{', '.join(_CLIENT_AUTH)}): Python's TLS verifies every client certificate "
            "it asks for"))]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[config.min_version]
    if config.max_version is not None:
        context.maximum_version = _VERSIONS[config.max_version]
    try:
        context.load_cert_chain(base / config.cert_file, base / config.key_file)
    except OSError as exc:  # ssl.SSLError included
        return None, [ConfigProblem(where, f"{key}.cert_file", "cannot load the certificate "
                                    f"{base / config.cert_file} with its key "
                                    f"{base / config.key_file}: {_why(exc)}")]
    return _client_auth(context, mode, config, base, where)


def _client_auth(context: ssl.SSLContext, mode: ssl.VerifyMode, config: TlsServerConfig,
                 base: Path, where: str) -> tuple[ssl.SSLContext | None, list[ConfigProblem]]:
    key = "tls_server_config.client_ca_file"
    if mode is ssl.CERT_NONE:
        return context, []
    if config.client_ca_file is None:
        return None, [ConfigProblem(where, key, f"required with client_auth_type "
                                    f"{config.client_auth_type}")]
    try:
        context.load_verify_locations(cafile=base / config.client_ca_file)
    except OSError as exc:  # ssl.SSLError included
        return None, [ConfigProblem(where, key, f"cannot load {base / config.client_ca_file}: "
                                    f"{_why(exc)}")]
    context.verify_mode = mode
    return context, []


def _why(exc: OSError) -> str:
    if isinstance(exc, ssl.SSLError):
        return "not a PEM certificate and its matching key"  # OpenSSL says only "PEM lib"
    return str(exc.strerror or exc)
