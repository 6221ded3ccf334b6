/**
 * Lab suites need root and Debian daemons. Where they cannot run, they fail loudly
 * if LAB_REQUIRED=1 (CI) and otherwise announce, loudly, that they were skipped.
 */
import { spawnSync } from "child_process";

const NEEDED: Record<string, string> = {
  ip: "iproute2",
  sshd: "openssh-server",
  ssh: "openssh-client",
  iptables: "iptables",
  ipset: "ipset",
  openvpn: "openvpn",
  iperf3: "iperf3",
};

function which(cmd: string): boolean {
  for (const dir of ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin", "/usr/local/sbin"]) {
    if (spawnSync("test", ["-x", `${dir}/${cmd}`]).status === 0) return true;
  }
  return false;
}

/** Why the lab cannot run here, or undefined if it can. */
export function labUnavailable(needs: string[] = Object.keys(NEEDED)): string | undefined {
  if (process.getuid && process.getuid() !== 0) return "the lab needs root (network namespaces, iptables)";
  const missing = needs.filter((c) => !which(c));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((c) => NEEDED[c] ?? c))];
    return `missing ${missing.join(", ")}: apt-get install -y ${pkgs.join(" ")}`;
  }
  return undefined;
}

/** `describe` when the lab can run; otherwise a failing (LAB_REQUIRED=1) or loudly skipped suite. */
export function describeLab(title: string, body: () => void, needs?: string[]): void {
  const why = labUnavailable(needs);
  if (why === undefined) {
    describe(title, body);
    return;
  }
  if (process.env.LAB_REQUIRED === "1") {
    describe(title, () => {
      it("can run the lab", () => {
        throw new Error(`LAB_REQUIRED=1 but the lab cannot run: ${why}`);
      });
    });
    return;
  }
  // eslint-disable-next-line no-console
  console.warn(`\n*** LAB SUITE SKIPPED: ${title}: ${why} ***\n`);
  describe.skip(title, body);
}
