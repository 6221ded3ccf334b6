/**
 * The sample app (app/server.py) starts without asking DNS anything. Python's HTTPServer looks its own host name up
 * when it binds (socket.getfqdn), and where no resolver answers and the name is not in /etc/hosts, as on the lab's
 * hosts, that lookup held every start for the resolver's timeout: the whole of a 5 s health check, so a rollback
 * after a failed release could find the old one "NOT healthy either". Checked from outside: a network namespace
 * whose only nameserver sits behind a host that counts and drops everything.
 */
import { spawnSync } from "child_process";
import { mkdirSync, rmSync, writeFileSync } from "fs";
import * as path from "path";
import { describeLab } from "../guard";
import { REPO_ROOT } from "../../../lab/layout";
import { delNetns, inNs, must, run, tempNetns } from "../../../lab/sh";

describeLab(
  "the sample app's start",
  () => {
    const ns = tempNetns("app");
    const dns = tempNetns("dns");
    const etc = `/etc/netns/${ns}`;
    beforeAll(() => {
      must(["ip", "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", dns]);
      must(["ip", "-n", ns, "addr", "add", "10.9.9.2/24", "dev", "v0"]);
      must(["ip", "-n", ns, "link", "set", "v0", "up"]);
      must(["ip", "-n", ns, "route", "add", "default", "via", "10.9.9.1"]);
      must(["ip", "-n", dns, "addr", "add", "10.9.9.1/24", "dev", "v1"]);
      must(["ip", "-n", dns, "link", "set", "v1", "up"]);
      must(inNs(dns, ["iptables", "-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "DROP"]));
      mkdirSync(etc, { recursive: true });
      // `ip netns exec` shows this file as the namespace's /etc/resolv.conf.
      writeFileSync(path.join(etc, "resolv.conf"), "nameserver 10.9.9.1\noptions timeout:1 attempts:1\n");
    });
    afterAll(() => {
      delNetns(ns);
      delNetns(dns);
      rmSync(etc, { recursive: true, force: true });
    });

    const dnsQueries = () => Number(/^\s*(\d+)/m.exec(run(inNs(dns, ["iptables", "-L", "INPUT", "-v", "-x", "-n"])).stdout.split("\n")[2] ?? "")?.[1] ?? NaN);

    it.each([
      ["the app's own server", "server.Server", 0],
      ["Python's ThreadingHTTPServer, which the app used before (the control)", "ThreadingHTTPServer", 1],
    ])("%s: DNS queries sent while it binds", (_what, cls, expectSome) => {
      const before = dnsQueries();
      const script = [
        "import sys",
        `sys.path.insert(0, ${JSON.stringify(path.join(REPO_ROOT, "app"))})`,
        "import server",
        "from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler",
        `${cls}(("0.0.0.0", 0), BaseHTTPRequestHandler)`,
      ].join("\n");
      // A host name that no /etc/hosts holds, as on a fleet host whose name only the cloud knows.
      const r = spawnSync("ip", ["netns", "exec", ns, "unshare", "-u", "sh", "-c", 'hostname fl-no-such-host && exec python3 -c "$0"', script], {
        encoding: "utf8",
        timeout: 60_000,
      });
      expect([r.status, r.stderr]).toEqual([0, ""]);
      const sent = dnsQueries() - before;
      expect(expectSome ? sent > 0 : sent).toBe(expectSome ? true : 0);
    });
  },
  ["ip", "iptables", "unshare", "python3"],
);
