/**
 * Bad config: each mistake gets its own message naming the key path and the bad value,
 * and the program registers nothing.
 */
import { parseFleetConfig } from "../../components/config/validate";
import { FleetConfigError } from "../../components/config/errors";
import { installMocks, registered, resetRegistered, setConfig, stackConfig } from "./support/mocks";

installMocks();

const dev = stackConfig();
/** The dev stack as the raw object parseFleetConfig takes (keys without the `fleet:` prefix). */
function devRaw(): Record<string, any> {
  const raw: Record<string, any> = {};
  for (const [k, v] of Object.entries(dev)) if (k.startsWith("fleet:")) raw[k.slice(6)] = JSON.parse(JSON.stringify(v));
  return raw;
}

function problemsOf(mutate: (c: Record<string, any>) => void): string[] {
  const c = devRaw();
  mutate(c);
  try {
    parseFleetConfig(c);
  } catch (e) {
    if (e instanceof FleetConfigError) return e.problems;
    throw e;
  }
  return [];
}

/** Runs index.ts with this config; returns what it threw (registrations are reset first). */
function programError(config: Record<string, unknown>): unknown {
  resetRegistered();
  setConfig(config);
  let error: unknown;
  jest.isolateModules(() => {
    try {
      require("../../index");
    } catch (e) {
      error = e;
    }
  });
  return error;
}

