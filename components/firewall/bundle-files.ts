import { remoteScript } from "../remote/bundle";
import { HostFirewall } from "./render";

/**
 * The data files of the firewall-apply / firewall-confirm bundles (scriptCommand adds main.sh
 * and lib.sh). One place, so the component and the lab ship exactly the same bundle.
 */
export function applyFiles(fw: HostFirewall, timeoutSeconds: number): Record<string, string> {
  return {
    ipsets: fw.ipsets,
    "rules.v4": fw.rulesV4,
    "rules.v6": fw.rulesV6,
    hash: fw.hash,
    timeout: String(timeoutSeconds),
    "firewall-lib.sh": remoteScript("firewall-lib"),
    "firewall-revert.sh": remoteScript("firewall-revert"),
    "firewall-boot.sh": remoteScript("firewall-boot"),
  };
}

/** armId is firewall-apply's stdout: a new apply run means a new arm id, so confirm re-runs with it. */
export function confirmFiles(hash: string, armId: string): Record<string, string> {
  return { hash, arm_id: armId.trim(), "firewall-lib.sh": remoteScript("firewall-lib") };
}

/**
 * The ruleset hash firewall-confirm vouches for: it prints `rules <hash> confirmed …` (or `already confirmed`) only
 * after checking that the kernel runs those rules. The stack's `firewallHashes` come from here, not from the
 * renderer, so they never claim a ruleset the host was not seen running.
 */
export function confirmedHash(host: string, stdout: string): string {
  const m = /^rules ([0-9a-f]{16}) (?:already )?confirmed\b/m.exec(stdout);
  if (!m) throw new Error(`firewall-confirm on ${host} did not report a confirmed ruleset; it printed: ${JSON.stringify(stdout.slice(0, 200))}`);
  return m[1];
}
