"""Deletes everything a lab stack's project holds in the lab cloud (servers, floating IPs, ports, routers, networks,
security groups), with openstacksdk's project_cleanup, as the project's own user: what `lab down` does when a
stack's state is gone or cannot be destroyed. Prints one JSON line: how many objects were left before and after.
Usage: python3 purge.py < {"project": "lab-dev", "user": "lab-dev", "password": "...", "region": "DFW3"}"""
import json
import sys

from lab_cloud import connect

spec = json.load(sys.stdin)
conn = connect(spec["user"], spec["password"], spec["project"], spec["region"])


def count():
    return (
        len(list(conn.compute.servers()))
        + len(list(conn.network.ips(project_id=conn.current_project_id)))
        + len([p for p in conn.network.ports(project_id=conn.current_project_id)])
        + len(list(conn.network.routers(project_id=conn.current_project_id)))
        + len(list(conn.network.networks(project_id=conn.current_project_id)))
        + len([g for g in conn.network.security_groups(project_id=conn.current_project_id) if g.name != "default"])
    )


before = count()
if before:
    conn.project_cleanup(dry_run=False, wait_timeout=180)
print(json.dumps({"before": before, "after": count()}))
