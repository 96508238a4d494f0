#!/usr/bin/env bash
# Fetches the Debian trixie packages whose files go into the container image (the C runtime
# Node and etcd link against, `env` for bin/run.js's shebang, CA certificates, time zones)
# and unpacks them into .tools/image/debroot/, without touching the system's apt state.
# Each package's control fields are kept in debroot/.control/<package>, which the image
# carries as /var/lib/dpkg/status.d/<package> so that scanners see the Debian versions.
#
#   scripts/fetch-image-debs.sh        # idempotent: does nothing when debroot/ is complete
#
# Same apt set-up as scripts/install-etcd.sh (trixie, the same etcd comes from): its own
# sources list, lists and cache under .tools/apt/. `dpkg -x` unpacks; no maintainer scripts
# run, so the CA bundle that ca-certificates' postinst would generate is made by
# scripts/build-image.ts. etcd-server and etcd-client are fetched again only for their
# copyright files (the binaries come from .tools/etcd/bin).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
image="$tools/image"
debroot="$image/debroot"
packages=(libc6 libstdc++6 libgcc-s1 coreutils dash ca-certificates tzdata etcd-server etcd-client)

if [ -f "$debroot/.complete" ] && [ "$(cat "$debroot/.complete")" = "${packages[*]}" ]; then
  exit 0
fi

apt_dir="$tools/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/cache" "$image/debs"
cat > "$apt_dir/sources.list" <<LIST
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
LIST
[ -f "$apt_dir/status" ] || : > "$apt_dir/status"
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=-"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::State::Status=$apt_dir/status"
  -o "Dir::Cache=$apt_dir/cache"
  -o "Dir::Cache::Archives=$apt_dir/archives"
  -o "APT::Get::List-Cleanup=0"
  -o "Debug::NoLocking=1"
)

echo "[fetch-image-debs] fetching trixie package lists" >&2
apt-get "${apt_opts[@]}" -qq update >&2
cd "$image/debs"
chmod 0777 "$image/debs" "$apt_dir/archives/partial" 2>/dev/null || true
rm -f ./*.deb
echo "[fetch-image-debs] downloading ${packages[*]}" >&2
apt-get "${apt_opts[@]}" -qq download "${packages[@]}" >&2

rm -rf "$debroot"
mkdir -p "$debroot/.control"
for deb in ./*.deb; do
  dpkg -x "$deb" "$debroot"
  dpkg-deb -f "$deb" > "$debroot/.control/$(dpkg-deb -f "$deb" Package)"
done
echo "${packages[*]}" > "$debroot/.complete"
