import { stringify } from "yaml";
import { remoteScript } from "../remote/bundle";

export interface CloudInitInput {
  hostname: string;
  role: string;
  /** The stack-generated ED25519 host key, so connections can pin it from the first dial. */
  hostKey: { privateOpenssh: string; publicOpenssh: string };
  /** Keys allowed to log in as root (key-only). */
  adminPublicKeys: string[];
  packages: string[];
  /** Only the jump host forwards TCP (ProxyJump); everywhere else it is off. */
  allowTcpForwarding: boolean;
  /** Static routes, e.g. the VPN subnet via the gateway. */
  routes: { to: string; via: string }[];
  /** A data volume to format when empty and mount (components/server/fleet-volume.sh). */
  volume?: { device: string; mountPoint: string; filesystem: string };
}

/**
 * The name a Cinder volume's disk gets in the guest: udev's link from the virtio serial, which Nova sets to the
 * volume id and the virtio-blk driver cuts to 20 characters. Device letters (/dev/vdb) follow attach order instead.
 */
export const volumeDevice = (volumeId: string) => `/dev/disk/by-id/virtio-${volumeId.slice(0, 20)}`;

export const READY_MARKER = "/var/lib/fleet/cloud-init.done";
export const SSHD_DROP_IN = "/etc/ssh/sshd_config.d/10-fleet.conf";

/** AEAD ciphers and modern KEX only; all of them are spoken by OpenSSH and by the Go SSH client of @pulumi/command. */
export function renderSshdConfig(allowTcpForwarding: boolean): string {
  return [
    "# Managed by the fleet stack. Keys only; root logs in with the stack's admin key.",
    "HostKey /etc/ssh/ssh_host_ed25519_key",
    "PermitRootLogin prohibit-password",
    "PubkeyAuthentication yes",
    "AuthenticationMethods publickey",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PermitEmptyPasswords no",
    "X11Forwarding no",
    "AllowAgentForwarding no",
    // Unix-socket forwarding would reach local control sockets (OpenVPN's management socket) past the firewall.
    "AllowStreamLocalForwarding no",
    // Compression before encryption leaks through sizes, and gains nothing on a LAN.
    "Compression no",
    "PermitTunnel no",
    "GatewayPorts no",
    `AllowTcpForwarding ${allowTcpForwarding ? "local" : "no"}`,
    "MaxAuthTries 3",
    "LoginGraceTime 20",
    "ClientAliveInterval 30",
    "ClientAliveCountMax 4",
    "Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com",
    "KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org",
    "MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com",
    "",
  ].join("\n");
}

// Appended, not inserted: at the first boot it lands before any firewall (which then inserts its jump at the
// top), and after a reboot the fleet-firewall unit has already restored that jump, so both give the same order.
const CONNTRACK_FROM_BOOT = [
  "for t in iptables ip6tables; do",
  "command -v $t >/dev/null || continue;",
  "$t -w -C INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT 2>/dev/null ||",
  "$t -w -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT;",
  "done",
].join(" ");

/**
 * On hosts without systemd there are no units to bring back the confirmed firewall and the VPN server, but
 * cloud-init's bootcmd runs on every boot: run the boot scripts firewall-apply and vpn-configure installed
 * (firewall first, so the VPN never listens unprotected). With systemd the fleet-firewall and
 * openvpn-server@fleet units do this, so it is skipped there. The scripts now refuse a host without systemd, so
 * this only matters for hosts set up by earlier versions; it stays because it is part of every server's user data,
 * and changing that replaces the instance (README "Known limits").
 */
const NO_SYSTEMD_BOOT = [
  "[ -d /run/systemd/system ] && exit 0;",
  "f=/var/lib/fleet/firewall/bin/firewall-boot.sh;",
  '[ ! -f "$f" ] || bash "$f" /etc/iptables || echo "fleet: restoring the firewall at boot failed" >&2;',
  "v=/etc/openvpn/server/vpn-boot.sh;",
  '[ ! -f "$v" ] || bash "$v" || echo "fleet: starting openvpn at boot failed" >&2',
].join(" ");

/** Pure: the #cloud-config user-data of one server. Same input, same bytes. */
export function renderCloudInit(input: CloudInitInput): string {
  const routes = [...input.routes].sort((a, b) => a.to.localeCompare(b.to));
  const v = input.volume;
  const doc = {
    hostname: input.hostname,
    preserve_hostname: false,
    disable_root: false,
    ssh_pwauth: false,
    ssh_deletekeys: true,
    ssh_genkeytypes: ["ed25519"],
    ssh_keys: {
      ed25519_private: input.hostKey.privateOpenssh,
      ed25519_public: input.hostKey.publicOpenssh.trim(),
    },
    users: [{ name: "root", lock_passwd: true, ssh_authorized_keys: [...input.adminPublicKeys].map((k) => k.trim()).sort() }],
    package_update: true,
    packages: [...new Set([...input.packages, ...(v?.filesystem === "xfs" ? ["xfsprogs"] : [])])].sort(),
    write_files: [
      { path: SSHD_DROP_IN, permissions: "0644", owner: "root:root", content: renderSshdConfig(input.allowTcpForwarding) },
      {
        path: "/etc/fleet/role",
        permissions: "0644",
        owner: "root:root",
        content: `${input.role}\n`,
      },
      {
        path: "/etc/fleet/routes",
        permissions: "0644",
        owner: "root:root",
        content: routes.map((r) => `${r.to} ${r.via}\n`).join(""),
      },
      { path: "/usr/local/sbin/fleet-routes", permissions: "0755", owner: "root:root", content: remoteScript("fleet-routes") },
      ...(v
        ? [
            { path: "/etc/fleet/volume", permissions: "0644", owner: "root:root", content: `${v.device} ${v.mountPoint} ${v.filesystem}\n` },
            { path: "/usr/local/sbin/fleet-volume", permissions: "0755", owner: "root:root", content: remoteScript("fleet-volume") },
          ]
        : []),
    ],
    bootcmd: [
      // Make conntrack follow every connection from boot. Without a conntrack rule the kernel does not track a
      // namespace's connections, so the first firewall apply would see live sessions (the engine's SSH through the
      // jump host) as NEW mid-stream packets and reset them.
      ["sh", "-c", CONNTRACK_FROM_BOOT],
      // Every boot: re-add the static routes (bootcmd runs on each boot, runcmd only on the first).
      ["sh", "-c", "[ ! -x /usr/local/sbin/fleet-routes ] || /usr/local/sbin/fleet-routes &"],
      ["sh", "-c", NO_SYSTEMD_BOOT],
      // Every later boot: mount the data volume before the services that use it start.
      ...(v ? [["sh", "-c", "[ ! -x /usr/local/sbin/fleet-volume ] || /usr/local/sbin/fleet-volume"]] : []),
    ],
    runcmd: [
      ["/usr/local/sbin/fleet-routes"],
      // Pick up the sshd drop-in where sshd was started before write_files ran (systemd hosts).
      ["sh", "-c", "if [ -d /run/systemd/system ]; then systemctl reload ssh || systemctl reload sshd || true; fi"],
      ["mkdir", "-p", "/var/lib/fleet"],
      // Last step: the readiness marker that wait-ready.sh waits for; a server whose data volume did not mount is
      // never ready.
      v ? ["sh", "-c", `/usr/local/sbin/fleet-volume && cp /etc/fleet/role ${READY_MARKER}`] : ["cp", "/etc/fleet/role", READY_MARKER],
    ],
  };
  return `#cloud-config\n${stringify(doc, { lineWidth: 0, sortMapEntries: false })}`;
}
