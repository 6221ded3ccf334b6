/**
 * Bad config: every mistake gets its own message naming the key path (as `pulumi config set --path` spells
 * it) and the bad value, all of them in one run, and the program registers nothing. Each case is a small
 * change to Pulumi.dev.yaml and lists the exact problems expected: [key, a fragment of the message].
 */
import { devRaw } from "./plan-support/configs";
import { loadProgram } from "./support/program";
import { parseFleetConfig } from "../../components/config/validate";
import { FleetConfigError } from "../../components/config/errors";
import { strayNamespaceWarnings } from "../../components/config/load";
import { parseStackYaml } from "../../components/config/stack-yaml";
import { installMocks, registered, resetRegistered, setConfig } from "./support/mocks";

installMocks();

type Raw = Record<string, any>;

function problemsOf(c: Raw): string[] {
  try {
    parseFleetConfig(c);
  } catch (e) {
    if (e instanceof FleetConfigError) return e.problems;
    throw e;
  }
  return [];
}
const mutated = (mutate: (c: Raw) => void) => {
  const c = devRaw();
  mutate(c);
  return c;
};
/** `fleet:vpn.port: must be …` → `fleet:vpn.port` */
const keyOf = (problem: string) => problem.slice(0, problem.indexOf(": "));

/** Runs index.ts with this config; returns what it threw (registrations are reset first). */
function programError(config: Record<string, unknown>): unknown {
  resetRegistered();
  setConfig(config);
  try {
    loadProgram();
  } catch (e) {
    return e;
  }
  return undefined;
}
const asProgramConfig = (c: Raw) => {
  const config: Record<string, unknown> = { "openstack:region": "DFW3" };
  for (const [k, v] of Object.entries(c)) config[`fleet:${k}`] = v;
  return config;
};

type Case = [title: string, mutate: (c: Raw) => void, expected: [key: string, fragment: string][]];
const SHA = "ab".repeat(32);

