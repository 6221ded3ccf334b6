#!/usr/bin/env bash
# Armed by firewall-apply: after TIMEOUT seconds, puts back the previous rules and sets unless
# ARM_ID was confirmed (or superseded) meanwhile. Runs detached, with no terminal and no bundle.
# Usage: firewall-revert.sh STATE_DIR ARM_ID TIMEOUT
set -euo pipefail
state=$1 arm_id=$2 timeout=$3
# shellcheck source=scripts/remote/firewall-lib.sh
. "$(dirname "$0")/firewall-lib.sh"
FW_STATE=$state
[[ $timeout =~ ^[0-9]+$ ]] || fw_die "bad revert timeout '$timeout'"
sleep "$timeout"
exec 9>"$FW_STATE/lock"
flock 9
pending=$(cat "$FW_STATE/pending" 2>/dev/null || true)
if [ "${pending%% *}" != "$arm_id" ]; then
  exit 0 # confirmed, or a newer apply re-armed
fi
# The systemd timer passes 0 (it already waited); record the configured wait for the message.
waited=$timeout
if [ "$waited" = 0 ] && [ -f "$FW_STATE/pending-timeout" ]; then waited=$(cat "$FW_STATE/pending-timeout"); fi
fw_revert_now "$arm_id" "$waited"
