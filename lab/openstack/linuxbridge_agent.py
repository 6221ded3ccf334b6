"""Neutron's Linux bridge agent (Debian 12's Zed), with one fix for Debian 12's ebtables.

When the agent sets a port's MAC spoofing rules up again (on any port update: security groups, address pairs,
binding), it first deletes the port's old `--among-src` rule by its spec
(neutron/plugins/ml2/drivers/linuxbridge/agent/arp_protect.py, _delete_vif_mac_rules). ebtables-nft 1.8.9
refuses that delete (`RULE_DELETE failed (Invalid argument)`, exit 4), and the agent retries exit 4 with a
growing wait and no limit (the same file, the tenacity decorator on ebtables()), holding its ebtables lock: no
new port is wired again, so new servers and routers stay DOWN. Legacy ebtables is no way out: this kernel has no
ebtables nat table. The fix gives the same end state another way: the per-port MAC chain holds only that
port's among rules and a final DROP, so it is flushed and its DROP put back. test/lab/cloud-agent.test.ts
fails without it.
"""
import sys

import neutron.cmd.eventlet  # noqa: F401  # eventlet's monkey patching comes before anything else loads
from neutron.cmd.eventlet.plugins.linuxbridge_neutron_agent import main
from neutron.plugins.ml2.drivers.linuxbridge.agent import arp_protect


def _delete_vif_mac_rules(vif, current_rules):
    if any(f"-i {vif}" in rule and "--among-src" in rule for rule in current_rules):
        chain = arp_protect._mac_chain_name(vif)
        arp_protect.ebtables(["-F", chain])
        arp_protect.ebtables(["-A", chain, "-j", "DROP"])


arp_protect._delete_vif_mac_rules = _delete_vif_mac_rules
sys.exit(main())