const cases: Case[] = [
  // servers
  ["duplicate server names", (c) => (c.servers[2].name = "web-1"), [["fleet:servers[2].name", '"web-1" is already the name of fleet:servers[1]']]],
  ["a name that is not a hostname", (c) => (c.servers[1].name = "Web_1"), [["fleet:servers[1].name", '"Web_1" is not a valid hostname']]],
  ["a hostname with a trailing dash", (c) => (c.servers[1].name = "web-"), [["fleet:servers[1].name", '"web-" is not a valid hostname']]],
  ["a server name that is a number", (c) => (c.servers[1].name = 7), [["fleet:servers[1].name", "must be text (got the number 7)"]]],
  ["a server without a name", (c) => delete c.servers[1].name, [["fleet:servers[1].name", "is required"]]],
  ["a server role that is not defined", (c) => (c.servers[5].role = "cache"), [["fleet:servers[5].role", 'role "cache" is not defined in fleet:roles']]],
  ["a server role that is not a role name", (c) => (c.servers[5].role = "Cache DB"), [["fleet:servers[5].role", '"Cache DB" is not a valid role name']]],
  [
    "a misspelt server key",
    (c) => (c.servers[0].flavour = "x"),
    [["fleet:servers[0].flavour", "unknown key; did you mean flavor? (known: name, role, flavor, image, privateIp)"]],
  ],
  ["a pinned address that is not one", (c) => (c.servers[5].privateIp = "10.20.0"), [["fleet:servers[5].privateIp", 'not an IPv4 address (got "10.20.0")']]],
  [
    "a pinned address outside the network",
    (c) => (c.servers[5].privateIp = "10.30.0.50"),
    [["fleet:servers[5].privateIp", "10.30.0.50 is outside the servers' range of fleet:network.cidr 10.20.0.0/24 (10.20.0.10 to 10.20.0.254)"]],
  ],
  [
    "a pinned address in the router's low range",
    (c) => (c.servers[5].privateIp = "10.20.0.1"),
    [["fleet:servers[5].privateIp", "10.20.0.1 is outside the servers' range of fleet:network.cidr 10.20.0.0/24"]],
  ],
  [
    "one address pinned twice",
    (c) => {
      c.servers[4].privateIp = "10.20.0.50";
      c.servers[5].privateIp = "10.20.0.50";
    },
    [["fleet:servers[5].privateIp", "10.20.0.50 is already pinned by fleet:servers[4]"]],
  ],
  [
    "a volume too small, on a system directory, with an unknown filesystem",
    (c) => (c.roles.db.volume = { size: 0, mountPoint: "/etc/db", filesystem: "btrfs" }),
    [
      ["fleet:roles.db.volume.size", "must be 1–16384 GiB (got 0)"],
      ["fleet:roles.db.volume.mountPoint", "must not be inside a system directory"],
      ["fleet:roles.db.volume.filesystem", 'must be one of ext4, xfs (got "btrfs")'],
    ],
  ],
  ["a relative mount point", (c) => (c.roles.db.volume = { size: 10, mountPoint: "data" }), [["fleet:roles.db.volume.mountPoint", "must be an absolute path"]]],
  [
    "a volume on the gateway",
    (c) => (c.roles.gateway = { volume: { size: 10, mountPoint: "/srv" } }),
    [["fleet:roles.gateway.volume", "the gateway keeps no data"]],
  ],
  [
    "retiring a server that is still listed, and one twice",
    (c) => (c.retire = ["db-1", "db-2", "db-2"]),
    [
      ["fleet:retire[0]", '"db-1" is still fleet:servers[5]; remove it there to retire it'],
      ["fleet:retire[2]", '"db-2" is listed twice'],
    ],
  ],
  ["retiring a name that is no hostname", (c) => (c.retire = ["DB_1"]), [["fleet:retire[0]", '"DB_1" is not a valid hostname']]],
  ["a server that is not a map", (c) => (c.servers[3] = "app-1"), [["fleet:servers[3]", 'must be a map of keys to values (got "app-1")']]],
  ["an empty server flavor", (c) => (c.servers[3].flavor = ""), [["fleet:servers[3].flavor", 'must not be empty (got "")']]],
  ["an empty server list", (c) => (c.servers = []), [["fleet:servers", "must list at least one server, the gateway"]]],
  ["servers as a map", (c) => (c.servers = { "gw-1": "gateway" }), [["fleet:servers", "must be a list"]]],
  ["no servers key", (c) => delete c.servers, [["fleet:servers", "is required"]]],
  ["no gateway", (c) => (c.servers[0].role = "web"), [["fleet:servers", 'exactly one server must have role "gateway"']]],
  [
    "two gateways",
    (c) => c.servers.push({ name: "gw-2", role: "gateway" }),
    [["fleet:servers", 'exactly one server must have role "gateway", the VPN gateway and jump host (found 2)']],
  ],
  // network
  [
    "an invalid CIDR",
    (c) => (c.network.cidr = "10.20.0.0/33"),
    [["fleet:network.cidr", 'not an IPv4 network in CIDR form like 10.20.0.0/24 (got "10.20.0.0/33")']],
  ],
  ["a CIDR with host bits", (c) => (c.network.cidr = "10.20.0.7/24"), [["fleet:network.cidr", '(got "10.20.0.7/24")']]],
  [
    "a CIDR too small for the servers",
    (c) => (c.network.cidr = "10.20.0.0/28"),
    [["fleet:network.cidr", "10.20.0.0/28 is too small for 6 servers (it fits 5"]],
  ],
  [
    "a DNS nameserver that is not an address",
    (c) => (c.network.dnsNameservers = ["dns.example.com"]),
    [["fleet:network.dnsNameservers[0]", '(got "dns.example.com")']],
  ],
  ["a misspelt network key", (c) => (c.network.cdir = "10.0.0.0/24"), [["fleet:network.cdir", "unknown key; did you mean cidr?"]]],
  ["network as text", (c) => (c.network = "10.20.0.0/24"), [["fleet:network", 'must be a map of keys to values (got "10.20.0.0/24")']]],
  // cloud
  ["an unknown cloud flavour", (c) => (c.cloud.flavour = "aws"), [["fleet:cloud.flavour", 'must be one of openstack, rackspace-classic (got "aws")']]],
  ["an empty image", (c) => (c.cloud.image = ""), [["fleet:cloud.image", 'must not be empty (got "")']]],
  ["an external network that is a number", (c) => (c.cloud.externalNetwork = 42), [["fleet:cloud.externalNetwork", "must be text (got the number 42)"]]],
  ["a misspelt cloud key", (c) => (c.cloud.flavors = "gp.0.1.2"), [["fleet:cloud.flavors", "unknown key; did you mean flavor?"]]],
  // roles and rules
  ["a rule source role that is not defined", (c) => (c.roles.db.allow[0].from = ["cache"]), [["fleet:roles.db.allow[0].from[0]", 'unknown role "cache"']]],
  ["a rule port above 65535", (c) => (c.roles.web.allow[0].ports = [80, 70000]), [["fleet:roles.web.allow[0].ports[1]", "1–65535 (got 70000)"]]],
  ["a rule port of 0", (c) => (c.roles.web.allow[0].ports = [0]), [["fleet:roles.web.allow[0].ports[0]", "1–65535 (got 0)"]]],
  [
    "a fractional port",
    (c) => (c.roles.web.allow[0].ports = [80.5]),
    [["fleet:roles.web.allow[0].ports[0]", "must be a whole number, a port in 1–65535 (got 80.5)"]],
  ],
  [
    "a port written as text",
    (c) => (c.roles.web.allow[0].ports = ["http"]),
    [["fleet:roles.web.allow[0].ports[0]", 'must be a port or a range "from-to" (got "http")']],
  ],
  [
    "a reversed port range",
    (c) => (c.roles.web.allow[0].ports = ["9000-8000"]),
    [["fleet:roles.web.allow[0].ports[0]", 'within 1–65535 with from <= to (got "9000-8000")']],
  ],
  ["a rule with no ports", (c) => (c.roles.web.allow[0].ports = []), [["fleet:roles.web.allow[0].ports", "must list at least one port (got [])"]]],
  ["a rule with no sources", (c) => (c.roles.web.allow[0].from = []), [["fleet:roles.web.allow[0].from", "must list at least one source"]]],
  ["an unknown protocol", (c) => (c.roles.web.allow[0].proto = "icmp"), [["fleet:roles.web.allow[0].proto", 'must be tcp or udp (got "icmp")']]],
  ["a source listed twice", (c) => (c.roles.app.allow[0].from = ["web", "web"]), [["fleet:roles.app.allow[0].from[1]", '"web" is listed twice in this rule']]],
  [
    "a port clash",
    (c) => c.roles.web.allow.push({ proto: "tcp", ports: ["440-450"], from: ["vpn"] }),
    [["fleet:roles.web.allow[1].ports[0]", "tcp 440-450 overlaps fleet:roles.web.allow[0]"]],
  ],
  [
    "a public port on a private role",
    (c) => (c.roles.db.allow[0].from = ["public"]),
    [["fleet:roles.db.allow[0].from[0]", '"public" on role "db", which the policy keeps private']],
  ],
  [
    "a rule reusing SSH",
    (c) => (c.roles.app.allow[0].ports = [22]),
    [["fleet:roles.app.allow[0].ports[0]", "includes tcp 22, reserved for the built-in SSH rule"]],
  ],
  [
    "a gateway rule reusing the VPN port",
    (c) => (c.roles.gateway.allow = [{ proto: "udp", ports: [1194], from: ["vpn"] }]),
    [["fleet:roles.gateway.allow[0].ports[0]", "includes the VPN port udp 1194"]],
  ],
  ["a private gateway", (c) => (c.roles.gateway.public = false), [["fleet:roles.gateway.public", "the gateway is always public (got false)"]]],
  ["public as yes", (c) => (c.roles.web.public = "yes"), [["fleet:roles.web.public", 'must be true or false (got "yes"): the stack file is YAML 1.2']]],
  ["a role name with capitals", (c) => (c.roles.Cache = { allow: [] }), [["fleet:roles.Cache", "a role name must be lowercase"]]],
  ["a role named vpn", (c) => (c.roles.vpn = { allow: [] }), [["fleet:roles.vpn", 'and not "vpn" or "public" (got "vpn")']]],
  ["a misspelt role key", (c) => (c.roles.web.alow = []), [["fleet:roles.web.alow", "unknown key; did you mean allow?"]]],
  ["a rule that is not a map", (c) => (c.roles.web.allow = ["80 from public"]), [["fleet:roles.web.allow[0]", "must be a map of keys to values"]]],
  // vpn
  ["a VPN port outside 1–65535", (c) => (c.vpn.port = 65536), [["fleet:vpn.port", "must be a port in 1–65535 (got 65536)"]]],
  ["a VPN on tcp/22", (c) => Object.assign(c.vpn, { proto: "tcp", port: 22 }), [["fleet:vpn.port", "tcp 22 is the gateway's SSH port"]]],
  ["an unknown VPN protocol", (c) => (c.vpn.proto = "wireguard"), [["fleet:vpn.proto", 'must be udp or tcp (got "wireguard")']]],
  ["an engineer name with a path", (c) => (c.vpn.engineers = ["alice", "../bob"]), [["fleet:vpn.engineers[1]", '"../bob" is not safe as a certificate CN']]],
  ["an engineer name with a space", (c) => (c.vpn.engineers = ["eve smith"]), [["fleet:vpn.engineers[0]", '"eve smith" is not safe']]],
  ["an engineer listed twice", (c) => (c.vpn.engineers = ["alice", "alice"]), [["fleet:vpn.engineers[1]", '"alice" is listed twice']]],
  ["engineers as text", (c) => (c.vpn.engineers = "alice, bob"), [["fleet:vpn.engineers", 'must be a list, e.g. [a, b] (got "alice, bob")']]],
  [
    "no adminCidrs (SSH to the gateway is never open to the world by default)",
    (c) => delete c.vpn.adminCidrs,
    [["fleet:vpn.adminCidrs", "is required: list the networks that may SSH to the gateway's public address, i.e. where `pulumi up` runs from"]],
  ],
  ["no fleet:vpn at all", (c) => delete c.vpn, [["fleet:vpn.adminCidrs", "There is no default: [0.0.0.0/0] would open SSH to the world"]]],
  ["an empty adminCidrs", (c) => (c.vpn.adminCidrs = []), [["fleet:vpn.adminCidrs", "must list at least one CIDR"]]],
  ["an adminCidr without a prefix", (c) => (c.vpn.adminCidrs = ["203.0.113.7"]), [["fleet:vpn.adminCidrs[0]", 'e.g. 203.0.113.7/32 (got "203.0.113.7")']]],
  [
    "overlapping VPN and server subnets",
    (c) => (c.vpn.subnet = "10.20.0.0/16"),
    [["fleet:vpn.subnet", "10.20.0.0/16 overlaps fleet:network.cidr 10.20.0.0/24"]],
  ],
  [
    "a VPN subnet too small",
    (c) => (c.vpn.subnet = "10.8.0.0/30"),
    [["fleet:vpn.subnet", "10.8.0.0/30 is too small for 2 engineers (it has room for 1 clients"]],
  ],
  [
    "a VPN subnet smaller than the team",
    (c) => Object.assign(c.vpn, { engineers: ["a1", "a2", "a3", "a4", "a5", "a6"], subnet: "10.8.0.0/29" }),
    [["fleet:vpn.subnet", "10.8.0.0/29 is too small for 6 engineers (it has room for 5 clients"]],
  ],
  [
    "a VPN subnet that is not a CIDR",
    (c) => (c.vpn.subnet = "10.8.0.0"),
    [["fleet:vpn.subnet", 'not an IPv4 network in CIDR form like 10.8.0.0/24 (got "10.8.0.0")']],
  ],
  ["a pushed DNS server that is a name", (c) => (c.vpn.dns = ["resolver"]), [["fleet:vpn.dns[0]", 'not an IPv4 address (got "resolver")']]],
  [
    "early renewal above the validity",
    (c) => Object.assign(c.vpn, { certValidityHours: 48, earlyRenewalHours: 720 }),
    [["fleet:vpn.earlyRenewalHours", "720 must be below fleet:vpn.certValidityHours (48)"]],
  ],
  ["a validity below a day", (c) => (c.vpn.certValidityHours = 12), [["fleet:vpn.certValidityHours", "must be at least 24 hours (got 12)"]]],
  [
    "a validity written as text",
    (c) => (c.vpn.certValidityHours = "1y"),
    [["fleet:vpn.certValidityHours", 'must be a number (got the text "1y"): write it without quotes']],
  ],
  // firewall
  ["a confirm timeout too short", (c) => (c.firewall.confirmTimeoutSeconds = 5), [["fleet:firewall.confirmTimeoutSeconds", "must be 10–3600 seconds (got 5)"]]],
  ["a misspelt firewall key", (c) => (c.firewall.confirmTimeout = 60), [["fleet:firewall.confirmTimeout", "unknown key; did you mean confirmTimeoutSeconds?"]]],
  // deploy
  [
    "a deploy revision that is a branch range",
    (c) => (c.deploy.source = { git: { url: "https://git.example.com/x.git", revision: "main..dev" } }),
    [["fleet:deploy.source.git", "revision must be a commit SHA"]],
  ],
  [
    "a revision YAML read as a number",
    (c) => (c.deploy.source = { git: { url: "https://git.example.com/x.git", revision: 1.1 } }),
    [["fleet:deploy.source.git.revision", 'must be text (got the number 1.1): YAML reads an unquoted 1.10 as 1.1; put the value in quotes, e.g. "1.10"']],
  ],
  [
    "a local deploy tree that does not exist",
    (c) => (c.deploy.source = { local: { path: "no-such-dir" } }),
    [["fleet:deploy.source.local", 'cannot read "no-such-dir"']],
  ],
  [
    "a source with both git and local",
    (c) => (c.deploy.source = { git: { url: "https://git.example.com/x.git", revision: "v1" }, local: { path: "app" } }),
    [["fleet:deploy.source", "must have exactly one of git, artifact or local, not git and local"]],
  ],
  ["a source with nothing", (c) => (c.deploy.source = {}), [["fleet:deploy.source", "must have exactly one of git, artifact or local (e.g."]]],
  [
    "an artifact digest that is not hex",
    (c) => (c.deploy.source = { artifact: { url: "https://dl.example.com/a.tar", sha256: "xyz" } }),
    [["fleet:deploy.source.artifact.sha256", 'must be a sha256 digest: 64 hex digits, as `sha256sum FILE` prints (got "xyz")']],
  ],
  [
    "an artifact URL with a space",
    (c) => (c.deploy.source = { artifact: { url: "https://dl.example.com/a b.tar", sha256: SHA } }),
    [["fleet:deploy.source.artifact", "source.artifact.url is not an https/http/file URL"]],
  ],
  ["a deploy port of 22", (c) => (c.deploy.port = 22), [["fleet:deploy.port", "22 is the SSH port on every host"]]],
  ["a deploy port above 65535", (c) => (c.deploy.port = 80000), [["fleet:deploy.port", "must be a port in 1–65535 (got 80000)"]]],
  ["a health path with a space", (c) => (c.deploy.healthPath = "/health check"), [["fleet:deploy.healthPath", 'no spaces or quotes) (got "/health check")']]],
  [
    "a health path without a slash",
    (c) => (c.deploy.healthPath = "health"),
    [["fleet:deploy.healthPath", "must be a URL path starting with / made of letters"]],
  ],
  ["a deploy role that is not defined", (c) => (c.deploy.roles = ["api"]), [["fleet:deploy.roles[0]", 'role "api" is not defined in fleet:roles']]],
  [
    "a deploy role no server has",
    (c) => {
      c.roles.worker = { allow: [] };
      c.deploy.roles = ["worker"];
    },
    [["fleet:deploy.roles[0]", 'no server has role "worker"']],
  ],
  ["no deploy roles", (c) => (c.deploy.roles = []), [["fleet:deploy.roles", "must list at least one role (got [])"]]],
  ["an app name with capitals", (c) => (c.deploy.app = "Shop"), [["fleet:deploy.app", 'must be a short lowercase name (letters, digits, -) (got "Shop")']]],
  ["keepReleases of 1", (c) => (c.deploy.keepReleases = 1), [["fleet:deploy.keepReleases", "must be 2 or more (one to run, one to roll back to) (got 1)"]]],
  ["a batch size of 0", (c) => (c.deploy.batchSize = 0), [["fleet:deploy.batchSize", "must be 1 or more (got 0)"]]],
  ["a fractional health timeout", (c) => (c.deploy.healthTimeoutSeconds = 2.5), [["fleet:deploy.healthTimeoutSeconds", "must be a whole number (got 2.5)"]]],
  // appEnv (a secret: values never appear)
  ["an appEnv value that is a number", (c) => (c.appEnv = { DEBUG: 1 }), [["fleet:appEnv.DEBUG", "must be text (got number)"]]],
  [
    "an appEnv key that is not a variable name",
    (c) => (c.appEnv = { "DB-URL": "postgres://x" }),
    [["fleet:appEnv.DB-URL", '"DB-URL" is not a valid variable name']],
  ],
  ["an appEnv PORT", (c) => (c.appEnv = { PORT: "9000" }), [["fleet:appEnv.PORT", "PORT is set from fleet:deploy.port"]]],
  ["an appEnv list", (c) => (c.appEnv = ["A=1"]), [["fleet:appEnv", "must be a map of variable names to text"]]],
  // 131072 bytes is Linux's MAX_ARG_STRLEN for one `KEY=value` with its NUL: "BLOB=" + 131067 bytes fits exactly.
  ["an appEnv value one byte past what execve carries", (c) => (c.appEnv = { BLOB: "x".repeat(131067) }), [["fleet:appEnv.BLOB", "the value is 131067 bytes"]]],
  [
    "an appEnv of 1.9 MiB in all",
    (c) => (c.appEnv = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`PART_${i}`, "x".repeat(120 * 1024)]))),
    [["fleet:appEnv", "bytes in all; a process's environment and arguments share ARG_MAX"]],
  ],
  ["an appEnv value with a line break", (c) => (c.appEnv = { KEY: "a\nb" }), [["fleet:appEnv.KEY", "contains a line break or NUL"]]],
  // top level
  ["a misspelt top-level key", (c) => (c.sever = [{ name: "x", role: "web" }]), [["fleet:sever", "unknown config key; did you mean fleet:servers?"]]],
];

