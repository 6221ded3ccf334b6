import * as pulumi from "@pulumi/pulumi";
import { hostReports } from "../../test/unit/support/host-reports";
import { isSecret, secretValue } from "../pulumi/secrets";
import { decodeBundle, loader } from "../remote/bundle";
import { ServerHandle } from "../server/handle";
import { activatedRelease, AppDeploy, AppDeployArgs, deployArgsFromConfig } from "./deploy";
import { DeployConfigError } from "./errors";
import { onRegistration } from "../../test/unit/support/mocks";

/** What the engine was asked to register, as it would see it: type, inputs (secrets still wrapped), dependencies. */
interface Registered {
  type: string;
  deps: string[];
  inputs: Record<string, unknown>;
}
const registered = new Map<string, Registered>();

beforeAll(async () => {
  await pulumi.runtime.setMocks(
    {
      // deploy-activate.sh's last line, once its health check passed: the release it switched to.
      newResource: (a) => ({
        id: `${a.name}-id`,
        state: /-activate-/.test(a.name) ? { ...a.inputs, stdout: hostReports.releaseLive("app", "host", "v1", "v0") } : a.inputs,
      }),
      call: (a) => a.inputs,
    },
    "fleet",
    "test",
    false,
  );
  // Spy on the registrations the SDK sends to the (mock) engine, to see the real dependency graph.
  onRegistration((req) =>
    registered.set(req.getName(), {
      type: req.getType(),
      deps: req.getDependenciesList().map((urn) => urn.split("::").pop()!),
      inputs: req.getObject()?.toJavaScript() ?? {},
    }),
  );
});

class FakeResource extends pulumi.CustomResource {
  constructor(type: string, name: string) {
    super(type, name, {});
  }
}

function handle(name: string): ServerHandle {
  return {
    name,
    role: "app",
    machineId: pulumi.output(`${name}-machine`),
    privateIp: pulumi.output("10.0.0.10"),
    publicIp: pulumi.output(undefined),
    connection: pulumi.secret({ host: "10.0.0.10", user: "root", privateKey: "KEY" }),
    ready: new FakeResource("test:index:Ready", `${name}-ready`),
  };
}

const HOSTS = ["app1", "app2", "app3", "app4", "app5"];
const ENV_SECRET = "s3cr3t-token-value";

function args(revision: string, patch: Partial<AppDeployArgs> = {}): AppDeployArgs {
  return {
    app: "shop",
    targets: HOSTS.map(handle),
    source: { git: { url: "https://git.example.com/acme/shop.git", revision } },
    batchSize: 2,
    keepReleases: 5,
    port: 8080,
    healthPath: "/health",
    healthTimeoutSeconds: 30,
    env: pulumi.secret({ API_TOKEN: ENV_SECRET }),
    ...patch,
  };
}

function settle<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply(resolve));
}

function unwrap(v: unknown): { secret: boolean; value: unknown } {
  if (isSecret(v)) return { secret: true, value: secretValue(v) };
  return { secret: false, value: v };
}

let hostsFirewall: FakeResource;
let revisions: Record<string, string>;

beforeAll(async () => {
  hostsFirewall = new FakeResource("test:index:Firewall", "fw");
  const a = new AppDeploy("web", args("v1"), {});
  const b = new AppDeploy("same", args("v1"), {});
  const c = new AppDeploy("next", args("v2", { dependsOn: [hostsFirewall] }), {});
  const d = new AppDeploy("rotated", args("v1", { env: pulumi.secret({ API_TOKEN: "rotated-value" }) }), {});
  const e = new AppDeploy("one", args("v1", { batchSize: 1 }), {});
  await settle(e.revisions);
  revisions = await settle(a.revisions);
  await settle(b.revisions);
  await settle(c.revisions);
  await settle(d.revisions);
});

