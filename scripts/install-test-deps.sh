#!/usr/bin/env bash
# Installs the Debian packages the tests use as real peers. Idempotent: packages already
# present are not fetched again. Needs root (CI and the dev machines run as root).
set -euo pipefail

PACKAGES=(
  redis-server        # real Redis for the redis probe and remediations
  nginx-light         # real nginx for the websocket-config probe
  podman runc busybox-static  # Docker Engine API (podman system service) + offline images
  docker-compose      # compose strategy of the rollback remediation, against Podman
  prometheus          # promtool and a real scraper
  dnsmasq-base        # real DNS server with TXT records for the mail_dns probe (no service unit)
  systemd             # systemd-analyze verify / security on the unit file
  chromium            # headless browser for the status page
  prometheus-alertmanager  # real Alertmanager v2 API for the notification channel
  mmdebstrap          # the production drills' Debian root filesystem, booted by systemd in Podman
  docker-registry     # a real Registry v2 on loopback: the rollback pulls by digest from it
  nftables iproute2   # block_ip's nftables backend, tested in network namespaces (ip netns)
)

bash "$(dirname "$0")/apt-install-missing.sh" "${PACKAGES[@]}"
