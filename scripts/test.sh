#!/usr/bin/env bash
# Run obsgen's whole test suite on a fresh Debian machine: install what the tests need when it
# is missing (Debian packages as root, then the Python package with its test extras), then pytest.
# Extra arguments go to pytest, for example: scripts/test.sh -k catalog -x
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the real Prometheus, Alertmanager and jsonnet that tests run, docker-compose
# for validating compose files, qemu with a Debian kernel and busybox for cgroup v2 tests, and
# openssl for the exporter's TLS test certificates.
need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
command -v jsonnet >/dev/null || need+=(jsonnet)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v prometheus-node-exporter >/dev/null || need+=(prometheus-node-exporter)
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v openssl >/dev/null || need+=(openssl)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
ls /boot/vmlinuz-* >/dev/null 2>&1 || need+=(linux-image-amd64)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test.sh: missing Debian packages: ${need[*]}; install them as root (apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "test.sh: installing Debian packages: ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The Python package and its test dependencies.
python3 -m pip install -q --disable-pip-version-check -e ".[test]"

exec python3 -m pytest -q -p no:cacheprovider "$@"