describe("config validation", () => {
  it("accepts the dev stack", () => {
    expect(problemsOf(devRaw())).toEqual([]);
  });

  it(`has at least 60 bad configs (${cases.length})`, () => expect(cases.length).toBeGreaterThanOrEqual(60));

  it.each(cases)("%s: exactly the expected problems, each naming its key and value", (_title, mutate, expected) => {
    const problems = problemsOf(mutated(mutate));
    expect(problems.map(keyOf)).toEqual(expected.map(([key]) => key));
    expected.forEach(([, fragment], i) => expect(problems[i]).toContain(fragment));
  });

  it("no message is zod's own wording", () => {
    const all = cases.flatMap(([, m]) => problemsOf(mutated(m)));
    for (const p of all) expect(p).not.toMatch(/Invalid input|Invalid option|Unrecognized key|expected \w+, received/);
  });

  it("an appEnv problem never shows the value", () => {
    const secret = "s3cr3t-value-123";
    const problems = problemsOf(mutated((c) => (c.appEnv = { "bad key": secret, GOOD: secret + "\n", N: 5 })));
    expect(problems).toHaveLength(3);
    expect(problems.join("\n")).not.toContain(secret);
  });

  it("five problems in five different keys are all reported in one run", () => {
    const problems = problemsOf(
      mutated((c) => {
        c.servers[1].name = 7; // a type error in one server …
        c.servers[3].name = "web-2"; // … does not hide a duplicate in another
        c.vpn.port = "1194"; // a type error in vpn
        c.network.cidr = "10.20.0.0/28"; // a cross-field problem (capacity)
        c.deploy.port = 22; // a port clash
        c.bogus = true; // an unknown top-level key
      }),
    );
    expect(problems.map(keyOf).sort()).toEqual(
      ["fleet:bogus", "fleet:deploy.port", "fleet:network.cidr", "fleet:servers[1].name", "fleet:servers[3].name", "fleet:vpn.port"].sort(),
    );
  });

  describe.each(cases)("through the program: %s", (_title, mutate, expected) => {
    it("fails before registering any resource, as a RunError (no stack trace), with every expected key", () => {
      const error = programError(asProgramConfig(mutated(mutate)));
      expect(error).toBeDefined();
      // A RunError is what the Pulumi language host prints as a plain message (no stack trace).
      expect((error as Error).constructor.name).toBe("RunError");
      for (const [key, fragment] of expected) {
        expect((error as Error).message).toContain(`${key}: `);
        expect((error as Error).message).toContain(fragment);
      }
      expect(registered).toEqual([]);
    });
  });
});

