"""What one lab stack needs from the lab cloud, made idempotently with openstacksdk in one process, from a JSON spec
on stdin (lab/openstack/index.ts derives it from the stack's config):
  {"region": "DFW3", "project": "lab-dev", "user": "lab-dev", "password": "...",
   "flavors": [{"name": "gp.0.1.2", "vcpus": 1, "ram": 2048, "disk": 10}], "images": ["Ubuntu 24.04"],
   "externalNetwork": {"name": "PUBLICNET", "cidr": "198.51.100.0/24", "gateway": "198.51.100.1",
                       "poolStart": "198.51.100.10", "poolEnd": "198.51.100.250"}}
The region gets the endpoints of every service the services' region has; the project and its user (role member)
are the stack's tenant, as a Rackspace Flex account is. Prints one JSON line: what it created.
Usage: OS_PASSWORD=<admin> python3 catalogue.py SERVICES_REGION < spec.json"""
import json
import sys

import openstack
from lab_cloud import admin, connect

spec = json.load(sys.stdin)
services_region = sys.argv[1]
conn = admin(services_region)
idn = conn.identity
made = []

region = spec["region"]
if idn.find_region(region) is None:
    idn.create_region(id=region)
    made.append(f"region {region}")
for service in idn.services():
    endpoints = list(idn.endpoints(service_id=service.id))
    have = {e.interface for e in endpoints if e.region_id == region}
    for e in endpoints:
        if e.region_id == services_region and e.interface not in have:
            idn.create_endpoint(service_id=service.id, interface=e.interface, url=e.url, region_id=region)
            have.add(e.interface)
            made.append(f"endpoint {service.type}/{e.interface}")

project = idn.find_project(spec["project"], domain_id="default")
if project is None:
    project = idn.create_project(name=spec["project"], domain_id="default", description="a lab stack's tenant")
    made.append(f"project {spec['project']}")
user = idn.find_user(spec["user"], domain_id="default")
if user is None:
    user = idn.create_user(name=spec["user"], password=spec["password"], domain_id="default", default_project_id=project.id)
    made.append(f"user {spec['user']}")
else:
    # Set again only when it no longer works (a new stack directory): a password change revokes the user's tokens.
    try:
        connect(spec["user"], spec["password"], spec["project"]).authorize()
    except openstack.exceptions.SDKException:
        idn.update_user(user, password=spec["password"])
member = idn.find_role("member")
if not idn.validate_user_has_project_role(project, user, member):
    idn.assign_project_role_to_user(project, user, member)

compute = conn.compute
for f in spec["flavors"]:
    if compute.find_flavor(f["name"]) is None:
        compute.create_flavor(name=f["name"], vcpus=f["vcpus"], ram=f["ram"], disk=f["disk"], is_public=True)
        made.append(f"flavor {f['name']}")

for name in spec["images"]:
    if conn.image.find_image(name) is None:
        # FakeDriver boots nothing: a 1 MiB raw image is enough for Nova and Glance to treat it as an image.
        conn.image.create_image(
            name=name, disk_format="raw", container_format="bare", visibility="public", data=b"\0" * (1 << 20)
        )
        made.append(f"image {name}")

ext = spec["externalNetwork"]
net = conn.network.find_network(ext["name"])
if net is None:
    net = conn.network.create_network(
        name=ext["name"], is_router_external=True, provider_network_type="flat", provider_physical_network="public"
    )
    made.append(f"network {ext['name']}")
if not any(s.cidr == ext["cidr"] for s in conn.network.subnets(network_id=net.id)):
    conn.network.create_subnet(
        name=f"{ext['name']}-v4",
        network_id=net.id,
        ip_version=4,
        cidr=ext["cidr"],
        gateway_ip=ext["gateway"],
        is_dhcp_enabled=False,
        allocation_pools=[{"start": ext["poolStart"], "end": ext["poolEnd"]}],
    )
    made.append(f"subnet {ext['cidr']}")

print(json.dumps({"made": made, "project": project.id}))