const cases: [string, (c: Record<string, any>) => void, RegExp][] = [
  ["duplicate server names", (c) => (c.servers[2].name = "web-1"), /^fleet:servers\[2\]\.name: "web-1" is already the name of fleet:servers\[1\]/],
  ["a name that is not a hostname", (c) => (c.servers[1].name = "Web_1"), /^fleet:servers\[1\]\.name: "Web_1" is not a valid hostname/],
  ["a hostname with a trailing dash", (c) => (c.servers[1].name = "web-"), /^fleet:servers\[1\]\.name: "web-" is not a valid hostname/],
  ["a server role that is not defined", (c) => (c.servers[5].role = "cache"), /^fleet:servers\[5\]\.role: role "cache" is not defined in fleet:roles/],
  ["a rule source role that is not defined", (c) => (c.roles.db.allow[0].from = ["cache"]), /^fleet:roles\.db\.allow\[0\]\.from\[0\]: unknown role "cache"/],
  ["an invalid CIDR", (c) => (c.network.cidr = "10.20.0.0/33"), /^fleet:network\.cidr: not an IPv4 network in CIDR form .* \(got "10\.20\.0\.0\/33"\)/],
  ["a CIDR with host bits", (c) => (c.network.cidr = "10.20.0.7/24"), /^fleet:network\.cidr: not an IPv4 network/],
  [
    "a CIDR too small for the servers",
    (c) => (c.network.cidr = "10.20.0.0/28"),
    /^fleet:network\.cidr: 10\.20\.0\.0\/28 is too small for 6 servers \(it fits 5/,
  ],
  [
    "overlapping VPN and server subnets",
    (c) => (c.vpn.subnet = "10.20.0.0/16"),
    /^fleet:vpn\.subnet: 10\.20\.0\.0\/16 overlaps fleet:network\.cidr 10\.20\.0\.0\/24/,
  ],
  ["a rule port above 65535", (c) => (c.roles.web.allow[0].ports = [80, 70000]), /^fleet:roles\.web\.allow\[0\]\.ports\[1\]: .*1–65535 \(got 70000\)/],
  ["a rule port of 0", (c) => (c.roles.web.allow[0].ports = [0]), /^fleet:roles\.web\.allow\[0\]\.ports\[0\]: .*1–65535 \(got 0\)/],
  [
    "a reversed port range",
    (c) => (c.roles.web.allow[0].ports = ["9000-8000"]),
    /^fleet:roles\.web\.allow\[0\]\.ports\[0\]: must be a range .* \(got "9000-8000"\)/,
  ],
  ["a VPN port outside 1–65535", (c) => (c.vpn.port = 65536), /^fleet:vpn\.port: must be a port in 1–65535 \(got 65536\)/],
  [
    "an engineer name with a path",
    (c) => (c.vpn.engineers = ["alice", "../bob"]),
    /^fleet:vpn\.engineers\[1\]: "\.\.\/bob" is not safe as a certificate CN and file name/,
  ],
  ["an engineer name with a space", (c) => (c.vpn.engineers = ["eve smith"]), /^fleet:vpn\.engineers\[0\]: "eve smith" is not safe/],
  ["an engineer listed twice", (c) => (c.vpn.engineers = ["alice", "alice"]), /^fleet:vpn\.engineers\[1\]: "alice" is listed twice/],
  ["an empty server list", (c) => (c.servers = []), /^fleet:servers: must list at least one server \(got \[\]\)/],
  ["an unknown cloud flavour", (c) => (c.cloud.flavour = "aws"), /^fleet:cloud\.flavour: must be one of openstack, rackspace-classic \(got "aws"\)/],
  ["no gateway", (c) => (c.servers[0].role = "web"), /^fleet:servers: exactly one server must have role "gateway".*\(found 0\)/],
  [
    "a port clash",
    (c) => c.roles.web.allow.push({ proto: "tcp", ports: ["440-450"], from: ["vpn"] }),
    /^fleet:roles\.web\.allow\[1\]\.ports\[0\]: tcp 440-450 overlaps fleet:roles\.web\.allow\[0\]/,
  ],
  [
    "a public port on a private role",
    (c) => (c.roles.db.allow[0].from = ["public"]),
    /^fleet:roles\.db\.allow\[0\]\.from\[0\]: "public" on role "db", which the policy keeps private/,
  ],
  [
    "a deploy revision that is a branch range",
    (c) => (c.deploy.source = { git: { url: "https://git.example.com/x.git", revision: "main..dev" } }),
    /^fleet:deploy\.source: revision must be a commit SHA/,
  ],
  [
    "a local deploy tree that does not exist",
    (c) => (c.deploy.source = { local: { path: "no-such-dir" } }),
    /^fleet:deploy\.source: .*cannot read "no-such-dir"/,
  ],
  ["a misspelt key", (c) => (c.servers[0].flavour = "x"), /^fleet:servers\[0\]: Unrecognized key: "flavour"/],
];

describe("config validation", () => {
  it("accepts the dev stack", () => {
    expect(problemsOf(() => undefined)).toEqual([]);
  });

  it.each(cases)("%s gets its own clear error", (_title, mutate, expected) => {
    const problems = problemsOf(mutate);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(expected);
  });

  it("the messages are all different", () => {
    const all = cases.map(([, m]) => problemsOf(m)[0]);
    expect(new Set(all).size).toBe(all.length);
  });

  it("reports every problem at once", () => {
    const problems = problemsOf((c) => {
      c.servers = [{ name: "A", role: "nope" }];
      c.vpn.port = 0;
    });
    expect(problems.length).toBeGreaterThanOrEqual(1);
    expect(problems.join("\n")).toMatch(/fleet:vpn\.port/);
  });

  it("through the program: an unknown top-level key is named", () => {
    const error = programError({ ...dev, "fleet:sever": [{ name: "x", role: "web" }] });
    expect((error as Error).message).toMatch(/fleet:sever: unknown config key \(known: cloud, network, roles, servers/);
    expect(registered).toEqual([]);
  });

  describe.each(cases)("through the program: %s", (_title, mutate, expected) => {
    it("fails before registering any resource, without a stack trace", () => {
      const c = devRaw();
      mutate(c);
      const config: Record<string, unknown> = { "openstack:region": "DFW3" };
      for (const [k, v] of Object.entries(c)) config[`fleet:${k}`] = v;
      const error = programError(config);
      expect(error).toBeDefined();
      // A RunError is what the Pulumi language host prints as a plain message (no stack trace).
      expect((error as Error).constructor.name).toBe("RunError");
      expect((error as Error).message).toMatch(new RegExp(expected.source.replace(/^\^/, "")));
      expect(registered).toEqual([]);
    });
  });
});