describe("AppDeploy wiring", () => {
  const prepares = HOSTS.map((h) => `web-prepare-${h}`);

  it("registers one prepare and one activate per host, named by host, not by revision", () => {
    for (const h of HOSTS) {
      expect(registered.get(`web-prepare-${h}`)?.type).toBe("command:remote:Command");
      expect(registered.get(`web-activate-${h}`)?.type).toBe("command:remote:Command");
      expect(registered.has(`next-prepare-${h}`)).toBe(true);
    }
    expect([...registered.keys()].filter((n) => /v1|v2/.test(n))).toEqual([]);
  });

  it("makes each prepare depend on its host being ready", () => {
    HOSTS.forEach((h) => expect(registered.get(`web-prepare-${h}`)!.deps).toContain(`${h}-ready`));
  });

  it("makes every activate wait for ALL prepares, through one barrier that stands after them", () => {
    expect(registered.get("web-prepared")!.type).toBe("pulumi:index:Stash");
    expect([...registered.get("web-prepared")!.deps].sort()).toEqual([...prepares].sort());
    for (const h of HOSTS) expect(registered.get(`web-activate-${h}`)!.deps).toContain("web-prepared");
    for (const h of HOSTS) expect(registered.get(`web-activate-${h}`)!.deps.filter((d) => d.startsWith("web-prepare-"))).toEqual([]);
  });

  it("makes batch k wait for every activate of batch k-1 (through its barrier), and for none of its own batch or later", () => {
    const batches = [["app1", "app2"], ["app3", "app4"], ["app5"]];
    batches.forEach((batch, k) => {
      if (k < batches.length - 1) {
        const barrier = registered.get(`web-batch-${k + 1}-activated`)!;
        expect([...barrier.deps].sort()).toEqual(batch.map((p) => `web-activate-${p}`).sort());
      }
      for (const h of batch) {
        const waits = registered.get(`web-activate-${h}`)!.deps.filter((d) => d.startsWith("web-activate-") || d.startsWith("web-batch-"));
        expect(waits).toEqual(k === 0 ? [] : [`web-batch-${k}-activated`]);
      }
    });
    expect(registered.has(`web-batch-${batches.length}-activated`)).toBe(false);
  });

  it("makes each batch of one wait for the activate before it directly, with no barrier", () => {
    HOSTS.forEach((h, k) => {
      const waits = registered.get(`one-activate-${h}`)!.deps.filter((d) => d.startsWith("one-activate-") || d.startsWith("one-batch-"));
      expect(waits).toEqual(k === 0 ? [] : [`one-activate-${HOSTS[k - 1]}`]);
    });
    expect([...registered.keys()].filter((n) => n.startsWith("one-batch-"))).toEqual([]);
  });

  it("passes extra dependencies (the firewall) to every remote step", () => {
    for (const h of HOSTS) {
      expect(registered.get(`next-prepare-${h}`)!.deps).toContain("fw");
      expect(registered.get(`next-activate-${h}`)!.deps).toContain("fw");
      expect(registered.get(`web-prepare-${h}`)!.deps).not.toContain("fw");
    }
  });

  it("exports the deployed release per host once every activate exists", () => {
    expect(revisions).toEqual(Object.fromEntries(HOSTS.map((h) => [h, "v1"])));
  });
});

