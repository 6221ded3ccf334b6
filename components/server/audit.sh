#!/usr/bin/env bash
# Compares what this host really runs with what the stack last applied, and prints one line per check:
#   <check> in-sync[: detail]      or      <check> drifted: <one-line reason>
# Read-only: it changes nothing on the host (repairs re-run the stack's own apply scripts).
# Bundle (each part optional):
#   firewall:  fw_ipsets fw_rules.v4 fw_rules.v6 firewall-lib.sh   the kernel vs the applied rules
#   vpn:       vpn_fleet.conf vpn_allow-list                        the gateway's config, allow-list and daemon
#   sshd:      sshd_config                                          the fleet's sshd drop-in, and sshd's own view
#   deploy:    app release health_url                               the current release, its service and health
set -euo pipefail
FLEET_BUNDLE=$1; export FLEET_BUNDLE
# shellcheck source=components/remote/lib.sh
. "$FLEET_BUNDLE/lib.sh"

has() { [ -f "$FLEET_BUNDLE/$1" ]; }

# Prints the first line that only one of two files has, as "+line" (only live) or "-line" (only wanted).
first_difference() {
  diff --unchanged-line-format= --old-line-format='-%L' --new-line-format='+%L' -- "$1" "$2" | head -n 1 || true
}

if has fw_ipsets; then
  # shellcheck source=components/firewall/firewall-lib.sh
  . "$FLEET_BUNDLE/firewall-lib.sh"
  want=$(mktemp -d)
  cp -- "$FLEET_BUNDLE/fw_ipsets" "$want/ipsets"
  cp -- "$FLEET_BUNDLE/fw_rules.v4" "$want/rules.v4"
  cp -- "$FLEET_BUNDLE/fw_rules.v6" "$want/rules.v6"
  if fw_wanted_canonical "$want" >"$want/wanted" 2>"$want/err"; then
    fw_canonical "$want/rules.v4" "$want/rules.v6" "$want/ipsets" >"$want/live"
    if cmp -s -- "$want/wanted" "$want/live"; then
      echo "firewall in-sync: digest $(fw_digest_of <"$want/live")"
    else
      echo "firewall drifted: $(first_difference "$want/wanted" "$want/live" | tr -d '\n')"
    fi
  else
    echo "firewall drifted: the applied rules do not load in a throwaway namespace: $(head -c 200 "$want/err" | tr '\n' ' ')"
  fi
  rm -rf -- "$want"
fi

if has vpn_fleet.conf; then
  conf_dir=/etc/openvpn/server
  why=""
  for f in fleet.conf allow-list; do
    if ! cmp -s -- "$FLEET_BUNDLE/vpn_$f" "$conf_dir/$f"; then why="$conf_dir/$f differs from the stack's"; break; fi
  done
  if [ -z "$why" ] && ! systemctl is-active --quiet openvpn-server@fleet; then why="openvpn-server@fleet is $(systemctl is-active openvpn-server@fleet || true)"; fi
  if [ -z "$why" ]; then echo "vpn in-sync: $(wc -l <"$conf_dir/allow-list") engineers allowed"; else echo "vpn drifted: $why"; fi
fi

if has sshd_config; then
  dropin=/etc/ssh/sshd_config.d/10-fleet.conf
  if ! cmp -s -- "$FLEET_BUNDLE/sshd_config" "$dropin"; then
    echo "sshd drifted: $dropin differs from the stack's: $(first_difference "$FLEET_BUNDLE/sshd_config" "$dropin" | tr -d '\n')"
  elif ! err=$(sshd -t 2>&1); then
    echo "sshd drifted: sshd -t fails: $(printf '%s' "$err" | head -c 200 | tr '\n' ' ')"
  else
    # What the daemon would run with, all files merged: the settings the fleet relies on.
    eff=$(sshd -T 2>/dev/null | grep -E '^(passwordauthentication|allowstreamlocalforwarding|allowagentforwarding|compression|permitrootlogin) ' | sort | tr '\n' ',' || true)
    case $eff in
      *"allowagentforwarding no"*"allowstreamlocalforwarding no"*"compression no"*"passwordauthentication no"*"permitrootlogin without-password"*) echo "sshd in-sync" ;;
      *) echo "sshd drifted: effective settings are ${eff%,}" ;;
    esac
  fi
fi

if has release; then
  app=$(param app)
  release=$(param release)
  health_url=$(param health_url)
  [[ $app =~ ^[a-z][a-z0-9_-]{0,31}$ && $health_url =~ ^http://127\.0\.0\.1:[0-9]+/ ]] || die "bad deploy parameters"
  current=$(readlink -- "/srv/$app/current" 2>/dev/null || echo none)
  if [ "$current" != "releases/$release" ]; then
    echo "deploy drifted: current is ${current#releases/}, the stack deployed $release"
  elif ! systemctl is-active --quiet "$app.service"; then
    echo "deploy drifted: $app.service is $(systemctl is-active "$app.service" || true)"
  elif ! curl -fsS -o /dev/null --max-time 3 -- "$health_url" 2>/dev/null; then
    echo "deploy drifted: release $release is current but $health_url does not answer 2xx"
  else
    echo "deploy in-sync: release $release, healthy"
  fi
fi
