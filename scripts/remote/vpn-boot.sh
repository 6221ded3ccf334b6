#!/usr/bin/env bash
# Starts the fleet OpenVPN server from what vpn-configure.sh installed. This is the boot
# path on hosts without systemd (with systemd, openvpn-server@fleet is enabled instead):
#   bash /etc/openvpn/server/vpn-boot.sh [ROOT_PREFIX]
# Idempotent: does nothing when the daemon is already up.
set -euo pipefail
prefix=${1:-}
conf_dir="$prefix/etc/openvpn/server"
run_dir="$prefix/run/openvpn-server"
log_file="$prefix/var/log/openvpn/fleet.log"
pid_file="$run_dir/fleet.pid"
sock="$run_dir/fleet.sock"

running_pid() {
  local pid
  [ -f "$pid_file" ] || return 1
  pid=$(cat -- "$pid_file")
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = openvpn ] || return 1
  printf '%s\n' "$pid"
}

[ -f "$conf_dir/fleet.conf" ] || { echo "fleet: $conf_dir/fleet.conf is missing; run vpn-configure first" >&2; exit 1; }
# The client routes ride on forwarding; a reboot resets it where no sysctl.d runs.
echo 1 >/proc/sys/net/ipv4/ip_forward

if running_pid >/dev/null; then
  exit 0
fi
umask 022
mkdir -p -- "$(dirname -- "$log_file")"
install -d -m 0710 -- "$run_dir"
rm -f -- "$sock" "$pid_file"
# cwd = config dir, like the systemd unit, so relative paths behave the same.
(cd -- "$conf_dir" && openvpn --daemon fleet-vpn --writepid "$pid_file" --log-append "$log_file" --config "$conf_dir/fleet.conf")

for _ in $(seq 1 100); do
  if [ -S "$sock" ] && running_pid >/dev/null; then
    exit 0
  fi
  sleep 0.1
done
echo "fleet: openvpn did not come up; last log lines:" >&2
tail -n 20 -- "$log_file" >&2 || true
exit 1