describe("AppDeploy secrets and triggers", () => {
  it("keeps the env only in the secret stdin of prepare, never in the command string", () => {
    const prep = registered.get("web-prepare-app1")!.inputs;
    expect(prep.create).toBe(loader("create"));
    expect(JSON.stringify(prep.create)).not.toContain(ENV_SECRET);
    const stdin = unwrap(prep.stdin);
    expect(stdin.secret).toBe(true);
    const bundle = decodeBundle(String(stdin.value));
    expect(bundle.dotenv).toContain(`API_TOKEN="${ENV_SECRET}"`);
    expect(bundle.dotenv).toContain('PORT="8080"');
    const others = Object.entries(bundle).filter(([n]) => n !== "dotenv");
    for (const [, content] of others) expect(content).not.toContain(ENV_SECRET);
    expect(unwrap((prep.triggers as unknown[])[0]).secret).toBe(true);
    expect(prep.logging).toBe("stderr");
  });

  it("never gives the env to activate", () => {
    for (const h of HOSTS) {
      const act = registered.get(`web-activate-${h}`)!.inputs;
      expect(JSON.stringify(act)).not.toContain(ENV_SECRET);
      expect(decodeBundle(String(unwrap(act.stdin).value)).release).toBe("v1");
    }
  });

  it("gives the same inputs the same triggers (a no-op up re-runs nothing) and a new revision new ones", () => {
    const trig = (n: string) => JSON.stringify(registered.get(n)!.inputs.triggers);
    for (const h of HOSTS) {
      expect(trig(`same-prepare-${h}`)).toBe(trig(`web-prepare-${h}`));
      expect(trig(`same-activate-${h}`)).toBe(trig(`web-activate-${h}`));
      expect(trig(`next-prepare-${h}`)).not.toBe(trig(`web-prepare-${h}`));
      expect(trig(`next-activate-${h}`)).not.toBe(trig(`web-activate-${h}`));
    }
  });

  it("re-runs prepare and activate (restart) when only the secret env changes, keeping activate secret", () => {
    const trig = (n: string) => JSON.stringify(registered.get(n)!.inputs.triggers);
    for (const h of HOSTS) {
      expect(trig(`rotated-prepare-${h}`)).not.toBe(trig(`web-prepare-${h}`));
      expect(trig(`rotated-activate-${h}`)).not.toBe(trig(`web-activate-${h}`));
      const act = registered.get(`rotated-activate-${h}`)!.inputs;
      expect(unwrap(act.stdin).secret).toBe(true);
      expect(JSON.stringify(act)).not.toContain("rotated-value");
    }
  });
});

describe("AppDeploy bad input", () => {
  it.each([
    [{ batchSize: 0 }, /deploy\.batchSize/],
    [{ targets: [] }, /no target servers/],
    [{ source: { git: { url: "https://x/y.git", revision: "$(id)" } } }, /revision must be a commit SHA/],
    [{ keepReleases: 1 }, /keepReleases/],
  ])("throws a DeployConfigError for %p", (patch, why) => {
    expect(() => new AppDeploy(`bad-${Math.random()}`, args("v1", patch as Partial<AppDeployArgs>))).toThrow(DeployConfigError);
    expect(() => new AppDeploy(`bad-${Math.random()}`, args("v1", patch as Partial<AppDeployArgs>))).toThrow(why);
  });
});

describe("deployArgsFromConfig", () => {
  it("targets the servers of the configured roles, in config order", () => {
    const servers = [handle("db1"), { ...handle("web2"), role: "web" }, handle("app9"), { ...handle("web1"), role: "web" }];
    const a = deployArgsFromConfig(
      {
        app: "shop",
        roles: ["web"],
        source: { git: { url: "https://x/y.git", revision: "v1" } },
        port: 8080,
        healthPath: "/health",
        healthTimeoutSeconds: 30,
        batchSize: 1,
        keepReleases: 5,
      },
      servers.map((s) => ({ ...s, role: s.role === "web" ? "web" : "db" })),
    );
    expect(a.targets.map((t) => t.name)).toEqual(["web2", "web1"]);
  });
});

describe("activatedRelease", () => {
  // The lines deploy-activate.sh prints once the health check passed (components/deploy/deploy-activate.sh).
  it.each([
    ["shop on app-1: release fff47df0723cc67b is live (first release)", "fff47df0723cc67b"],
    ["shop on app-1: release v2 is live (previous: v1)", "v2"],
    ["shop on app-1: release v2 is already current and healthy; nothing to do", "v2"],
  ])("reads %j", (line, release) => expect(activatedRelease("shop", "app-1", `removing old release v0\n${line}`)).toBe(release));

  it("refuses output that reports no live release, naming the host", () => {
    expect(() => activatedRelease("shop", "app-2", "")).toThrow(/shop: activate on app-2 did not report a live release/);
  });
});
