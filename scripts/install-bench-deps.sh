#!/usr/bin/env bash
# Installs what the benchmarks (bench/, `make bench`) need beyond the test dependencies:
# the comparison peers from Debian and the not-shipped transport measured in B1.
# Kept apart from install-test-deps.sh so that `make test` stays lean.
set -euo pipefail

bash "$(dirname "$0")/install-test-deps.sh"   # nginx, redis-server, ... are peers here too
PACKAGES=(
  prometheus-blackbox-exporter   # B1 throughput and B4 idle footprint, for comparison
  monit                          # B2 schedule accuracy and B4 idle footprint, for reference
  curl
)
bash "$(dirname "$0")/apt-install-missing.sh" "${PACKAGES[@]}"
