#!/usr/bin/env bash
# Installs kubectl, the independent client the Kubernetes API test server is checked against
# (test/integration/kube-apiserver.test.ts; docs/testing.md "Kubernetes API test server").
#
#   scripts/install-kubectl.sh         # idempotent: does nothing when kubectl is there
#
# Any kubectl on PATH is accepted (the Debian-12 image ships Google's `kubectl` package).
# Otherwise Debian's `kubernetes-client` package is installed system-wide with apt-get, which
# needs root (CI runs as root).
set -euo pipefail

if kubectl version --client >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "[install-kubectl] kubectl is missing and installing it needs root: run 'apt-get install kubernetes-client' as root" >&2
  exit 1
fi
echo "[install-kubectl] installing kubernetes-client with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -qq update >&2
apt-get -qq install -y --no-install-recommends kubernetes-client >&2
kubectl version --client >&2
