"""Port churn against the lab cloud's Linux bridge agent, as the cloud's admin: boot a server, update its port
(as a security-group or address-pair change does), then boot another and report whether the agent still wires
new ports. Prints JSON; always deletes what it made.

Usage: agent_churn.py REGION   (OS_PASSWORD in the environment, as lab/openstack/index.ts adminPython passes it)
"""
import json
import sys
import time

sys.path.insert(0, sys.argv[2] if len(sys.argv) > 2 else "lab/openstack")
import lab_cloud  # noqa: E402

NAME = "agent-churn"
WAIT = 90  # seconds: a healthy agent wires a port in 2-5 s here


def wait(what, test, limit=WAIT):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = test()
        if value:
            return value
        time.sleep(0.5)
    return None


def port_status(conn, port_id):
    return conn.network.get_port(port_id).status


def boot(conn, net, image, flavor, n):
    port = conn.network.create_port(network_id=net.id, name=f"{NAME}-{n}")
    server = conn.compute.create_server(name=f"{NAME}-{n}", image_id=image.id, flavor_id=flavor.id, networks=[{"port": port.id}])
    active = wait("server", lambda: conn.compute.get_server(server.id).status in ("ACTIVE", "ERROR"))
    started = time.monotonic()
    wired = wait("port", lambda: port_status(conn, port.id) == "ACTIVE")
    return {
        "server": conn.compute.get_server(server.id).status if active else "timeout",
        "port": port_status(conn, port.id),
        "wiredInSeconds": round(time.monotonic() - started, 1) if wired else None,
        "portId": port.id,
    }


def clean(conn):
    for s in conn.compute.servers(all_projects=False, name=f"^{NAME}-"):
        conn.compute.delete_server(s.id)
        conn.compute.wait_for_delete(s, wait=120)
    for n in conn.network.networks(name=NAME):
        for p in conn.network.ports(network_id=n.id, device_owner=""):
            conn.network.delete_port(p.id)
        for sn in conn.network.subnets(network_id=n.id):
            conn.network.delete_subnet(sn.id)
        conn.network.delete_network(n.id)
    for i in conn.image.images(name=NAME):
        conn.image.delete_image(i.id)
    for f in (f for f in conn.compute.flavors() if f.name == NAME):
        conn.compute.delete_flavor(f.id)


def main():
    conn = lab_cloud.admin(sys.argv[1])
    clean(conn)
    out = {}
    try:
        image = conn.image.create_image(name=NAME, disk_format="raw", container_format="bare", data=b"\0" * 4096)
        flavor = conn.compute.create_flavor(name=NAME, vcpus=1, ram=512, disk=1)
        net = conn.network.create_network(name=NAME)
        conn.network.create_subnet(network_id=net.id, name=NAME, ip_version=4, cidr="10.250.0.0/24")
        out["first"] = boot(conn, net, image, flavor, 1)
        # The agent handles a port update by setting up its ARP and MAC spoofing rules again, which first deletes
        # the port's existing MAC rule (neutron/plugins/ml2/drivers/linuxbridge/agent/arp_protect.py).
        conn.network.update_port(out["first"]["portId"], allowed_address_pairs=[{"ip_address": "10.250.0.200"}])
        out["second"] = boot(conn, net, image, flavor, 2)
    finally:
        clean(conn)
    print(json.dumps(out))


main()
