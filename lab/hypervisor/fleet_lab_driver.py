"""The lab's hypervisor, the one stand-in of the lab cloud: a Nova virt driver that keeps FakeDriver's bookkeeping
(resources, power states) and, for each server Nova spawns, boots a systemd-nspawn host (lab/hypervisor/cli.ts) on
the server's Neutron ports, seeded with the user data Nova holds. compute_driver = fleet_lab_driver.LabDriver, with
lab/hypervisor on PYTHONPATH and FLEET_LAB_REPO naming the checkout (nova.conf and cloud.sh set both).

What Nova does around these calls, and so what the lab follows (nova 26.2.2, Debian 12):
- spawn(): ComputeManager._build_and_run_instance calls it once the ports are bound and their network_info built
  (nova/compute/manager.py); network_info's VIFs carry the port id, MAC, fixed IPs, gateway and devname
  ("tap" + the first 11 characters of the port id, nova/network/neutron.py _nw_info_build_network) and the
  network's bridge ("brq" + the network id, cut to 14 characters, from the port's binding:vif_details; same
  function). As os-vif's linux_bridge plugin does for libvirt, the hypervisor plugs the tap into that bridge,
  making the bridge if it is missing: the Linux bridge agent leaves compute ports to Nova
  (neutron/plugins/ml2/drivers/linuxbridge/agent/linuxbridge_neutron_agent.py, _add_tap_interface: "It is owned by
  compute and thus will be added by nova") and only filters them and reports them up.
- a rebuild (an image change): this driver has no rebuild(), so ComputeManager._rebuild_default_impl destroys the
  guest and spawns it again on the same ports: a fresh disk, cloud-init runs as on a new machine.
- destroy() on delete, reboot(), power_off()/power_on() as a user or Nova asks.
- volumes mapped at boot (block_device_info): Nova has Cinder attach each one (attachment_update with this driver's
  connector) before spawn() and passes its connection_info; the lab's Cinder uses the NFS driver, whose
  connection_info names the share (export "host:/path") and the volume's file on it (data.name), as libvirt's NFS
  volume driver reads them. The lab's share is a directory of this machine, so the file is <path>/<name>; the
  hypervisor opens it as a loop device. A rebuild detaches and maps them again around destroy()/spawn(). Attaching
  to a running server (attach_volume) is FakeDriver's bookkeeping only: the host sees it from its next spawn.
- a resize (a flavor change; allow_resize_to_same_host, as on a one-host cloud): ComputeManager stops the guest
  (migrate_disk_and_power_off), "moves" its disk and boots it with the new flavor (finish_migration), then the
  user confirms (confirm_migration, nothing to clean on the same host) or reverts (finish_revert_migration). The
  disk, ports and addresses stay: the lab powers the same host off and on. (FakeDriver's finish_migration spawns
  afresh for its bookkeeping; spawning here would give the guest a new disk.)
"""
import base64
import json
import os

from nova.virt import driver as virt_driver

from nova.compute import power_state
from nova.virt import fake
from oslo_concurrency import processutils
from oslo_log import log as logging

LOG = logging.getLogger(__name__)
REPO = os.environ.get("FLEET_LAB_REPO", "")


def _hypervisor(*args, process_input=None):
    """Runs lab/hypervisor/cli.ts; processutils keeps nova-compute's other greenthreads running meanwhile."""
    cmd = ["/usr/bin/node", os.path.join(REPO, "node_modules", "tsx", "dist", "cli.mjs"),
           os.path.join(REPO, "lab", "hypervisor", "cli.ts"), *args]
    out, err = processutils.execute(*cmd, process_input=process_input, cwd=REPO)
    if err.strip():
        LOG.info("lab hypervisor %s: %s", args[0], err.strip())
    return out


def _disks(block_device_info):
    disks = []
    for bdm in virt_driver.block_device_info_get_mapping(block_device_info):
        info = bdm["connection_info"]
        if info.get("driver_volume_type") != "nfs":
            raise NotImplementedError(f"the lab hypervisor opens NFS volumes only, not {info.get('driver_volume_type')}")
        share_path = info["data"]["export"].split(":", 1)[1]
        disks.append({"serial": info.get("serial") or bdm.get("volume_id"),
                      "file": os.path.join(share_path, info["data"]["name"]), "device": bdm["mount_device"]})
    return disks


