#!/usr/bin/env bash
# The server's data volume: formatted only when it holds nothing, then mounted. Runs at the first boot (cloud-init
# runcmd, before the readiness marker) and on every later boot (bootcmd), so it is idempotent: a mounted volume is
# left alone, and one with any signature on it (a filesystem, a partition table, RAID or LVM) is never formatted.
# Data: /etc/fleet/volume (or $1), one line "DEVICE MOUNTPOINT FILESYSTEM" written from the stack's config.
set -euo pipefail

conf="${1:-/etc/fleet/volume}"
[ -s "$conf" ] || exit 0
read -r device mountpoint fs <"$conf"

# The disk comes with the instance, but a hypervisor may show it a little after boot.
for _ in $(seq 1 60); do
  [ -b "$device" ] && break
  sleep 1
done
[ -b "$device" ] || {
  echo "fleet-volume: the data volume $device is not attached" >&2
  exit 1
}

if mountpoint -q "$mountpoint"; then
  echo "fleet-volume: $mountpoint is mounted"
  exit 0
fi

# blkid -p probes the device itself: exit 2 means it found no signature of any kind.
rc=0
blkid -p "$device" >/dev/null 2>&1 || rc=$?
if [ "$rc" = 2 ]; then
  echo "fleet-volume: $device is empty; making a $fs filesystem"
  "mkfs.$fs" -q -L fleet-data "$device"
elif [ "$rc" != 0 ]; then
  echo "fleet-volume: cannot probe $device (blkid exit $rc); leaving it alone" >&2
  exit 1
fi

mkdir -p "$mountpoint"
# Whatever filesystem it holds: a volume made with another filesystem earlier is mounted, never reformatted.
mount "$device" "$mountpoint"
echo "fleet-volume: mounted $device on $mountpoint"
