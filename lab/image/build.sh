#!/usr/bin/env bash
# Builds the lab's host image: a Debian 12 tree (debootstrap) with systemd, sshd, cloud-init and the packages in
# packages.txt, configured to boot under systemd-nspawn with a NoCloud seed. Cached outside the repository at
# $FLEET_CACHE/lab-image/<key>/rootfs, keyed by this script and the package list; prints the rootfs path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  echo "Usage: bash lab/image/build.sh [--print-dir]   builds (once) and prints the lab image's rootfs directory"
  exit 0
fi

cache="${FLEET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openstack-fleet}"
key="$(cat "$here/build.sh" "$here/packages.txt" | sha256sum | cut -c1-16)"
dir="$cache/lab-image/$key"
if [ "${1:-}" = "--print-dir" ]; then echo "$dir/rootfs"; exit 0; fi
if [ -f "$dir/ready" ]; then echo "$dir/rootfs"; exit 0; fi

fail() {
  echo "lab image: $1" >&2
  echo "lab image: build it by hand with: bash lab/image/build.sh (needs root, debootstrap and a Debian mirror; log: $dir/build.log)" >&2
  exit 1
}
[ "$(id -u)" = 0 ] || fail "building the image needs root"
command -v debootstrap >/dev/null || fail "debootstrap is missing: apt-get install -y debootstrap"
# The mirror this machine's apt uses (Debian's deb822 sources), else Debian's default.
mirror="$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
mirror="${mirror:-http://deb.debian.org/debian}"

rm -rf "$dir"
mkdir -p "$dir"
root="$dir/rootfs"
log="$dir/build.log"
t0=$SECONDS
echo "lab image: debootstrap bookworm from $mirror (a few minutes, once)" >&2
debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,openssh-server,iproute2 bookworm "$root" "$mirror" >"$log" 2>&1 ||
  fail "debootstrap failed (tail of $log: $(tail -n 3 "$log" | tr '\n' ' '))"
# apt resolves virtual dependencies (python3-cffi-backend-api-*) that debootstrap's resolver cannot.
mount -t proc proc "$root/proc"
trap 'umount "$root/proc" 2>/dev/null || true' EXIT
echo "lab image: installing $(grep -vc '^#' "$here/packages.txt") packages" >&2
grep -v '^#' "$here/packages.txt" | DEBIAN_FRONTEND=noninteractive xargs chroot "$root" apt-get install -y -qq --no-install-recommends >>"$log" 2>&1 ||
  fail "apt-get install in the image failed (tail of $log: $(tail -n 3 "$log" | tr '\n' ' '))"
# Cloud images ship en_US.UTF-8 generated; cloud-init's locale module sets LANG to it.
echo 'en_US.UTF-8 UTF-8' >"$root/etc/locale.gen"
chroot "$root" locale-gen >>"$log" 2>&1
chroot "$root" apt-get clean
umount "$root/proc"
trap - EXIT

# Boot configuration. cloud-init reads only the NoCloud seed the lab writes per host and leaves the network to
# the lab (addresses come with the host's network namespace, as a cloud's DHCP would give them).
cat >"$root/etc/cloud/cloud.cfg.d/90-lab.cfg" <<'CFG'
datasource_list: [NoCloud, None]
network: {config: disabled}
apt: {preserve_sources_list: true}
CFG
# No network at boot: apt reads an empty local repository, so cloud-init's package_update succeeds and its package
# step only confirms that what the user data asks for is baked in.
mkdir -p "$root/var/lib/lab-apt"
: >"$root/var/lib/lab-apt/Packages"
echo 'deb [trusted=yes] file:/var/lib/lab-apt ./' >"$root/etc/apt/sources.list"
rm -f "$root/etc/apt/sources.list.d/"*
# Every host gets its own identity: no shared host keys or machine id.
rm -f "$root"/etc/ssh/ssh_host_*
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
# Units a container cannot run (no hardware clock, no udev-managed devices).
for u in systemd-timesyncd.service e2scrub_reap.service apt-daily.timer apt-daily-upgrade.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done
touch "$dir/ready"
echo "lab image: built in $((SECONDS - t0)) s ($(du -sh "$root" | cut -f1))" >&2
echo "$root"
