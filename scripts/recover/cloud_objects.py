"""Prints, as JSON, what the current project holds that an interrupted `pulumi up` may have created: servers (with
their ports), ports, floating IPs, security groups and their rules, networks, subnets, routers (and their extra
routes) and volumes. openstacksdk reads
the credentials the provider uses (OS_* or OS_CLOUD with clouds.yaml); it only lists, never changes anything."""
import json

import openstack


def main():
    conn = openstack.connect()
    ports = list(conn.network.ports(project_id=conn.current_project_id))
    by_device = {}
    for p in ports:
        by_device.setdefault(p.device_id, []).append(p.id)
    rules = list(conn.network.security_group_rules(project_id=conn.current_project_id))
    routers = list(conn.network.routers(project_id=conn.current_project_id))
    print(json.dumps({
        "servers": [{"id": s.id, "name": s.name, "ports": sorted(by_device.get(s.id, []))} for s in conn.compute.servers()],
        "ports": [{"id": p.id, "name": p.name or ""} for p in ports],
        "floatingIps": [{"id": f.id, "description": f.description or "", "portId": f.port_id, "address": f.floating_ip_address}
                        for f in conn.network.ips(project_id=conn.current_project_id)],
        "securityGroups": [{"id": g.id, "name": g.name} for g in conn.network.security_groups(project_id=conn.current_project_id)],
        "securityGroupRules": [{"id": r.id, "securityGroupId": r.security_group_id, "direction": r.direction,
                                "ethertype": r.ether_type, "protocol": r.protocol, "portRangeMin": r.port_range_min,
                                "portRangeMax": r.port_range_max, "remoteIpPrefix": r.remote_ip_prefix,
                                "remoteGroupId": r.remote_group_id} for r in rules],
        "networks": [{"id": n.id, "name": n.name} for n in conn.network.networks(project_id=conn.current_project_id)],
        "subnets": [{"id": n.id, "name": n.name} for n in conn.network.subnets(project_id=conn.current_project_id)],
        "routers": [{"id": n.id, "name": n.name} for n in routers],
        "routerRoutes": [{"routerId": r.id, "destination": x["destination"], "nexthop": x["nexthop"]}
                         for r in routers for x in (r.routes or [])],
        # A cloud without block storage has no volumes to find.
        "volumes": [{"id": v.id, "name": v.name or ""} for v in conn.block_storage.volumes()]
        if conn.has_service("block-storage") else [],
    }, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
