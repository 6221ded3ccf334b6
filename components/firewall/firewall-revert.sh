#!/usr/bin/env bash
# Armed by firewall-apply as a systemd timer: when it fires, puts back the previous rules and sets
# unless ARM_ID was confirmed (or superseded) meanwhile. Runs with no terminal and no bundle.
# Usage: firewall-revert.sh STATE_DIR ARM_ID
set -euo pipefail
state=$1 arm_id=$2
# shellcheck source=components/remote/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=components/firewall/firewall-lib.sh
. "$(dirname "$0")/firewall-lib.sh"
FW_STATE=$state
fleet_lock "$FW_STATE/lock" forever "the firewall of $(hostname)" "revert of $arm_id"
pending=$(cat "$FW_STATE/pending" 2>/dev/null || true)
if [ "${pending%% *}" != "$arm_id" ]; then
  exit 0 # confirmed, or a newer apply re-armed
fi
# The wait the timer was armed with, for the message confirm prints.
fw_revert_now "$arm_id" "$(cat "$FW_STATE/pending-timeout" 2>/dev/null || echo '?')"
