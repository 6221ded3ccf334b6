#!/usr/bin/env bash
# Boot-time restore of the confirmed firewall: sets first (the rules reference them), then
# IPv4 and IPv6 rules with --noflush, so chains of other tools stay as they are.
# Usage: firewall-boot.sh [ETC_DIR]   (installed by firewall-apply; run by the fleet-firewall unit)
set -euo pipefail
etc=${1:-/etc/iptables}
# shellcheck source=components/firewall/firewall-lib.sh
. "$(dirname "$0")/firewall-lib.sh"
[ -f "$etc/rules.v4" ] || { fw_log "no saved rules in $etc; nothing to load"; exit 0; }
if [ -f "$etc/ipsets" ]; then fw_load_sets "$etc/ipsets"; fi
fw_restore_rules "$etc/rules.v4" iptables
if [ -f "$etc/rules.v6" ]; then fw_restore_rules "$etc/rules.v6" ip6tables; fi
fw_log "loaded saved rules from $etc"
