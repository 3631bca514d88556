#!/usr/bin/env bash
# System packages the test suite needs (Debian). Idempotent and quick: when everything is already
# installed it only asks dpkg and exits; otherwise one apt-get update and one install.
# Extra package names may be passed as arguments.
set -euo pipefail

# softhsm2: a software PKCS#11 token for test/integration/pkcs11.test.ts (the HSM signer).
# prometheus: its promtool checks and unit-tests deploy/prometheus/sealq-alerts.yml (test/alert-rules.test.ts).
packages=(softhsm2 prometheus "$@")

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "ci-setup: not a Debian-like system; install these yourself: ${packages[*]}" >&2
  exit 0
fi

need=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    need+=("$pkg")
  fi
done
[ "${#need[@]}" -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
    echo "ci-setup: need root (or sudo) to install: ${need[*]}" >&2
    exit 1
  fi
fi
echo "ci-setup: installing ${need[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
