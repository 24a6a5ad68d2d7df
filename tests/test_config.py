"""Config loading: the issue's example validates; every error names file and key, all at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from probes.http import HttpParams, HttpProbe
from probes.logs import LogsProbe
from watchdog.common.errors import ConfigError
from watchdog.common.registry import DuplicatePluginError
from watchdog.pipeline.probe import ProbeRegistry
from watchdog.runtime.config import Config, load_config

EXAMPLE = """\
watchdog:
  listen: 127.0.0.1:9877
  state_dir: /var/lib/runbook-watchdog
  env_file: /opt/backend/.env          # optional; missing file is an error only if a ${VAR} needs it
severity:
  levels:
    sev1: {meaning: "Site fully down or unable to process payments", response: 15m}
    sev2: {meaning: "Major feature broken for a large share of users", response: 1h}
    sev3: {meaning: "Minor / cosmetic issue, isolated user reports", response: 24h}
    sev4: {meaning: "No user impact, hygiene item"}
  escalate: {reports: 10, within: 5m}
probes:
  backend-health:
    type: http
    url: https://amn.gg/api/health
    interval: 15s
    timeout: 5s
    severity: sev1
    fail_after: 2
    recover_after: 1
    runbook: "3.1"
remediations: {}
"""
TYPES = ProbeRegistry({"http": HttpProbe})


def write(tmp_path: Path, text: str, name: str = "watchdog.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, probes=TYPES, environ=environ or {})
    return [str(p) for p in info.value.problems]


def url(config: Config, probe: str = "backend-health") -> str:
    """The url key of an http probe, as loaded."""
    params = config.probes[probe].params
    assert isinstance(params, HttpParams)
    return params.url


def test_the_issue_example_validates_as_written(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, EXAMPLE), probes=TYPES, environ={})
    probe = config.probes["backend-health"]
    assert (probe.common.interval, probe.common.timeout, probe.common.severity) == (15, 5, "sev1")
    assert url(config) == "https://amn.gg/api/health"
    assert config.severity.levels["sev2"].response == 3600
    assert config.severity.escalate is not None and config.severity.escalate.within == 300


def test_the_bundled_config_validates(tmp_path: Path) -> None:
    bundled = Path(__file__).resolve().parent.parent / "config" / "watchdog.yaml"
    config = load_config(bundled, environ={})
    assert "backend-health" in config.probes


def test_an_unknown_key_names_file_and_key_path(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE.replace("    fail_after: 2", "    fail_aftr: 2"))
    assert problems(path) == [
        f"{path}: probes.backend-health.fail_aftr: unknown key (did you mean 'fail_after'?)"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = EXAMPLE.replace("interval: 15s", "interval: 15 parsecs") \
        .replace("fail_after: 2", "fail_after: many") \
        .replace("url: https://amn.gg/api/health", "url: ${HEALTH_URL}") \
        .replace("listen: 127.0.0.1:9877", "listen: nowhere")
    found = problems(write(tmp_path, text))
    keys = sorted(p.split(": ")[1] for p in found)
    assert keys == ["probes.backend-health.fail_after", "probes.backend-health.interval",
                    "probes.backend-health.url", "watchdog.listen"]
    assert any("'15 parsecs' is not a duration" in p for p in found)
    assert any("valid integer" in p for p in found)
    assert any("${HEALTH_URL} is not set" in p and "env_file /opt/backend/.env does not exist" in p
               for p in found)


def test_variables_come_from_the_environment_then_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "backend.env"
    env_file.write_text("# the backend's .env\nHEALTH_URL=http://from-file/health\n"
                        "export OTHER='x y'\n")
    text = EXAMPLE.replace("/opt/backend/.env", str(env_file)) \
        .replace("https://amn.gg/api/health", "${HEALTH_URL}")
    path = write(tmp_path, text)
    from_file = load_config(path, probes=TYPES, environ={})
    from_env = load_config(path, probes=TYPES, environ={"HEALTH_URL": "http://from-env/h"})
    assert url(from_file) == "http://from-file/health"
    assert url(from_env) == "http://from-env/h"


def test_defaults_and_dollar_escapes(tmp_path: Path) -> None:
    text = EXAMPLE.replace("https://amn.gg/api/health", "${NOPE:-http://fallback}/$$x")
    config = load_config(write(tmp_path, text), probes=TYPES, environ={})
    assert url(config) == "http://fallback/$x"


def test_timeout_must_be_less_than_interval(tmp_path: Path) -> None:
    found = problems(write(tmp_path, EXAMPLE.replace("timeout: 5s", "timeout: 20s")))
    assert len(found) == 1 and "probes.backend-health: timeout (20s)" in found[0]


def test_unknown_type_and_severity(tmp_path: Path) -> None:
    text = EXAMPLE.replace("type: http", "type: htp").replace("severity: sev1\n", "severity: p1\n")
    found = problems(write(tmp_path, text))
    assert any("probes.backend-health.type: unknown probe type 'htp' (known: http)" in p
               for p in found)


def test_unknown_severity_names_the_levels(tmp_path: Path) -> None:
    found = problems(write(tmp_path, EXAMPLE.replace("severity: sev1\n", "severity: p1\n")))
    assert found == [f"{tmp_path / 'watchdog.yaml'}: probes.backend-health.severity: "
                     "unknown severity 'p1' (levels: sev1, sev2, sev3, sev4)"]


def test_depends_on_must_name_another_probe(tmp_path: Path) -> None:
    text = EXAMPLE.replace('runbook: "3.1"', 'runbook: "3.1"\n    depends_on: [mongo]')
    assert problems(write(tmp_path, text)) == [
        f"{tmp_path / 'watchdog.yaml'}: probes.backend-health.depends_on[0]: 'mongo' is not "
        "another configured probe (probes: backend-health)"]


WEB = """\
probes:
  web: {type: http, url: "http://127.0.0.1:9/"%s}
  api: {type: http, url: "http://127.0.0.1:9/api"}
