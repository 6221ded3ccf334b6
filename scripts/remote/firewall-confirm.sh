#!/usr/bin/env bash
# Run from a NEW ssh connection after firewall-apply: reaching this host at all proves the new
# rules let the engine in. Cancels the pending revert and persists the rules for boot; fails,
# naming the host and the reason, if the revert already fired or another ruleset is armed.
# Bundle: hash, arm_id (firewall-apply's output), firewall-lib.sh; optional etc_dir, state_dir.
set -euo pipefail
FLEET_BUNDLE=$1; OP=${2:-create}; export FLEET_BUNDLE
# shellcheck source=scripts/remote/lib.sh
. "$FLEET_BUNDLE/lib.sh"
# shellcheck source=scripts/remote/firewall-lib.sh
. "$FLEET_BUNDLE/firewall-lib.sh"

[ "$OP" = create ] || exit 0
hash=$(param hash)
arm_id=$(param arm_id | tail -n 1)
[[ $hash =~ ^[0-9a-f]{16}$ ]] || fw_die "parameter 'hash' must be 16 hex digits, got '$hash'"
[[ $arm_id =~ ^[0-9a-f]{16}-[0-9TZ]+-[0-9]+$ ]] || fw_die "parameter 'arm_id' is not an arm id from firewall-apply: '$arm_id'"
fw_dirs "$(param_or etc_dir /etc/iptables)" "$(param_or state_dir /var/lib/fleet/firewall)"

exec 9>"$FW_STATE/lock"
flock -w 60 9 || fw_die "another firewall apply/confirm holds $FW_STATE/lock"

if [ -f "$FW_STATE/reverted-$arm_id" ]; then
  read -r _ when waited <"$FW_STATE/reverted-$arm_id"
  fw_die "rules $hash were reverted at $when: the confirmation did not arrive within ${waited}s — the new rules cut this connection"
fi
if [ -f "$FW_STATE/confirmed" ] && [ "$(awk '{ print $1 }' "$FW_STATE/confirmed")" = "$arm_id" ]; then
  echo "rules $hash already confirmed"
  exit 0
fi
pending=$(cat "$FW_STATE/pending" 2>/dev/null || true)
if [ "${pending%% *}" != "$arm_id" ]; then
  active=$(cat "$FW_STATE/active" 2>/dev/null || echo none)
  fw_die "rules $hash are not the armed ruleset (armed: ${pending:-nothing}; active: $active) — another apply ran in between"
fi
new_hash=$(cat "$FW_STATE/new/hash")
[ "$new_hash" = "$hash" ] || fw_die "rules $hash are not the applied ruleset (applied: $new_hash)"

fw_disarm
fw_persist "$FW_STATE/new"
printf '%s %s\n' "$arm_id" "$hash" >"$FW_STATE/confirmed"
rm -f "$FW_STATE/pending" "$FW_STATE/pending-timeout"
fw_destroy_stale_sets "$FW_ETC/ipsets"
echo "rules $hash confirmed and saved to $FW_ETC"
