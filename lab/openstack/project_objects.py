"""Everything one project holds in the lab cloud, as the OpenStack API reports it, as one JSON document: servers
(status, flavor, image, addresses, the user data Nova holds), ports, floating IPs, networks, subnets, routers,
security groups and volumes (with the servers they are attached to). Tests read the cloud through this, from outside the program.
Usage: OS_PASSWORD=<admin> python3 project_objects.py PROJECT"""
import base64
import json
import os
import sys

from lab_cloud import admin

conn = admin(os.environ.get("OS_REGION_NAME", "RegionOne"))
project = conn.identity.find_project(sys.argv[1], domain_id="default")
if project is None:
    print(json.dumps({"servers": [], "ports": [], "floatingIps": [], "networks": [], "subnets": [], "routers": [], "securityGroups": [],
                      "volumes": []}))
    sys.exit(0)
pid = project.id
# Microversion 2.3 shows OS-EXT-SRV-ATTR:user_data to an admin (nova/api/openstack/compute/servers.py).
conn.compute.default_microversion = "2.3"
images = {i.id: i.name for i in conn.image.images()}
flavors = {f.id: f.name for f in conn.compute.flavors()}
servers = []
for s in conn.compute.servers(all_projects=True, project_id=pid):
    addresses = {net: [a["addr"] for a in addrs] for net, addrs in (s.addresses or {}).items()}
    flavor = s.flavor.get("original_name") or flavors.get(s.flavor.get("id"), s.flavor.get("id"))
    image = images.get((s.image or {}).get("id"), (s.image or {}).get("id"))
    ud = s.user_data
    servers.append(
        {
            "id": s.id,
            "name": s.name,
            "status": s.status,
            "flavor": flavor,
            "image": image,
            "addresses": addresses,
            "userData": base64.b64decode(ud).decode() if ud else None,
        }
    )
ports = [
    {
        "name": p.name,
        "fixedIps": [f["ip_address"] for f in p.fixed_ips],
        "mac": p.mac_address,
        "deviceOwner": p.device_owner,
        "deviceId": p.device_id,
        "securityGroups": sorted(p.security_group_ids or []),
    }
    for p in conn.network.ports(project_id=pid)
]
fips = [
    {"address": f.floating_ip_address, "fixedIp": f.fixed_ip_address, "portId": f.port_id}
    for f in conn.network.ips(project_id=pid)
]
networks = [n.name for n in conn.network.networks(project_id=pid)]
subnets = [{"name": s.name, "cidr": s.cidr} for s in conn.network.subnets(project_id=pid)]
routers = [
    {"name": r.name, "externalGateway": bool(r.external_gateway_info), "routes": r.routes or []}
    for r in conn.network.routers(project_id=pid)
]
groups = [
    {"name": g.name, "rules": len(g.security_group_rules or [])} for g in conn.network.security_groups(project_id=pid)
]
volumes = [
    {"id": v.id, "name": v.name, "status": v.status, "size": v.size,
     "attachedTo": sorted(a["server_id"] for a in (v.attachments or []))}
    for v in conn.block_storage.volumes(all_projects=True, project_id=pid)
]
print(
    json.dumps(
        {
            "servers": sorted(servers, key=lambda s: s["name"]),
            "ports": sorted(ports, key=lambda p: p["name"]),
            "floatingIps": sorted(fips, key=lambda f: f["address"]),
            "networks": sorted(networks),
            "subnets": sorted(subnets, key=lambda s: s["name"]),
            "routers": routers,
            "securityGroups": sorted(groups, key=lambda g: g["name"]),
            "volumes": sorted(volumes, key=lambda v: v["name"] or ""),
        }
    )
)