remediations:
"""
HTTP_CAUSES = ("bad_body, bad_redirect, bad_status, cert_expiring, connect_error, dns, ok, "
               "refused, slow, timeout, tls_error")


def rem_problems(tmp_path: Path, remediations: str, web: str = "") -> list[str]:
    path = write(tmp_path, WEB % web + textwrap.indent(textwrap.dedent(remediations), "  "))
    return [p.removeprefix(f"{path}: ") for p in problems(path)]


def test_a_cause_the_probe_never_reports_is_an_error(tmp_path: Path) -> None:
    assert rem_problems(tmp_path, """\
        evidence: {type: capture_evidence, on: [api, "web:bad_status", "web:bad_statuss"]}
        """) == [f"remediations.evidence.on[2]: probe 'web' never reports cause 'bad_statuss' "
                 f"(it reports: {HTTP_CAUSES})"]


def test_an_unknown_probe_in_on_is_an_error(tmp_path: Path) -> None:
    assert rem_problems(tmp_path, """\
        evidence: {type: capture_evidence, on: [web, "wbe:refused"]}
        """) == ["remediations.evidence.on[1]: 'wbe:refused' names no configured probe "
                 "(did you mean 'web'?)"]


def test_an_unknown_verify_probe_is_an_error(tmp_path: Path) -> None:
    assert rem_problems(tmp_path, """\
        evidence: {type: capture_evidence, on: [web], verify: {probe: nope}}
        """) == ["remediations.evidence.verify.probe: 'nope' is not a configured probe "
                 "(probes: api, web)"]


def test_an_unknown_probe_named_in_an_actions_params_is_an_error(tmp_path: Path) -> None:
    """Found through the Params' `probe_fields`, whatever the action type."""
    assert rem_problems(tmp_path, """\
        redis-eviction: {type: redis_eviction_policy, on: [web], probe: nope}
        """) == ["remediations.redis-eviction.probe: 'nope' is not a configured probe "
                 "(probes: api, web)"]


def test_a_probe_that_failed_to_load_is_one_error_not_one_per_reference(
        tmp_path: Path) -> None:
    """web's own problem is reported; what refers to web is not reported again."""
    assert rem_problems(tmp_path, """\
        evidence: {type: capture_evidence, on: [web, "web:refused"], verify: {probe: web}}
        redis-eviction: {type: redis_eviction_policy, on: [web], probe: web}
        """, web=", intervl: 30s") == [
            "probes.web.intervl: unknown key (did you mean 'interval'?)"]
    text = EXAMPLE.replace('runbook: "3.1"', 'runbook: "3.1"\n    depends_on: [mongo]\n'
                           '  mongo: {type: mongodb}')
    text += ("maintenance:\n  - {name: w, cron: '* * * * *', duration: 1h, "
             "probes: [mongo, nope]}\n")
    assert [p.split(": ", 1)[1] for p in problems(write(tmp_path, text))] == [
        "probes.mongo.type: unknown probe type 'mongodb' (known: http)",
        "maintenance.0.probes: 'nope' is not a configured probe"]


