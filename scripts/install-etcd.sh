#!/usr/bin/env bash
# Installs etcd 3.5 (Debian trixie's etcd-server and etcd-client packages) into a
# project-local folder, .tools/etcd/, without touching the system's apt state or etcd.
#
#   scripts/install-etcd.sh            # idempotent: does nothing when the binaries are there
#
# How: apt-get with its own sources list, lists dir and cache dir (all under .tools/apt/),
# pointed at trixie; `apt-get download` fetches the two .deb files and `dpkg -x` unpacks them.
# The binaries end up in .tools/etcd/bin/{etcd,etcdctl,etcdutl}.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
bin="$tools/etcd/bin"
want="3.5"

# Version checks read the whole output into a variable first: piping into `head` or
# `grep -q` closes the pipe early, and under `pipefail` the writer's SIGPIPE (exit 141)
# would fail the script (or force a needless reinstall) depending on timing.
installed_version() { "$bin/etcd" --version 2>/dev/null || true; }

if [ -x "$bin/etcd" ] && [ -x "$bin/etcdctl" ] && [ -x "$bin/etcdutl" ]; then
  case "$(installed_version)" in
    *"etcd Version: $want"*) exit 0 ;;
  esac
fi

apt_dir="$tools/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/debs" "$bin"
cat > "$apt_dir/sources.list" <<LIST
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
LIST
: > "$apt_dir/status"

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
mkdir -p "$apt_dir/cache"

echo "[install-etcd] fetching trixie package lists" >&2
apt-get "${apt_opts[@]}" -qq update >&2
cd "$apt_dir/debs"
chmod 0777 "$apt_dir/debs" "$apt_dir/archives/partial" 2>/dev/null || true
rm -f ./*.deb
echo "[install-etcd] downloading etcd-server and etcd-client" >&2
apt-get "${apt_opts[@]}" -qq download etcd-server etcd-client >&2

stage="$tools/etcd/stage"
rm -rf "$stage"
mkdir -p "$stage"
for deb in ./*.deb; do dpkg -x "$deb" "$stage"; done
for b in etcd etcdctl etcdutl; do
  src="$stage/usr/bin/$b"
  if [ ! -x "$src" ]; then echo "[install-etcd] $b not found in the packages" >&2; exit 1; fi
  cp "$src" "$bin/$b"
  chmod 0755 "$bin/$b"
done
rm -rf "$stage"
version="$(installed_version)"
echo "${version%%$'\n'*}" >&2
