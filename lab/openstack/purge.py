"""Deletes everything a lab stack's project holds in the lab cloud (servers, floating IPs, routers, ports, subnets,
networks, security groups, volumes) as the cloud's admin: what `lab down` does after `pulumi destroy`, for what a stack whose
state is gone or could not be destroyed left behind. It needs no stack file or password, only the project's name.
Volumes go too: a stack's are protected from Pulumi, not from the lab's cleanup. Prints one JSON line: how many objects there were before and after.
Usage: OS_PASSWORD=<admin> python3 purge.py PROJECT"""
import json
import os
import sys

from lab_cloud import admin

conn = admin(os.environ.get("OS_REGION_NAME", "RegionOne"))
project = conn.identity.find_project(sys.argv[1], domain_id="default")


def objects():
    if project is None:
        return {}
    pid = project.id
    net = conn.network
    return {
        "servers": list(conn.compute.servers(all_projects=True, project_id=pid)),
        "ips": list(net.ips(project_id=pid)),
        "routers": list(net.routers(project_id=pid)),
        "ports": list(net.ports(project_id=pid)),
        "subnets": list(net.subnets(project_id=pid)),
        "networks": list(net.networks(project_id=pid)),
        "groups": [g for g in net.security_groups(project_id=pid) if g.name != "default"],
        "volumes": list(conn.block_storage.volumes(all_projects=True, project_id=pid)),
    }


def count(objs):
    return sum(len(v) for v in objs.values())


found = objects()
before = count(found)
if before:
    for s in found["servers"]:
        conn.compute.delete_server(s.id)
    for s in found["servers"]:
        conn.compute.wait_for_delete(s, wait=180)
    for ip in found["ips"]:
        conn.network.delete_ip(ip.id)
    for r in found["routers"]:
        # A router goes once it has no interfaces and no extra routes (Neutron refuses it otherwise).
        conn.network.update_router(r.id, routes=[])
        for p in conn.network.ports(device_id=r.id, device_owner="network:router_interface"):
            conn.network.remove_interface_from_router(r.id, port_id=p.id)
        conn.network.delete_router(r.id)
    for p in conn.network.ports(project_id=project.id):
        if not p.device_owner.startswith("network:"):
            conn.network.delete_port(p.id)
    for s in found["subnets"]:
        conn.network.delete_subnet(s.id, ignore_missing=True)
    for n in found["networks"]:
        conn.network.delete_network(n.id, ignore_missing=True)
    for g in found["groups"]:
        conn.network.delete_security_group(g.id, ignore_missing=True)
    for v in found["volumes"]:
        # Its servers are gone, so Nova has detached it (its attachments deleted with the server).
        conn.block_storage.wait_for_status(conn.block_storage.get_volume(v.id), "available", failures=["error"], wait=120)
        conn.block_storage.delete_volume(v.id, ignore_missing=True)
print(json.dumps({"before": before, "after": count(objects())}))
