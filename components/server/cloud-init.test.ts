import { spawnSync } from "child_process";
import { requireTool } from "../../test/unit/support/tools";
import { mkdtempSync, readFileSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { parse } from "yaml";
import { renderCloudInit, renderSshdConfig, CloudInitInput, READY_MARKER, volumeDevice } from "./cloud-init";

const base: CloudInitInput = {
  hostname: "app-1",
  role: "app",
  hostKey: {
    privateOpenssh: "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    publicOpenssh: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyForTests\n",
  },
  adminPublicKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdminKeyForTests\n"],
  packages: ["iptables", "ipset", "curl"],
  allowTcpForwarding: false,
  routes: [{ to: "10.8.0.0/24", via: "10.20.0.10" }],
};
const VOLUME = { device: "/dev/disk/by-id/virtio-55a66506-6026-48c2-9", mountPoint: "/srv/data", filesystem: "xfs" };

describe("renderCloudInit", () => {
  it("renders the expected user-data", () => {
    expect(renderCloudInit(base)).toMatchSnapshot();
  });

  it("is deterministic and independent of list order", () => {
    const shuffled = { ...base, packages: ["curl", "ipset", "iptables", "curl"] };
    expect(renderCloudInit(shuffled)).toBe(renderCloudInit(base));
  });

  it("installs the stack's host key and disables passwords", () => {
    const doc = parse(renderCloudInit(base));
    expect(doc.ssh_keys.ed25519_private).toContain("BEGIN OPENSSH PRIVATE KEY");
    expect(doc.ssh_keys.ed25519_public).toBe(base.hostKey.publicOpenssh.trim());
    expect(doc.ssh_genkeytypes).toEqual(["ed25519"]);
    expect(doc.ssh_pwauth).toBe(false);
    expect(doc.users[0].ssh_authorized_keys).toEqual([base.adminPublicKeys[0].trim()]);
  });

  it("writes the readiness marker as the very last step", () => {
    const doc = parse(renderCloudInit(base));
    expect(doc.runcmd[doc.runcmd.length - 1]).toEqual(["cp", "/etc/fleet/role", READY_MARKER]);
  });

  describe("with a data volume", () => {
    const doc = () => parse(renderCloudInit({ ...base, volume: VOLUME }));
    it("hands fleet-volume its device, mount point and filesystem, and installs the script from components/server", () => {
      const files = doc().write_files as { path: string; content: string }[];
      expect(files.find((f) => f.path === "/etc/fleet/volume")!.content).toBe(`${VOLUME.device} /srv/data xfs\n`);
      expect(files.find((f) => f.path === "/usr/local/sbin/fleet-volume")!.content).toBe(readFileSync(path.join(__dirname, "fleet-volume.sh"), "utf8"));
      expect(doc().packages).toContain("xfsprogs");
    });
    it("is never ready unless the volume mounted, and mounts it again on every boot", () => {
      expect(doc().runcmd.at(-1)).toEqual(["sh", "-c", `/usr/local/sbin/fleet-volume && cp /etc/fleet/role ${READY_MARKER}`]);
      expect(doc().bootcmd.at(-1)).toEqual(["sh", "-c", "[ ! -x /usr/local/sbin/fleet-volume ] || /usr/local/sbin/fleet-volume"]);
    });
    it("names the disk as udev does for a virtio serial: the first 20 characters of the volume id", () => {
      expect(volumeDevice("55a66506-6026-48c2-93a3-68f30f46d036")).toBe("/dev/disk/by-id/virtio-55a66506-6026-48c2-9");
    });
  });

  it.each([
    [true, "AllowTcpForwarding local"],
    [false, "AllowTcpForwarding no"],
  ])("TCP forwarding %s → %s", (allow, line) => {
    expect(renderSshdConfig(allow)).toContain(line);
    expect(parse(renderCloudInit({ ...base, allowTcpForwarding: allow })).write_files[0].content).toContain(line);
  });

  it("hardened sshd: keys only, AEAD ciphers only", () => {
    const conf = renderSshdConfig(false);
    expect(conf).toMatch(/^PasswordAuthentication no$/m);
    expect(conf).toMatch(/^PermitRootLogin prohibit-password$/m);
    const ciphers = conf.match(/^Ciphers (.*)$/m)![1].split(",");
    for (const c of ciphers) expect(c).toMatch(/gcm|poly1305/);
  });

  it("passes the real `cloud-init schema` check", () => {
    requireTool("cloud-init");
    const dir = mkdtempSync(path.join(tmpdir(), "fleet-ci-"));
    const cases: [string, CloudInitInput][] = [
      ["private", base],
      ["gateway", { ...base, hostname: "gw-1", role: "gateway", allowTcpForwarding: true, routes: [], packages: ["openvpn"] }],
      ["stateful", { ...base, hostname: "db-1", role: "db", volume: VOLUME }],
    ];
    for (const [name, input] of cases) {
      const file = path.join(dir, `${name}.yaml`);
      writeFileSync(file, renderCloudInit(input));
      const r = spawnSync("cloud-init", ["schema", "-c", file], { encoding: "utf8" });
      expect({ name, code: r.status, out: `${r.stdout}${r.stderr}`.trim() }).toEqual({
        name,
        code: 0,
        out: expect.stringMatching(/^Valid (schema|cloud-config)/),
      });
    }
  });
});
