"""Records an alive Open vSwitch agent for a compute host in Neutron's database, so ML2's openvswitch mechanism
driver binds the host's ports with no agent process (neutron/plugins/ml2/drivers/mech_agent.py,
AgentMechanismDriverBase.bind_port, needs only an alive agent of its type on the host; mech_openvswitch.py takes the
allowed network types from the record's tunnel_types and the flat/vlan mappings from its bridge_mappings).
Usage: python3 register-agent.py NEUTRON_CONF HOST"""
import sys

from neutron.common import config as common_config
from neutron.conf.agent.database import agents_db as agents_db_conf
from neutron.db import agents_db
from neutron_lib import constants, context
from oslo_config import cfg
from oslo_utils import timeutils

conf_file, host = sys.argv[1], sys.argv[2]
common_config.register_common_config_options()
agents_db_conf.register_db_agents_opts()
cfg.CONF(["--config-file", conf_file], project="neutron")
agent = {
    "agent_type": constants.AGENT_TYPE_OVS,
    "binary": constants.AGENT_PROCESS_OVS,
    "host": host,
    "topic": constants.L2_AGENT_TOPIC,
    "start_flag": True,
    "configurations": {
        "bridge_mappings": {"public": "br-ex"},
        "tunnel_types": ["vxlan"],
        "tunneling_ip": "127.0.0.1",
        "integration_bridge": "br-int",
        "ovs_hybrid_plug": False,
        "in_distributed_mode": False,
        "l2_population": False,
        "devices": 0,
    },
}
agents_db.AgentDbMixin().create_or_update_agent(context.get_admin_context(), agent, timeutils.utcnow())
print(f"open vswitch agent recorded for {host}")
