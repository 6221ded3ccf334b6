/**
 * The provider emulator behind `pulumi.runtime.setMocks`: a mini engine that
 * compares each registration with the last run's state, does the real work for
 * new and changed resources (await-ed inside newResource, so the SDK's own
 * dependency order holds), replays outputs of unchanged ones, and after the
 * program has finished deletes what was not registered again.
 */
import { randomUUID } from "crypto";
import { Fabric } from "../hosts";
import { StackLayout } from "../layout";
import { commandHandler, CommandStats } from "./command";
import { CreateArgs, Created, EmulationError, Handler, Inputs } from "./handler";
import { Cloud, openstackCall, openstackHandlers } from "./openstack";
import { changedKeys, Json, LabState, ResourceRecord, sameInputs, saveState, secret, unwrap } from "./state";
import { certRequest, locallySignedCert, privateKey, selfSignedCert, TLS_SECRET_OUTPUTS } from "./tls";

export type StepOp = "create" | "update" | "replace" | "same" | "delete";

export interface Step {
  op: StepOp;
  urn: string;
  type: string;
  name: string;
  ms: number;
  detail?: string;
}

/** Raised for registrations after the first failure: the engine starts no new work then. */
export class SkippedError extends Error {}

export interface Registration {
  urn: string;
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  custom: boolean;
  additionalSecretOutputs: string[];
}

function tlsHandler(make: (i: Inputs) => Promise<Record<string, unknown>> | Record<string, unknown>, secretOutputs: string[] = []): Handler {
  return {
    create: async (a) => ({ id: randomUUID(), outputs: (await make(a.inputs)) as Record<string, Json>, secretOutputs }),
  };
}

export class Emulator {
  readonly steps: Step[] = [];
  /** Called as each step ends, so `up` can show progress as it happens. */
  onStep?: (s: Step) => void;
  /** Called before a resource is created, updated or replaced: the lab's fault injection (engine.ts, FLEET_LAB_FAULT). */
  beforeChange?: (name: string) => Promise<void>;
  readonly seen = new Set<string>();
  readonly commandStats: CommandStats = { runs: 0 };
  firstError?: Error;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly handlers: Record<string, Handler>;
  private readonly replaced: ResourceRecord[] = [];
  readonly cloud: Cloud;

  private record(s: Step): void {
    this.steps.push(s);
    this.onStep?.(s);
  }

  constructor(
    readonly L: StackLayout,
    readonly state: LabState,
    readonly fabric: Fabric,
  ) {
    const ctx = { L, fabric };
    this.cloud = new Cloud(ctx);
    this.handlers = {
      "tls:index/privateKey:PrivateKey": tlsHandler(privateKey, TLS_SECRET_OUTPUTS["tls:index/privateKey:PrivateKey"]),
      "tls:index/selfSignedCert:SelfSignedCert": tlsHandler(selfSignedCert),
      "tls:index/certRequest:CertRequest": tlsHandler(certRequest),
      "tls:index/locallySignedCert:LocallySignedCert": tlsHandler(locallySignedCert),
      "command:remote:Command": commandHandler(ctx, this.commandStats),
      ...openstackHandlers(this.cloud),
    };
  }

  /** Records the first failure; later registrations are refused. */
  fail(e: unknown): void {
    if (e instanceof SkippedError) return;
    if (!this.firstError) this.firstError = e instanceof Error ? e : new Error(String(e));
  }

  private handlerFor(type: string): Handler {
    if (type.startsWith("pulumi:providers:")) return { create: async () => ({ id: randomUUID(), outputs: {} }) };
    const h = this.handlers[type];
    if (!h) throw new EmulationError(`the lab does not emulate resource type ${type}; add a handler in lab/emulator/`);
    return h;
  }

  private save(): void {
    saveState(this.L.stateFile, this.state);
  }

  register(reg: Registration): Promise<{ id: string | undefined; state: Record<string, unknown> }> {
    const p = this.doRegister(reg);
    this.pending.add(p);
    p.then(
      () => this.pending.delete(p),
      (e) => {
        this.pending.delete(p);
        this.fail(e);
      },
    );
    return p;
  }

  call(token: string, inputs: Inputs): Record<string, Json> {
    return openstackCall(token, unwrap(inputs) as Inputs);
  }

