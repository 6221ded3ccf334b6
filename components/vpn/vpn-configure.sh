#!/usr/bin/env bash
# Installs and (re)configures the fleet OpenVPN server on the gateway, run by systemd as openvpn-server@fleet.
# Bundle: server.conf ca.crt server.crt server.key tls-crypt-v2-server.key allow-list ccd.<engineer>...
#         vpn-verify.sh
# Engineer changes (allow-list, ccd) apply live: files are swapped atomically and every
# connected CN that is no longer allowed is killed over the management socket. The daemon
# restarts only when its config or keys change.
set -euo pipefail
FLEET_BUNDLE=$1; OP=${2:-create}; export FLEET_BUNDLE
# shellcheck source=components/remote/lib.sh
. "$FLEET_BUNDLE/lib.sh"

conf_dir=/etc/openvpn/server
run_dir=/run/openvpn-server
sock="$run_dir/fleet.sock"
sysctl_file=/etc/sysctl.d/60-fleet-vpn.conf
unit=openvpn-server@fleet

umask 022

# Management interface: sends one command and prints its reply (up to END, SUCCESS: or
# ERROR:). Sending `quit` together with the command would close the socket before the reply.
mgmt() {
  local line
  coproc MGMT { socat - "UNIX-CONNECT:$sock"; }
  printf '%s\n' "$1" >&"${MGMT[1]}"
  while IFS= read -r -t 5 line <&"${MGMT[0]}"; do
    line=${line%$'\r'}
    case "$line" in ">INFO:"*) continue ;; esac
    printf '%s\n' "$line"
    case "$line" in END | SUCCESS:* | ERROR:*) break ;; esac
  done
  printf 'quit\n' >&"${MGMT[1]}"
  # EOF on socat's input ends it even when the daemon never answers (a hung daemon must not hang us).
  local w=${MGMT[1]}
  exec {w}>&-
  wait "$MGMT_PID" || true
}

if [ "$OP" = delete ]; then
  systemctl disable --now "$unit" 2>/dev/null || true
  rm -rf -- "$conf_dir"/fleet.conf "$conf_dir"/ca.crt "$conf_dir"/server.crt "$conf_dir"/server.key \
    "$conf_dir"/tls-crypt.key "$conf_dir"/tls-crypt-v2-server.key "$conf_dir"/allow-list "$conf_dir"/vpn-verify.sh "$conf_dir"/vpn-boot.sh \
    "$conf_dir"/ccd "$conf_dir"/ccd.d.* "$sysctl_file"
  exit 0
fi

command -v openvpn >/dev/null || die "openvpn is not installed on this gateway"
have_systemd || die "the gateway needs systemd as PID 1: openvpn runs as its unit $unit"

# The ccd dir and the verify script are read by `nobody` after the privilege drop.
install -d -m 0755 -- "$conf_dir" "$(dirname -- "$sysctl_file")"
# Like Debian's tmpfiles entry: the management socket's directory is root's alone.
install -d -m 0710 -- "$run_dir"

changed=0
# install_file <bundle name> <dest name> <mode>: atomic replace; marks a daemon restart if asked.
install_file() {
  local src="$FLEET_BUNDLE/$1" dest="$conf_dir/$2" restart=$4
  [ -f "$src" ] || die "missing parameter '$1'"
  if [ -f "$dest" ] && cmp -s -- "$src" "$dest" && [ "$(stat -c %a -- "$dest")" = "$3" ]; then
    return 0
  fi
  install -o root -g root -m "$3" -- "$src" "$dest.new"
  mv -f -- "$dest.new" "$dest"
  if [ "$restart" = restart ]; then changed=1; fi
}

install_file server.conf fleet.conf 644 restart
install_file ca.crt ca.crt 644 restart
install_file server.crt server.crt 644 restart
install_file server.key server.key 600 restart
install_file tls-crypt-v2-server.key tls-crypt-v2-server.key 600 restart
# The shared tls-crypt key of earlier versions: no profile uses it any more.
rm -f -- "$conf_dir/tls-crypt.key"
install_file vpn-verify.sh vpn-verify.sh 755 live
# The boot script of earlier versions, for hosts without systemd: the unit starts openvpn at boot.
rm -f -- "$conf_dir/vpn-boot.sh"
install_file allow-list allow-list 644 live

