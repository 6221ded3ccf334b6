import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { scriptCommand } from "../remote/script";
import { ServerHandle } from "../server/handle";
import { planBatches } from "./batches";
import { activateFiles, DeploySpec, prepareFiles, sha256Hex } from "./bundles";
import { renderDotenv } from "./dotenv";
import { DeployConfigError } from "./errors";
import { DeploySource, resolveSource } from "./source";

export interface AppDeployArgs {
  /** App name: /srv/<app>, the service name. */
  app: string;
  /** The servers to deploy to, in rollout order. */
  targets: ServerHandle[];
  source: DeploySource;
  /** The git revision when the source does not carry one; a label for artifacts. */
  revision?: string;
  batchSize: number;
  keepReleases: number;
  port: number;
  healthPath: string;
  healthTimeoutSeconds: number;
  /** The app's secret environment (a root-owned 0600 file on the host); PORT is added from `port`. */
  env?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** argv run in /srv/<app>/current; defaults to the sample app. */
  command?: string[];
  /** The Unix user the app runs as (created on the host if missing). Default: the app's name. Never root. */
  user?: string;
  linkedDirs?: string[];
  linkedFiles?: string[];
  /** Written to revisions.log. Part of the activate trigger, so keep it stable (default: project/stack). */
  deployer?: string;
  /** Resources every remote step waits for, e.g. the firewall. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

export const SAMPLE_APP_COMMAND = ["/usr/bin/python3", "server.py"];

/** The `fleet:deploy` config block, as parsed by components/config (structural, to keep the modules apart). */
export interface DeployConfig {
  app: string;
  roles: string[];
  source: DeploySource;
  port: number;
  healthPath: string;
  healthTimeoutSeconds: number;
  batchSize: number;
  keepReleases: number;
  user?: string;
}

/**
 * AppDeploy args from the config block: the targets are the servers whose role is
 * listed, in the given (config) order, which is also the rollout order.
 */
export function deployArgsFromConfig(
  cfg: DeployConfig,
  servers: ServerHandle[],
  extra: Partial<Pick<AppDeployArgs, "env" | "dependsOn" | "deployer" | "command" | "user" | "linkedDirs" | "linkedFiles">> = {},
): AppDeployArgs {
  return {
    app: cfg.app,
    targets: servers.filter((s) => cfg.roles.includes(s.role)),
    source: cfg.source,
    batchSize: cfg.batchSize,
    keepReleases: cfg.keepReleases,
    port: cfg.port,
    healthPath: cfg.healthPath,
    healthTimeoutSeconds: cfg.healthTimeoutSeconds,
    ...(cfg.user !== undefined ? { user: cfg.user } : {}),
    ...extra,
  };
}

/**
 * The release deploy-activate.sh reports live on a host: `<app> on <host>: release <r> is live …` or
 * `… release <r> is already current and healthy …`, printed only after the health check passed.
 */
export function activatedRelease(app: string, host: string, stdout: string): string {
  const m = /: release (\S+) is (?:live|already current and healthy)\b/.exec(stdout);
  if (!m) throw new DeployConfigError(`deploy ${app}: activate on ${host} did not report a live release; it printed: ${JSON.stringify(stdout.slice(0, 200))}`);
  return m[1];
}

/**
 * Deploys one app to its servers: a `prepare` per host (code + secret .env + service),
 * then an `activate` per host in rolling batches. Every activate waits for every
 * prepare, and batch k waits for batch k-1, so one failed health check stops the rollout
 * with later batches still on the old release.
 */
export class AppDeploy extends pulumi.ComponentResource {
  /** Host name -> release now live there; resolves only after that host's activate succeeded. */
  public readonly revisions: pulumi.Output<Record<string, string>>;
  public readonly prepares: Record<string, command.remote.Command> = {};
  public readonly activates: Record<string, command.remote.Command> = {};

