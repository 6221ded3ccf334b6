/**
 * What the remote scripts print on their last line once they have checked the host, as the mocks answer for them:
 * one place for the formats the components parse (firewall-confirm.sh, deploy-activate.sh, vpn-configure.sh).
 */
export const hostReports = {
  /** firewall-apply.sh: the id of the revert it armed. */
  firewallArmed: (armId: string) => `${armId}\n`,
  /** firewall-confirm.sh: the ruleset the kernel runs. */
  firewallConfirmed: (hash: string) => `rules ${hash} confirmed and saved to /etc/iptables; the kernel runs them (digest 0123456789abcdef)\n`,
  /** deploy-activate.sh, after the health check: the release it made live. */
  releaseLive: (app: string, host: string, release: string, previous?: string) =>
    `${app} on ${host}: release ${release} is live (${previous ? `previous: ${previous}` : "first release"})\n`,
  /** vpn-configure.sh: the engineers the running daemon admits. */
  vpnAdmits: (names: string[]) => `vpn allow-list 0123456789abcdef live in openvpn pid 4242, admits: ${names.join(",")}\n`,
};