def test_the_logs_probes_own_rules_add_to_its_causes(tmp_path: Path) -> None:
    registry = ProbeRegistry({"logs": LogsProbe})
    path = write(tmp_path, """\
        probes:
          backend-logs:
            type: logs
            container: backend
            rules: [{pattern: "boom", cause: boom, severity: sev1}]
        remediations:
          evidence: {type: capture_evidence, on: ["backend-logs:boom", "backend-logs:bom"]}
        """)
    with pytest.raises(ConfigError) as info:
        load_config(path, probes=registry, environ={})
    assert [p.key for p in info.value.problems] == ["remediations.evidence.on[1]"]
    assert "(it reports: boom, docker_error" in info.value.problems[0].message


def test_wrong_type_for_a_section(tmp_path: Path) -> None:
    found = problems(write(tmp_path, "probes: [a, b]\n"))
    assert found == [f"{tmp_path / 'watchdog.yaml'}: probes: Input should be a valid dictionary"]


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    found = problems(write(tmp_path, "watchdog:\n  listen: [oops\n"))
    assert len(found) == 1 and "line 3" in found[0] and "invalid YAML" in found[0]


def test_a_key_given_twice_is_an_error(tmp_path: Path) -> None:
    found = problems(write(tmp_path, "watchdog: {}\nwatchdog: {}\n"))
    assert "key 'watchdog' appears twice" in found[0]


def test_a_missing_file_names_it(tmp_path: Path) -> None:
    found = problems(tmp_path / "absent.yaml")
    assert found == [f"{tmp_path / 'absent.yaml'}: <top level>: cannot read: "
                     "No such file or directory"]


def test_secrets_are_collected_for_the_scrubber(tmp_path: Path) -> None:
    text = EXAMPLE.replace("url: https://amn.gg/api/health",
                           "url: https://u:pw-in-url@amn.gg/api/health\n"
                           "    secret_headers: {X-Api-Key: '${KEY}'}")
    config = load_config(write(tmp_path, text), probes=TYPES, environ={"KEY": "k-secret"})
    assert set(config.secrets) >= {"pw-in-url", "k-secret"}


def test_a_duplicate_plugin_name_is_rejected() -> None:
    registry = ProbeRegistry({"http": HttpProbe})
    with pytest.raises(DuplicatePluginError, match="'http'"):
        registry.register("http", object)


def test_entry_points_provide_the_http_probe() -> None:
    assert ProbeRegistry.from_entry_points()["http"] is HttpProbe


def test_user_reports_reserve_their_incidents_name_and_take_a_known_severity(
        tmp_path: Path) -> None:
    text = EXAMPLE.replace("backend-health:", "user-reports:").replace(
        "  env_file:", "  reports: {token_file: /etc/t, severity: p3}\n  env_file:")
    path = write(tmp_path, text)
    assert problems(path) == [
        f"{path}: probes.user-reports: this name is reserved for the incident user reports "
        "open (watchdog.reports): name the probe otherwise",
        f"{path}: watchdog.reports.severity: unknown severity 'p3' "
        "(levels: sev1, sev2, sev3, sev4)"]


def test_a_warning_cause_triggers_only_a_safe_action(tmp_path: Path) -> None:
    """Issue 14 item 3: `web:slow` on a restart is an error naming the key; evidence
    capture (safe) may name a warning."""
    assert rem_problems(tmp_path, """\
        evidence: {type: capture_evidence, on: ["web:cert_expiring"]}
        restart-web: {type: restart_container, container: web, on: [web, "web:slow"]}
        """) == ["remediations.restart-web.on[1]: 'slow' is a warning of probe 'web', not an "
                 "outage: a warning never triggers an action that changes something (only a "
                 "safe one, such as evidence capture)"]
