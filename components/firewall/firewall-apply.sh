#!/usr/bin/env bash
# Applies one host's firewall with a rollback that needs no terminal:
# test in a throwaway netns -> snapshot what we own -> arm a detached revert -> swap sets,
# restore rules -> print the arm id. firewall-confirm (a NEW ssh connection) must then
# confirm that arm id within `timeout` seconds, or the host puts the previous rules back.
# Bundle: ipsets, rules.v4, rules.v6, hash, timeout, firewall-lib.sh, firewall-revert.sh,
#         firewall-boot.sh. Needs systemd as PID 1: the revert is a systemd timer, the boot restore a unit.
set -euo pipefail
FLEET_BUNDLE=$1; OP=${2:-create}; export FLEET_BUNDLE
# shellcheck source=components/remote/lib.sh
. "$FLEET_BUNDLE/lib.sh"
# shellcheck source=components/firewall/firewall-lib.sh
. "$FLEET_BUNDLE/firewall-lib.sh"

if [ "$OP" != create ]; then
  fw_log "leaving the firewall in place on $OP (removing it would open the host)"
  exit 0
fi

hash=$(param hash)
timeout=$(param timeout)
[[ $hash =~ ^[0-9a-f]{16}$ ]] || fw_die "parameter 'hash' must be 16 hex digits, got '$hash'"
if ! [[ $timeout =~ ^[0-9]+$ ]] || [ "$timeout" -lt 5 ] || [ "$timeout" -gt 3600 ]; then
  fw_die "parameter 'timeout' must be 5..3600 seconds, got '$timeout'"
fi
fw_dirs /etc/iptables /var/lib/fleet/firewall
fw_require_tools

mkdir -p "$FW_STATE/bin" "$FW_STATE/new" "$FW_STATE/revert"
for f in lib.sh firewall-lib.sh firewall-revert.sh firewall-boot.sh; do
  fw_install_file "$FLEET_BUNDLE/$f" "$FW_STATE/bin/$f" 0700
done
for f in ipsets rules.v4 rules.v6; do
  fw_install_file "$FLEET_BUNDLE/$f" "$FW_STATE/new/$f" 0600
done
printf '%s\n' "$hash" >"$FW_STATE/new/hash"

if ! err=$(fw_test_files "$FW_STATE/new/ipsets" "$FW_STATE/new/rules.v4" "$FW_STATE/new/rules.v6" 2>&1); then
  fw_die "rules $hash failed iptables-restore --test; nothing was changed: $err"
fi

fleet_lock "$FW_STATE/lock" 60 "the firewall of $(hostname)" "apply of $hash"

# An unconfirmed earlier apply is still armed: its snapshot is the last good state, keep it.
if [ ! -f "$FW_STATE/pending" ]; then
  fw_snapshot_sets >"$FW_STATE/revert/ipsets"
  fw_snapshot_rules "$FW_STATE/new/rules.v4" iptables >"$FW_STATE/revert/rules.v4"
  fw_snapshot_rules "$FW_STATE/new/rules.v6" ip6tables >"$FW_STATE/revert/rules.v6"
fi

arm_id="$hash-$(date -u +%Y%m%dT%H%M%SZ)-$$"
if ! err=$(fw_arm_and_load "$arm_id" "$hash" "$timeout"); then
  fw_die "applying rules $hash failed, previous rules restored: $err"
fi
# The kernel's own account of the rules just loaded: confirm's fallback where no throwaway namespace can be made.
fw_live_digest "$FW_STATE/new" >"$FW_STATE/new/applied-digest"
rm -f "$FW_STATE/rearmed"
printf '%s\n' "$hash" >"$FW_STATE/active"
fw_log "applied rules $hash; reverting in ${timeout}s unless confirmed (arm $arm_id)"
printf '%s\n' "$arm_id"