  constructor(name: string, args: AppDeployArgs, opts?: pulumi.ComponentResourceOptions) {
    super("fleet:deploy:AppDeploy", name, {}, opts);

    const source = resolveSource(args.app, args.source, args.revision);
    const spec: DeploySpec = {
      app: args.app,
      source,
      port: args.port,
      healthPath: args.healthPath,
      healthTimeoutSeconds: args.healthTimeoutSeconds,
      keepReleases: args.keepReleases,
      command: args.command ?? SAMPLE_APP_COMMAND,
      user: args.user ?? args.app,
      linkedDirs: args.linkedDirs ?? [],
      linkedFiles: args.linkedFiles ?? [],
      deployer: args.deployer ?? `pulumi:${pulumi.getProject()}/${pulumi.getStack()}`,
    };
    // Validate now, so bad config fails before any resource is registered.
    activateFiles(spec, sha256Hex(""));
    const hosts = args.targets.map((t) => t.name);
    if (hosts.length === 0) throw new DeployConfigError(`deploy ${args.app}: no target servers`);
    const batches = planBatches(hosts, args.batchSize);
    const byName = new Map(args.targets.map((t) => [t.name, t]));

    const dotenv = pulumi.secret(
      pulumi.output(args.env ?? {}).apply((env) => {
        if ("PORT" in env) throw new DeployConfigError(`deploy ${args.app}: env PORT is set from deploy.port; remove it from env`);
        return renderDotenv(args.app, { ...env, PORT: String(args.port) });
      }),
    );
    const prepareBundle = dotenv.apply((d) => prepareFiles(spec, d));
    const activateBundle = dotenv.apply((d) => activateFiles(spec, sha256Hex(d)));
    const extra = args.dependsOn ?? [];

    for (const host of hosts) {
      const t = byName.get(host)!;
      this.prepares[host] = scriptCommand(
        `${name}-prepare-${host}`,
        { connection: t.connection, script: "deploy-prepare", files: prepareBundle, secret: true, machine: t.machineId },
        { parent: this, dependsOn: [t.ready, ...extra] },
      );
    }
    // Barriers (engine-side Stash resources) stand between the steps that wait for a whole group: each activate
    // depends on one of them, not on every prepare and every host of the batch before (quadratic in the hosts).
    // Their input is constant: adding, removing or reordering hosts changes only what they wait for, never them.
    const after = (label: string, group: command.remote.Command[], what: string) =>
      new pulumi.Stash(`${name}-${label}`, { input: what }, { parent: this, dependsOn: group });
    const prepared = after("prepared", Object.values(this.prepares), "after every host's prepare");

    let previousBatch: pulumi.Resource[] = [];
    batches.forEach((batch, b) => {
      const current = batch.map((host) => {
        const t = byName.get(host)!;
        const activate = scriptCommand(
          `${name}-activate-${host}`,
          { connection: t.connection, script: "deploy-activate", files: activateBundle, secret: true, machine: t.machineId },
          { parent: this, dependsOn: [t.ready, ...extra, prepared, ...previousBatch] },
        );
        this.activates[host] = activate;
        return activate;
      });
      // The last batch needs no barrier: nothing waits for it but the revisions output. Nor does a batch of one:
      // waiting for its one activate is one dependency either way, and a barrier would add a step to the chain
      // every later batch waits through (a preview of 50 batches of one spent 0.7 s in those steps).
      if (b < batches.length - 1) {
        previousBatch = current.length > 1 ? [after(`batch-${b + 1}-activated`, current, `after batch ${b + 1}'s activates`)] : current;
      }
    });

    // From config, but only once every activate has succeeded: a failed rollout leaves it unresolved.
    // What each host's activate reported live (after its health check), not what was asked for.
    this.revisions = pulumi
      .all(hosts.map((h) => this.activates[h].stdout))
      .apply((outs) => Object.fromEntries(hosts.map((h, i) => [h, activatedRelease(args.app, h, outs[i])])));
    this.registerOutputs({ revisions: this.revisions });
  }
}