# ccd: build a fresh dir, then swap the `ccd` symlink with one rename, so OpenVPN never
# sees a half-written or missing directory.
new_ccd=$(mktemp -d "$conf_dir/ccd.d.XXXXXXXX")
chmod 0755 -- "$new_ccd"
for f in "$FLEET_BUNDLE"/ccd.*; do
  [ -e "$f" ] || continue
  install -m 0644 -- "$f" "$new_ccd/${f##*/ccd.}"
done
if [ -d "$conf_dir/ccd" ] && [ ! -L "$conf_dir/ccd" ]; then rm -rf -- "$conf_dir/ccd"; fi
ln -sfn -- "${new_ccd##*/}" "$conf_dir/ccd.link"
mv -fT -- "$conf_dir/ccd.link" "$conf_dir/ccd"
for d in "$conf_dir"/ccd.d.*; do
  [ "$d" = "$new_ccd" ] || rm -rf -- "$d"
done

# Socket buffers asked for in server.conf are capped by net.core.[rw]mem_max.
want_buf=$(awk '$1 == "sndbuf" || $1 == "rcvbuf" { print $2 }' "$conf_dir/fleet.conf" | sort -n | tail -n 1)
{
  printf 'net.ipv4.ip_forward = 1\n'
  if [ -n "$want_buf" ]; then printf 'net.core.rmem_max = %s\nnet.core.wmem_max = %s\n' "$want_buf" "$want_buf"; fi
} >"$sysctl_file"
echo 1 >/proc/sys/net/ipv4/ip_forward
if [ -n "$want_buf" ]; then
  for key in rmem_max wmem_max; do
    if [ "$(cat "/proc/sys/net/core/$key")" -lt "$want_buf" ]; then echo "$want_buf" >"/proc/sys/net/core/$key"; fi
  done
fi

systemctl enable "$unit" >/dev/null 2>&1
if [ "$changed" = 1 ]; then
  systemctl restart "$unit"
elif ! systemctl is-active -q "$unit"; then
  systemctl start "$unit"
fi
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.1; done

if [ "$changed" = 1 ]; then
  echo "fleet: openvpn (re)started with the new configuration" >&2
fi

[ -S "$sock" ] || die "management socket $sock is missing; is openvpn running?"
declare -A allowed=()
while read -r name _; do
  [ -n "$name" ] && allowed[$name]=1
done <"$conf_dir/allow-list"

connected_cns() { mgmt "status 2" | awk -F, '$1 == "CLIENT_LIST" && $2 != "" && $2 != "UNDEF" { print $2 }' | sort -u; }

# Live offboarding: the new allow-list already refuses new handshakes; now end the
# sessions of every connected CN that is no longer on it. Others are not touched.
# (After a restart nobody is connected yet, so this finds nothing.)
mapfile -t connected < <(connected_cns)
for cn in "${connected[@]}"; do
  if [ -z "${allowed[$cn]+x}" ]; then
    escaped=${cn//\\/\\\\}
    escaped=${escaped//\"/\\\"}
    reply=$(mgmt "kill \"$escaped\"")
    echo "fleet: disconnected removed engineer $cn: $reply" >&2
  fi
done

# What the stack records comes from here, so vouch for it: the daemon answers on its socket, the allow-list it
# reads is the one just shipped, and no session of an engineer off that list is still up.
pid_reply=$(mgmt pid)
case "$pid_reply" in
  SUCCESS:\ pid=*) daemon=${pid_reply#SUCCESS: pid=} ;;
  *) die "openvpn does not answer on $sock (it said: ${pid_reply:-nothing})" ;;
esac
cmp -s -- "$FLEET_BUNDLE/allow-list" "$conf_dir/allow-list" || die "$conf_dir/allow-list is not the one just installed"
# A killed session leaves the client list on the daemon's next turn of its event loop, so allow it a moment.
still=""
for _ in $(seq 1 50); do
  still=""
  while read -r cn; do
    [ -n "$cn" ] && [ -z "${allowed[$cn]+x}" ] && still="$still $cn"
  done < <(connected_cns)
  [ -z "$still" ] && break
  sleep 0.1
done
[ -z "$still" ] || die "engineers off the allow-list are still connected:$still"
digest=$(sha256sum -- "$conf_dir/allow-list")
admitted=$(awk '{ print $1 }' "$conf_dir/allow-list" | sort | paste -sd, -)
# One line on stdout, read by VpnGateway into the stack's vpnAdmitted output.
printf 'vpn allow-list %s live in openvpn pid %s, admits: %s\n' "${digest:0:16}" "$daemon" "$admitted"
