"""The lab cloud's service catalogue, made idempotently with openstacksdk in one process: the service project,
one user per service (admin and service on that project), and the image, placement, compute, network and block storage (volumev3) services with their
public, internal and admin endpoints in REGION. Keystone's own endpoints come from keystone-manage bootstrap.
Usage: OS_PASSWORD=<admin> SERVICE_PASSWORD=<services> python3 services.py REGION"""
import os
import sys

from lab_cloud import admin

region = sys.argv[1]
conn = admin(region)
idn = conn.identity
admin_role = idn.find_role("admin")
# Service tokens carry it: Cinder lets only Nova, proven by a service token with this role, delete a volume
# attachment (OSSA-2023-003; cinder/volume/api.py attachment_deletion_allowed), so without it a deleted server's
# volume stays "in-use".
service_role = idn.find_role("service") or idn.create_role(name="service")
project = idn.find_project("service", domain_id="default") or idn.create_project(name="service", domain_id="default")
for name in ("glance", "placement", "nova", "neutron", "cinder"):
    user = idn.find_user(name, domain_id="default")
    # Made once with the password kept in the cloud's secrets; never set again: a password change revokes the
    # user's tokens, and a running service that holds one would then fail its next call (401).
    if user is None:
        user = idn.create_user(name=name, password=os.environ["SERVICE_PASSWORD"], domain_id="default")
    idn.assign_project_role_to_user(project, user, admin_role)
    idn.assign_project_role_to_user(project, user, service_role)

SERVICES = {
    "glance": ("image", "http://127.0.0.1:9292"),
    "placement": ("placement", "http://127.0.0.1:8778"),
    "nova": ("compute", "http://127.0.0.1:8774/v2.1"),
    "neutron": ("network", "http://127.0.0.1:9696"),
    "cinderv3": ("volumev3", "http://127.0.0.1:8776/v3/%(project_id)s"),
}
for name, (kind, url) in SERVICES.items():
    service = next((s for s in idn.services() if s.type == kind), None) or idn.create_service(name=name, type=kind)
    have = {(e.interface, e.region_id) for e in idn.endpoints(service_id=service.id)}
    for interface in ("public", "internal", "admin"):
        if (interface, region) not in have:
            idn.create_endpoint(service_id=service.id, interface=interface, url=url, region_id=region)
print(f"service catalogue ready in {region}")
