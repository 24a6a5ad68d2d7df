#!/usr/bin/env bash
# Installs, upgrades or uninstalls runbook-watchdog as a systemd service. Idempotent: run it
# again to upgrade (the venv is updated in place, an edited config is never overwritten).
#
#   scripts/install.sh [install|upgrade|uninstall] [--purge] [--root DIR] [--prefix DIR]
#
#   install, upgrade  dedicated venv under PREFIX (default /opt/runbook-watchdog), config in
#                     /etc/runbook-watchdog, state in /var/lib/runbook-watchdog, the unit in
#                     /etc/systemd/system and, generated from the config, its sandbox
#                     drop-in (runbook-watchdog.service.d/50-remediations.conf: what the
#                     enabled remediations may write and do) and the evidence directory;
#                     restarts the service if it is running
#   uninstall         stops and disables the service, removes the venv, the unit and its
#                     drop-in; keeps config and state unless --purge
#   --root DIR        install into DIR instead of / (packaging, tests): no user is created,
#                     no file changes owner and systemctl is not called
# See docs/install.md.
set -euo pipefail

ACTION=install ROOT=/ PREFIX=/opt/runbook-watchdog PURGE=0
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAME=runbook-watchdog
PYTHON=${PYTHON:-python3}

while (($#)); do
  case "$1" in
    install|upgrade|uninstall) ACTION=$1 ;;
    --purge) PURGE=1 ;;
    --root) ROOT=${2:?--root needs a directory}; shift ;;
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

ROOT=${ROOT%/}
VENV="$ROOT$PREFIX/venv"
CONF="$ROOT/etc/$NAME"
STATE="$ROOT/var/lib/$NAME"
UNIT="$ROOT/etc/systemd/system/$NAME.service"
DROP_IN="$UNIT.d/50-remediations.conf"
on_host() { [[ -z "$ROOT" ]]; }
systemd_up() { on_host && [[ -d /run/systemd/system ]]; }
say() { echo "install.sh: $*"; }

create_user() {
  on_host || return 0
  id -u "$NAME" >/dev/null 2>&1 && return 0
  useradd --system --user-group --home-dir "/var/lib/$NAME" --no-create-home \
    --shell /usr/sbin/nologin "$NAME"
  say "created system user $NAME"
}

install_venv() {
  [[ -x "$VENV/bin/python" ]] || { "$PYTHON" -m venv "$VENV"; say "created venv $VENV"; }
  "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
  # --force-reinstall --no-deps: the same version number from a newer checkout is still an
  # upgrade; the dependencies are then brought up to the declared ranges.
  "$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$SOURCE"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$SOURCE"
  mkdir -p "$ROOT$PREFIX/share/docs"
  cp "$SOURCE"/docs/*.md "$ROOT$PREFIX/share/docs/"
  say "installed $("$VENV/bin/runbook-watchdog" --version) in $VENV"
}

install_config() {
  install -d -m 0750 "$CONF"
  # The operator's file is never overwritten; the shipped one is kept next to it for diffs.
  install -m 0640 "$SOURCE/config/watchdog.yaml" "$CONF/watchdog.yaml.dist"
  [[ -e "$CONF/watchdog.yaml" ]] || install -m 0640 "$SOURCE/config/watchdog.yaml" "$CONF/watchdog.yaml"
  [[ -e "$CONF/watchdog.env" ]] || install -m 0600 /dev/null "$CONF/watchdog.env"
  install -d -m 0700 "$STATE"
  if on_host; then
    chown root:"$NAME" "$CONF" "$CONF/watchdog.yaml" "$CONF/watchdog.yaml.dist"
    chown "$NAME:$NAME" "$STATE"
  fi
}

install_unit() {
  install -d -m 0755 "$(dirname "$UNIT")"
  sed "s#/opt/runbook-watchdog#$PREFIX#g" "$SOURCE/systemd/$NAME.service" > "$UNIT.tmp"
  chmod 0644 "$UNIT.tmp"
  mv "$UNIT.tmp" "$UNIT"
  install_drop_in
  systemd_up || return 0
  systemctl daemon-reload
  if systemctl is-active --quiet "$NAME"; then
    systemctl restart "$NAME"
    say "restarted the running service"
  fi
}

# The sandbox drop-in and the directories the watchdog owns, from the config as it is now
# (regenerated on every install and upgrade; after editing the config, see docs/install.md).
install_drop_in() {
  local exe="$VENV/bin/runbook-watchdog" config="$CONF/watchdog.yaml" dir
  install -d -m 0755 "$UNIT.d"
  if "$exe" unit-drop-in --config "$config" > "$DROP_IN.tmp"; then
    chmod 0644 "$DROP_IN.tmp"
    mv "$DROP_IN.tmp" "$DROP_IN"
    say "wrote the sandbox drop-in $DROP_IN"
  else
    rm -f "$DROP_IN.tmp"
    say "cannot generate $DROP_IN from $config (see validate below); previous one kept" >&2
    return 0
  fi
  while IFS= read -r dir; do
    [[ -n "$dir" ]] || continue
    install -d -m 0700 "$ROOT$dir"
    on_host && chown "$NAME:$NAME" "$ROOT$dir"
    say "evidence directory $ROOT$dir"
  done < <("$exe" unit-drop-in --config "$config" --owned-dirs)
}

validate() {
  # --unit: the sandbox is checked against the unit and drop-in just installed (in ROOT).
  if "$VENV/bin/runbook-watchdog" validate --config "$CONF/watchdog.yaml" --unit "$UNIT"; then
    on_host && ! systemctl is-enabled --quiet "$NAME" 2>/dev/null &&
      say "next: edit $CONF/watchdog.yaml, then: systemctl enable --now $NAME"
    return 0
  fi
  say "the config is invalid: fix $CONF/watchdog.yaml before starting the service" >&2
  return 1
}

uninstall() {
  if systemd_up; then
    systemctl disable --now "$NAME" 2>/dev/null || true
  fi
  rm -f "$UNIT" "$DROP_IN"
  rmdir "$UNIT.d" 2>/dev/null || true  # kept when it holds the operator's own drop-ins
  systemd_up && systemctl daemon-reload
  rm -rf "$ROOT$PREFIX"
  say "removed the service and $ROOT$PREFIX"
  if ((PURGE)); then
    rm -rf "$CONF" "$STATE"
    say "purged $CONF and $STATE"
    if on_host && id -u "$NAME" >/dev/null 2>&1; then
      userdel "$NAME"
      say "removed the $NAME user"
    fi
  else
    say "kept $CONF and $STATE (--purge removes them)"
  fi
}

case "$ACTION" in
  install|upgrade) create_user; install_venv; install_config; install_unit; validate ;;
  uninstall) uninstall ;;
esac
