#!/usr/bin/env bash
# Readiness: waits until cloud-init has finished on this host, then prints a summary.
# With cloud-init running the host (production) it uses `cloud-init status --wait`; in every case it then
# waits for the marker that the fleet's user-data writes as its last step.
set -euo pipefail
FLEET_BUNDLE=$1
export FLEET_BUNDLE
# shellcheck source=components/remote/lib.sh
. "$FLEET_BUNDLE/lib.sh"
timeout=$(param_or timeout 900)
marker=/var/lib/fleet/cloud-init.done

if command -v cloud-init >/dev/null 2>&1 && [ -d /run/cloud-init ]; then
  # Exit code 2 means "done with recoverable errors"; the marker below decides.
  cloud-init status --wait >/dev/null || [ "$?" -eq 2 ] || die "cloud-init failed on $(hostname): $(cloud-init status --long 2>&1 | tail -n 5)"
fi
waited=0
until [ -f "$marker" ]; do
  [ "$waited" -lt "$timeout" ] || die "$(hostname): cloud-init did not finish within ${timeout}s (no $marker)"
  sleep 2
  waited=$((waited + 2))
done
echo "ready: $(hostname) $(cat "$marker")"