/** Valid but unusual stacks: each is accepted, and what it means is what the config said. */
const valid: [title: string, config: (c: Raw) => Raw, check: (f: ReturnType<typeof parseFleetConfig>) => void][] = [
  [
    "only a gateway",
    () => ({ vpn: { adminCidrs: ["198.51.100.7/32"] }, servers: [{ name: "gw-1", role: "gateway" }] }),
    (f) => {
      expect(f.servers.map((s) => [s.name, s.privateIp, s.public])).toEqual([["gw-1", undefined, true]]);
      expect(f.cloud).toEqual({ flavour: "openstack", externalNetwork: "PUBLICNET", image: "Ubuntu 24.04", flavor: "gp.0.1.2" });
      expect(f.vpn.adminCidrs).toEqual(["198.51.100.7/32"]);
    },
  ],
  [
    "200 servers",
    (c) => ({
      ...c,
      network: { cidr: "10.20.0.0/23" },
      servers: [{ name: "gw-1", role: "gateway" }, ...Array.from({ length: 199 }, (_, i) => ({ name: `app-${i + 1}`, role: "app" }))],
    }),
    (f) => {
      expect(f.servers).toHaveLength(200);
      expect(f.servers[199]).toEqual({ name: "app-199", role: "app", flavor: "gp.0.2.4", image: "Ubuntu 24.04", public: false });
    },
  ],
  [
    "a pinned address",
    (c) => ({ ...c, servers: c.servers.map((x: { name: string }) => (x.name === "db-1" ? { ...x, privateIp: "10.20.0.200" } : x)) }),
    (f) => {
      expect(f.servers.find((x) => x.name === "db-1")!.privateIp).toBe("10.20.0.200");
      expect(f.servers.filter((x) => x.privateIp !== undefined).map((x) => x.name)).toEqual(["db-1"]);
    },
  ],
  [
    "a stateful role",
    (c) => ({ ...c, roles: { ...c.roles, db: { ...c.roles.db, volume: { size: 20, mountPoint: "/var/lib/postgresql" } } } }),
    (f) => {
      expect(f.servers.filter((x) => x.volume).map((x) => [x.name, x.volume])).toEqual([
        ["db-1", { size: 20, mountPoint: "/var/lib/postgresql", filesystem: "ext4" }],
      ]);
      expect(f.retire).toEqual([]);
    },
  ],
  [
    "a role with no rules",
    (c) => ({ ...c, roles: { ...c.roles, worker: {} }, servers: [...c.servers, { name: "worker-1", role: "worker" }] }),
    (f) => expect(f.roles.worker).toEqual({ public: false, flavor: undefined, image: undefined, allow: [] }),
  ],
  [
    "rackspace-classic",
    (c) => ({ ...c, cloud: { flavour: "rackspace-classic", image: "Ubuntu 24.04 LTS (Noble Numbat)", flavor: "general1-1" } }),
    (f) => expect(f.cloud.flavour).toBe("rackspace-classic"),
  ],
  ["no engineers", (c) => ({ ...c, vpn: { ...c.vpn, engineers: [] } }), (f) => expect(f.vpn.engineers).toEqual([])],
  [
    "tcp and udp on one port",
    (c) => ({
      ...c,
      roles: {
        ...c.roles,
        db: {
          allow: [
            { proto: "tcp", ports: [53], from: ["app"] },
            { proto: "udp", ports: [53], from: ["app"] },
          ],
        },
      },
    }),
    (f) => expect(f.roles.db.allow.map((r) => r.proto)).toEqual(["tcp", "udp"]),
  ],
  [
    "a port range",
    (c) => ({ ...c, roles: { ...c.roles, app: { allow: [{ ports: ["8000-8010"], from: ["web"] }] } } }),
    (f) => expect(f.roles.app.allow[0]).toEqual({ proto: "tcp", ports: [{ from: 8000, to: 8010 }], from: ["web"] }),
  ],
  [
    "YAML aliases and merge keys",
    () => {
      const text = [
        "config:",
        "  fleet:roles:",
        "    app: &private { flavor: gp.0.2.4, allow: [] }",
        "    db: { <<: *private, flavor: gp.0.4.8 }",
        "  fleet:vpn: { adminCidrs: [198.51.100.7/32] }",
        "  fleet:servers:",
        "    - { name: gw-1, role: gateway }",
        "    - { name: db-1, role: db }",
        "    - { name: app-1, role: app }",
      ].join("\n");
      const raw: Raw = {};
      for (const [k, v] of Object.entries(parseStackYaml(text, "aliases.yaml"))) raw[k.slice(6)] = v;
      return raw;
    },
    (f) => {
      expect(f.roles.db.flavor).toBe("gp.0.4.8");
      expect(f.servers.find((s) => s.name === "app-1")!.flavor).toBe("gp.0.2.4");
    },
  ],
  [
    "partial objects keep their defaults",
    () => ({
      cloud: { image: "Debian 12" },
      network: {},
      vpn: { engineers: ["alice"], adminCidrs: ["198.51.100.7/32"] },
      servers: [{ name: "gw-1", role: "gateway" }],
    }),
    (f) => {
      expect(f.cloud).toEqual({ flavour: "openstack", externalNetwork: "PUBLICNET", image: "Debian 12", flavor: "gp.0.1.2" });
      expect(f.network.cidr).toBe("10.20.0.0/24");
      expect(f.vpn).toMatchObject({ subnet: "10.8.0.0/24", port: 1194, proto: "udp", certValidityHours: 8760, earlyRenewalHours: 720 });
    },
  ],
  [
    "an uppercase sha256",
    (c) => ({ ...c, deploy: { ...c.deploy, source: { artifact: { url: "https://dl.example.com/a.tar", sha256: SHA.toUpperCase() } } } }),
    (f) => expect(f.deploy!.source).toEqual({ artifact: { url: "https://dl.example.com/a.tar", sha256: SHA } }),
  ],
  ["a VPN on tcp 443", (c) => ({ ...c, vpn: { ...c.vpn, proto: "tcp", port: 443 } }), (f) => expect(f.vpn).toMatchObject({ proto: "tcp", port: 443 })],
  ["the largest appEnv value execve carries", (c) => ({ ...c, appEnv: { BLOB: "x".repeat(131066) } }), (f) => expect(f.servers).toHaveLength(6)],
  ["an appEnv of text values", (c) => ({ ...c, appEnv: { DATABASE_URL: "postgres://db-1/shop", _FLAG: "" } }), (f) => expect(f.servers).toHaveLength(6)],
];

