#!/usr/bin/env bash
# Run from a NEW ssh connection after firewall-apply: reaching this host at all proves the new
# rules let the engine in. Checks that the kernel runs them, cancels the pending revert and persists
# the rules for boot; fails, naming the host and the reason, if the revert already fired, another
# ruleset is armed, or the kernel runs other rules (then it loads them again, armed, for the next up).
# Bundle: hash, arm_id (firewall-apply's output), firewall-lib.sh.
set -euo pipefail
FLEET_BUNDLE=$1; OP=${2:-create}; export FLEET_BUNDLE
# shellcheck source=components/remote/lib.sh
. "$FLEET_BUNDLE/lib.sh"
# shellcheck source=components/firewall/firewall-lib.sh
. "$FLEET_BUNDLE/firewall-lib.sh"

[ "$OP" = create ] || exit 0
hash=$(param hash)
arm_id=$(param arm_id | tail -n 1)
[[ $hash =~ ^[0-9a-f]{16}$ ]] || fw_die "parameter 'hash' must be 16 hex digits, got '$hash'"
[[ $arm_id =~ ^[0-9a-f]{16}-[0-9TZ]+-[0-9]+$ ]] || fw_die "parameter 'arm_id' is not an arm id from firewall-apply: '$arm_id'"
fw_dirs /etc/iptables /var/lib/fleet/firewall

fleet_lock "$FW_STATE/lock" 60 "the firewall of $(hostname)" "confirm"

# An earlier confirm that found the kernel running other rules re-armed them under a new arm id (below).
armed=$arm_id
if [ -f "$FW_STATE/rearmed" ]; then
  read -r from to <"$FW_STATE/rearmed" || true
  if [ "${from:-}" = "$arm_id" ]; then armed=$to; fi
fi
if [ -f "$FW_STATE/reverted-$armed" ]; then
  read -r _ when waited <"$FW_STATE/reverted-$armed"
  fw_die "rules $hash were reverted at $when: the confirmation did not arrive within ${waited}s — the new rules cut this connection"
fi
wanted=$(fw_wanted_digest "$FW_STATE/new") || fw_die "cannot tell what rules $hash look like in the kernel (no network namespace and no record from apply)"
live=$(fw_live_digest "$FW_STATE/new")
if [ -f "$FW_STATE/confirmed" ] && [ "$(awk '{ print $1 }' "$FW_STATE/confirmed")" = "$armed" ]; then
  [ "$live" = "$wanted" ] || fw_die "rules $hash were confirmed, but the kernel now runs other rules (live $live, wanted $wanted): \`npm run audit -- --repair\` puts them back"
  echo "rules $hash already confirmed; the kernel runs them (digest $live)"
  exit 0
fi
pending=$(cat "$FW_STATE/pending" 2>/dev/null || true)
if [ "${pending%% *}" != "$armed" ]; then
  active=$(cat "$FW_STATE/active" 2>/dev/null || echo none)
  fw_die "rules $hash are not the armed ruleset (armed: ${pending:-nothing}; active: $active) — another apply ran in between"
fi
new_hash=$(cat "$FW_STATE/new/hash")
[ "$new_hash" = "$hash" ] || fw_die "rules $hash are not the applied ruleset (applied: $new_hash)"

# The pending file says what was applied; only the kernel says what runs. A host that restarted between apply and
# confirm booted its saved (old) rules: saving the new ones now would claim a ruleset the host does not run. Load
# them again under a fresh revert timer and fail; the next `up` confirms them from a new connection.
if [ "$live" != "$wanted" ]; then
  timeout=$(cat "$FW_STATE/pending-timeout" 2>/dev/null || echo 60)
  rearm="$hash-$(date -u +%Y%m%dT%H%M%SZ)-$$"
  if ! err=$(fw_arm_and_load "$rearm" "$hash" "$timeout"); then
    fw_die "the kernel does not run rules $hash, and loading them again failed (previous rules restored): $err"
  fi
  printf '%s %s\n' "$arm_id" "$rearm" >"$FW_STATE/rearmed"
  fw_die "the kernel does not run rules $hash (live $live, wanted $wanted): the host restarted, or its firewall was changed, between apply and confirm. Loaded them again; they revert in ${timeout}s unless confirmed: run \`pulumi up\` again"
fi

fw_disarm
fw_persist "$FW_STATE/new"
printf '%s %s\n' "$armed" "$hash" >"$FW_STATE/confirmed"
rm -f "$FW_STATE/pending" "$FW_STATE/pending-timeout" "$FW_STATE/rearmed"
fw_destroy_stale_sets "$FW_ETC/ipsets"
echo "rules $hash confirmed and saved to $FW_ETC; the kernel runs them (digest $live)"
