#!/usr/bin/env bash
# Installs buildah (the Debian package) so `npm run image` and the image tests can build and
# run the container image without a daemon or a registry.
#
#   scripts/install-buildah.sh         # idempotent: does nothing when buildah is there
#
# Unlike etcd (scripts/install-etcd.sh), buildah is installed system-wide with apt-get: it is
# a Go program with a dozen shared-library dependencies and config files under /etc/containers
# (signature policy, registries) that it reads from fixed paths, so unpacking it into the
# project would mean re-creating that environment by hand. It needs root (CI runs as root).
# Recommends (runc, crun, fuse-overlayfs) are skipped: the project builds with the vfs storage
# driver and runs containers with chroot isolation, which need neither.
#
# The build never touches the system's container storage: scripts/build-image.ts points
# buildah at a storage root under .tools/buildah/.
set -euo pipefail

if buildah --version >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "[install-buildah] buildah is missing and installing it needs root: run 'apt-get install buildah' as root" >&2
  exit 1
fi
echo "[install-buildah] installing buildah with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -qq update >&2
apt-get -qq install -y --no-install-recommends buildah >&2
buildah --version >&2
