#!/usr/bin/env bash
# apt-get installs those of the named Debian packages that are not installed yet (no update,
# no download when all are there). Needs root. Usage: apt-install-missing.sh PKG...
set -euo pipefail

missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # With Recommends, as verified: podman without them (catatonit, netavark, ...) is untested here.
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