  private async doRegister(reg: Registration): Promise<{ id: string | undefined; state: Record<string, unknown> }> {
    if (this.firstError) throw new SkippedError(`skipped ${reg.name}: an earlier resource failed`);
    if (this.seen.has(reg.urn)) throw new EmulationError(`duplicate resource URN ${reg.urn}`);
    this.seen.add(reg.urn);
    const plain = unwrap(reg.inputs) as Record<string, Json>;
    const prev = this.state.resources[reg.urn];
    const started = Date.now();
    if (!reg.custom) {
      this.state.resources[reg.urn] = {
        urn: reg.urn,
        type: reg.type,
        name: reg.name,
        custom: false,
        inputs: {},
        outputs: {},
        seq: prev?.seq ?? ++this.state.seq,
      };
      this.record({ op: prev ? "same" : "create", urn: reg.urn, type: reg.type, name: reg.name, ms: 0 });
      this.save();
      return { id: undefined, state: {} };
    }
    const handler = this.handlerFor(reg.type);
    if (prev && prev.custom && sameInputs(prev.inputs, plain)) {
      handler.adopt?.(prev);
      this.record({ op: "same", urn: reg.urn, type: reg.type, name: reg.name, ms: 0 });
      return { id: prev.id, state: prev.outputs };
    }
    let detail: string | undefined;
    let op: StepOp = prev ? "replace" : "create";
    let work: (a: CreateArgs) => Promise<Created> = (a) => handler.create(a);
    if (prev) {
      const changed = changedKeys(prev.inputs, plain);
      detail = `changed: ${changed.join(", ")}`;
      if (handler.update && !handler.replaceOn?.some((k) => changed.includes(k))) {
        op = "update";
        work = (a) => handler.update!(prev, a);
      } else if (handler.deleteBeforeReplace) {
        await handler.delete?.(prev);
        delete this.state.resources[reg.urn];
        this.save();
      } else {
        this.replaced.push(prev);
      }
    }
    await this.beforeChange?.(reg.name);
    const created: Created = await work({ urn: reg.urn, type: reg.type, name: reg.name, inputs: plain as Inputs });
    const secretNames = new Set([...(created.secretOutputs ?? []), ...reg.additionalSecretOutputs]);
    const outputs: Record<string, Json> = { ...(reg.inputs as Record<string, Json>) };
    for (const [k, v] of Object.entries(created.outputs)) outputs[k] = v;
    for (const k of secretNames) if (k in outputs && outputs[k] !== null) outputs[k] = secret(unwrap(outputs[k]));
    const seq = op === "update" && prev ? prev.seq : ++this.state.seq;
    const rec: ResourceRecord = { urn: reg.urn, type: reg.type, name: reg.name, custom: true, id: created.id, inputs: plain, outputs, seq };
    this.state.resources[reg.urn] = rec;
    this.save();
    this.record({ op, urn: reg.urn, type: reg.type, name: reg.name, ms: Date.now() - started, detail });
    return { id: created.id, state: outputs };
  }

  get busy(): boolean {
    return this.pending.size > 0;
  }

  /** Resolves once no registration is in flight (checked twice, as work can start more work). */
  async idle(): Promise<void> {
    for (;;) {
      while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
      await new Promise((r) => setImmediate(r));
      if (this.pending.size === 0) return;
    }
  }

  /** After a successful run: replaced resources' old halves, then everything not registered, newest first. */
  async deleteLeftovers(): Promise<void> {
    const gone = Object.values(this.state.resources).filter((r) => !this.seen.has(r.urn));
    const all = [...this.replaced.map((r) => ({ r, replaced: true })), ...gone.map((r) => ({ r, replaced: false }))].sort((a, b) => b.r.seq - a.r.seq);
    for (const { r, replaced } of all) {
      const started = Date.now();
      if (r.custom) {
        try {
          await this.handlerFor(r.type).delete?.(r);
        } catch (e) {
          this.fail(e);
          return;
        }
      }
      if (!replaced) {
        delete this.state.resources[r.urn];
        this.record({ op: "delete", urn: r.urn, type: r.type, name: r.name, ms: Date.now() - started });
      }
      this.save();
    }
  }
}
