"""Hard-reboots one server of a project through Nova's API, as `openstack server reboot --hard` does, and waits
until Nova reports it ACTIVE again (the lab hypervisor has then powered its host off and booted it anew).
Usage: OS_PASSWORD=<admin> python3 reboot_server.py PROJECT SERVER"""
import os
import sys
import time

from lab_cloud import admin

conn = admin(os.environ.get("OS_REGION_NAME", "RegionOne"))
project = conn.identity.find_project(sys.argv[1], domain_id="default")
if project is None:
    sys.exit(f"no project {sys.argv[1]}")
matches = [s for s in conn.compute.servers(all_projects=True, project_id=project.id) if s.name == sys.argv[2]]
if len(matches) != 1:
    sys.exit(f"project {sys.argv[1]} has {len(matches)} servers named {sys.argv[2]}")
server = matches[0]
conn.compute.reboot_server(server, "HARD")
# Nova sets the task state at once; ACTIVE with no task means the driver's reboot returned.
conn.compute.wait_for_server(server, status="ACTIVE", interval=0.5, wait=180)
deadline = time.monotonic() + 180
while conn.compute.get_server(server.id).task_state is not None:
    if time.monotonic() > deadline:
        sys.exit(f"server {sys.argv[2]} still has a task after 180 s")
    time.sleep(0.5)
print(server.id)
