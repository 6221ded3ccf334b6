#!/usr/bin/env bash
# Adds the static routes listed in /etc/fleet/routes ("<cidr> <via>" per line), e.g. the VPN subnet via the
# gateway. Run by cloud-init on first boot and by fleet-routes.service (or bootcmd) on every later boot.
set -euo pipefail
routes=${1:-/etc/fleet/routes}
[ -f "$routes" ] || exit 0
status=0
while read -r cidr via; do
  [ -n "${cidr:-}" ] || continue
  ok=0
  # The interface may still be coming up on boot: retry for a while.
  for _ in $(seq 1 30); do
    if ip route replace "$cidr" via "$via"; then ok=1; break; fi
    sleep 1
  done
  if [ "$ok" -ne 1 ]; then echo "fleet-routes: could not add $cidr via $via" >&2; status=1; fi
done <"$routes"
exit "$status"