describe("valid but unusual configs", () => {
  it(`has at least 10 (${valid.length})`, () => expect(valid.length).toBeGreaterThanOrEqual(10));
  it.each(valid)("%s is accepted", (_title, config, check) => {
    const c = config(devRaw());
    expect(problemsOf(c)).toEqual([]);
    check(parseFleetConfig(c));
  });
});

describe("the stack file reader", () => {
  it("reads YAML 1.2: yes and no are text", () => {
    expect(parseStackYaml("config:\n  fleet:x: yes\n  fleet:y: no\n  fleet:z: true\n", "s.yaml")).toEqual({
      "fleet:x": "yes",
      "fleet:y": "no",
      "fleet:z": true,
    });
  });
  it("names the file when it is not YAML", () => {
    expect(() => parseStackYaml("config: [\n", "Pulumi.bad.yaml")).toThrow(/^Pulumi\.bad\.yaml: not valid YAML/);
  });
});

describe("config keys outside the fleet namespace", () => {
  it("warns about a namespace typo and names the likely key", () => {
    expect(strayNamespaceWarnings(["flet:vpn", "fleet:servers", "openstack:region", "tls:x", "acme:thing"])).toEqual([
      'config key acme:thing is in namespace "acme", which this program does not read',
      'config key flet:vpn is in namespace "flet", which this program does not read; did you mean fleet:vpn?',
    ]);
  });
});
