/**
 * The policy pack as the Pulumi CLI runs it: loaded from policy/ by the same ts-node
 * registration the CLI's policy host uses, it serves the analyzer protocol; we call it
 * over gRPC like the engine does during `pulumi preview --policy-pack policy`.
 */
import { wrapSecret } from "../../components/pulumi/secrets";
import { ChildProcess, spawn } from "child_process";
import * as grpc from "@grpc/grpc-js";
import * as path from "path";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { encodeBundle } from "../../components/remote/bundle";
const analyzerRpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const analyzerPb = require("@pulumi/pulumi/proto/analyzer_pb");

const POLICY_DIR = path.join(__dirname, "..", "..", "policy");

describe("the policy pack served to the engine", () => {
  let child: ChildProcess;
  let client: any;

  beforeAll(async () => {
    child = spawn("node", [path.join(__dirname, "plan-support", "run-policy-pack.js")], { cwd: POLICY_DIR, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    const port = await new Promise<string>((ok, fail) => {
      child.stdout!.on("data", (d) => ok(String(d).trim()));
      child.on("exit", (code) => fail(new Error(`policy pack exited ${code}: ${stderr}`)));
    });
    expect(port).toMatch(/^\d+$/);
    client = new analyzerRpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  }, 120000);

  afterAll(() => {
    client?.close();
    child?.kill();
  });

  const call = <T>(method: string, req: unknown) =>
    new Promise<T>((ok, fail) => client[method](req, (err: Error | null, res: T) => (err ? fail(err) : ok(res))));

  async function analyze(type: string, name: string, props: Record<string, unknown>): Promise<{ policy: string; message: string }[]> {
    const req = new analyzerPb.AnalyzeRequest();
    req.setType(type);
    req.setName(name);
    req.setUrn(`urn:pulumi:dev::fleet::${type}::${name}`);
    req.setProperties(Struct.fromJavaScript(props as any));
    // The engine always sends options; the framework refuses requests without them.
    const opts = new analyzerPb.AnalyzerResourceOptions();
    opts.setCustomtimeouts(new analyzerPb.AnalyzerResourceOptions.CustomTimeouts());
    req.setOptions(opts);
    const res: any = await call("analyze", req);
    return res.getDiagnosticsList().map((d: any) => ({ policy: d.getPolicyname(), message: d.getMessage() }));
  }

  it("announces the four policies", async () => {
    const info: any = await call("getAnalyzerInfo", new Empty());
    expect(info.getName()).toBe("openstack-fleet");
    expect(
      info
        .getPoliciesList()
        .map((p: any) => p.getName())
        .sort(),
    ).toEqual(["no-ssh-from-world", "public-addresses-only-for-public-roles", "remote-commands-pin-host-keys", "vpn-aead-ciphers-only"]);
  });

  it("flags SSH open to the world, and lets SSH from the VPN pass", async () => {
    const rule = { direction: "ingress", ethertype: "IPv4", protocol: "tcp", portRangeMin: 22, portRangeMax: 22 };
    const world = await analyze("openstack:networking/secGroupRule:SecGroupRule", "ssh", { ...rule, remoteIpPrefix: "0.0.0.0/0" });
    expect(world).toEqual([{ policy: "no-ssh-from-world", message: expect.stringContaining("opens SSH") }]);
    expect(await analyze("openstack:networking/secGroupRule:SecGroupRule", "ssh", { ...rule, remoteIpPrefix: "10.8.0.0/24" })).toEqual([]);
  });

  it("flags an unpinned remote command", async () => {
    const out = await analyze("command:remote:Command", "c", { create: "true", connection: { host: "10.20.0.11", user: "root" } });
    expect(out).toEqual([{ policy: "remote-commands-pin-host-keys", message: expect.stringContaining("no hostKey") }]);
  });

  it("sees through secrets: a non-AEAD cipher inside the secret stdin bundle of the VPN command is flagged", async () => {
    const conf = "port 1194\ndata-ciphers AES-256-GCM:BF-CBC\nallow-compression no\n";
    const props = (c: string) => ({
      connection: { host: "203.0.113.5", hostKey: "ssh-ed25519 AAAA" },
      stdin: wrapSecret(encodeBundle({ "server.conf": c, "main.sh": "#!/bin/bash\n" })),
    });
    expect(await analyze("command:remote:Command", "vpn-configure", props(conf))).toEqual([
      { policy: "vpn-aead-ciphers-only", message: expect.stringContaining("BF-CBC, which is not AEAD") },
    ]);
    expect(await analyze("command:remote:Command", "vpn-configure", props(conf.replace(":BF-CBC", "")))).toEqual([]);
  });
});
