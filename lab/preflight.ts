/**
 * Can the lab run here? Root (namespaces, iptables) and the Debian tools it
 * drives. One answer for the CLI and for the lab test suites.
 */
import { spawnSync } from "child_process";

/** command -> the Debian package that provides it */
export const NEEDED: Record<string, string> = {
  ip: "iproute2",
  nsenter: "util-linux",
  unshare: "util-linux",
  sshd: "openssh-server",
  ssh: "openssh-client",
  "ssh-keygen": "openssh-client",
  useradd: "passwd",
  iptables: "iptables",
  ipset: "ipset",
  openvpn: "openvpn",
  iperf3: "iperf3",
  "systemd-nspawn": "systemd-container",
  debootstrap: "debootstrap",
};

/** What `lab up` itself needs; suites ask for more (iptables, openvpn...). */
export const LAB_CORE = ["ip", "nsenter", "ssh", "ssh-keygen", "systemd-nspawn", "debootstrap"];

function which(cmd: string): boolean {
  for (const dir of ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin", "/usr/local/sbin"]) {
    if (spawnSync("test", ["-x", `${dir}/${cmd}`]).status === 0) return true;
  }
  return false;
}

/** Why the lab cannot run here, or undefined if it can. */
export function labUnavailable(needs: string[] = Object.keys(NEEDED)): string | undefined {
  if (process.getuid && process.getuid() !== 0) return "the lab needs root (network namespaces, iptables): run it as root, e.g. sudo npm run lab -- up";
  const missing = needs.filter((c) => !which(c));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((c) => NEEDED[c] ?? c))];
    return `missing ${missing.join(", ")}: apt-get install -y ${pkgs.join(" ")}`;
  }
  return undefined;
}