class LabDriver(fake.FakeDriver):
    def init_host(self, host):
        super().init_host(host)
        # Hosts outlive a restart of nova-compute: take back the ones that still run.
        for entry in json.loads(_hypervisor("list") or "[]"):
            state = power_state.RUNNING if entry["running"] else power_state.SHUTDOWN
            self.instances[entry["id"]] = fake.FakeInstance(entry["name"], state, entry["id"])

    def spawn(self, context, instance, image_meta, injected_files, admin_password, allocations,
              network_info=None, block_device_info=None, power_on=True, accel_info=None):
        super().spawn(context, instance, image_meta, injected_files, admin_password, allocations,
                      network_info, block_device_info, power_on, accel_info)
        nics = []
        for vif in network_info or []:
            subnets = []
            for subnet in vif["network"]["subnets"]:
                gateway = subnet.get("gateway") or {}
                subnets.append({
                    "cidr": subnet["cidr"],
                    "ips": [ip["address"] for ip in subnet["ips"]],
                    "gateway": gateway.get("address"),
                    "routes": [{"cidr": r["cidr"], "via": r["gateway"]["address"]} for r in subnet.get("routes", [])],
                })
            nics.append({"port": vif["id"], "mac": vif["address"], "devname": vif["devname"],
                         "network": vif["network"]["id"], "bridge": vif["network"]["bridge"],
                         "mtu": vif["network"].get("meta", {}).get("mtu"), "subnets": subnets})
        user_data = base64.b64decode(instance.user_data).decode() if instance.user_data else ""
        spec = {"id": instance.uuid, "name": instance.hostname or instance.display_name, "userData": user_data,
                "nics": nics, "disks": _disks(block_device_info), "powerOn": bool(power_on)}
        _hypervisor("spawn", process_input=json.dumps(spec))

    def destroy(self, context, instance, network_info, block_device_info=None, destroy_disks=True,
                destroy_secrets=True):
        _hypervisor("destroy", instance.uuid)
        super().destroy(context, instance, network_info, block_device_info, destroy_disks, destroy_secrets)

    def reboot(self, context, instance, network_info, reboot_type, block_device_info=None,
               bad_volumes_callback=None, accel_info=None):
        _hypervisor("reboot", instance.uuid)
        super().reboot(context, instance, network_info, reboot_type, block_device_info, bad_volumes_callback,
                       accel_info)

    def power_off(self, instance, timeout=0, retry_interval=0):
        _hypervisor("power-off", instance.uuid)
        super().power_off(instance, timeout, retry_interval)

    def power_on(self, context, instance, network_info, block_device_info=None, accel_info=None):
        _hypervisor("power-on", instance.uuid)
        super().power_on(context, instance, network_info, block_device_info, accel_info)

    def migrate_disk_and_power_off(self, context, instance, dest, flavor, network_info, block_device_info=None,
                                   timeout=0, retry_interval=0):
        _hypervisor("power-off", instance.uuid)
        return super().migrate_disk_and_power_off(context, instance, dest, flavor, network_info, block_device_info,
                                                  timeout, retry_interval)

    def finish_migration(self, context, migration, instance, disk_info, network_info, image_meta, resize_instance,
                         allocations, block_device_info=None, power_on=True):
        # FakeDriver's own spawn() only does the bookkeeping (the instance on this node, its power state).
        fake.FakeDriver.spawn(self, context, instance, image_meta, None, None, allocations, network_info,
                              block_device_info, power_on)
        if power_on:
            _hypervisor("power-on", instance.uuid)

    def finish_revert_migration(self, context, instance, network_info, migration, block_device_info=None,
                                power_on=True):
        super().finish_revert_migration(context, instance, network_info, migration, block_device_info, power_on)
        if power_on:
            _hypervisor("power-on", instance.uuid)
