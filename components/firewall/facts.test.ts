/**
 * withoutDependencies under the mock runtime: the value, its known-ness and its secrecy pass through; the resources
 * it came from no longer reach the engine as dependencies (read off the registration request).
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as openstack from "@pulumi/openstack";
import { installMocks, registered, registrationsSettled, resetRegistered, resolve } from "../../test/unit/support/mocks";
import { withoutDependencies } from "./facts";

installMocks();

const knownness = (o: pulumi.Output<unknown>) => (o as unknown as { isKnown: Promise<boolean> }).isKnown;

describe("withoutDependencies", () => {
  beforeEach(resetRegistered);

  it("keeps the value and drops the resources it came from", async () => {
    const port = new openstack.networking.Port("p1", { networkId: "net" });
    const connection = { host: "192.0.2.1" };
    new command.remote.Command("with", { connection, create: port.id });
    new command.remote.Command("without", { connection, create: withoutDependencies(port.id) });
    await registrationsSettled();
    const deps = (name: string) => registered.find((r) => r.name === name)!.dependencies;
    expect(deps("with")).toEqual([expect.stringMatching(/::p1$/)]);
    expect(deps("without")).toEqual([]);
    expect(await resolve(withoutDependencies(port.id))).toBe(await resolve(port.id));
  });

  it.each([
    ["a secret", pulumi.secret("s"), true],
    ["a plain value", pulumi.output("s"), false],
  ])("keeps %s as it was", async (_, o, secret) => {
    expect(await pulumi.isSecret(withoutDependencies(o))).toBe(secret);
  });

  it("keeps an unknown value unknown, so a preview shows what it will change", async () => {
    expect(await knownness(withoutDependencies(pulumi.output(pulumi.unknown)))).toBe(false);
    // What a preview gives for a value computed from an unknown one: `undefined` inside, unknown outside.
    const computed = pulumi.output(pulumi.unknown).apply((v) => `${String(v)}/32`);
    expect(await knownness(computed)).toBe(false);
    expect(await knownness(withoutDependencies(computed))).toBe(false);
    expect(await knownness(withoutDependencies(pulumi.secret(computed)))).toBe(false);
    expect(await knownness(withoutDependencies(pulumi.output("10.0.0.5")))).toBe(true);
  });
});
