import { createHash } from "crypto";
import { BundleFiles } from "../remote/bundle";
import { DeployConfigError } from "./errors";
import { ResolvedSource } from "./source";
import { renderServiceUnit } from "./unit";

/** Plain description of one app deploy; both remote scripts' parameters derive from it. */
export interface DeploySpec {
  app: string;
  source: ResolvedSource;
  port: number;
  healthPath: string;
  healthTimeoutSeconds: number;
  keepReleases: number;
  /** argv run in the release dir (`current`). */
  command: string[];
  /** The unprivileged user the app runs as. */
  user: string;
  linkedDirs: string[];
  linkedFiles: string[];
  /** Written to revisions.log. It is part of the activate bundle, so keep it stable per stack. */
  deployer: string;
}

const APP = /^[a-z][a-z0-9_-]{0,31}$/;
/** What curl may be given as the path of the health URL: no spaces, quotes or shell specials. */
export const HEALTH_PATH = /^\/[A-Za-z0-9_./?=&-]*$/;
const REL_PATH = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

export function appRoot(app: string): string {
  return `/srv/${app}`;
}

/**
 * The app's environment: root's alone (0600 in the 0700 .fleet dir), read by systemd (EnvironmentFile=) as root
 * before it drops to the app's user; never in shared/, which the app's user owns and could swap.
 */
export function envFilePath(app: string): string {
  return `${appRoot(app)}/.fleet/app.env`;
}

function checkRelPaths(app: string, key: string, paths: string[]): void {
  for (const p of paths) {
    if (!REL_PATH.test(p) || p.split("/").some((s) => s === "." || s === "..")) {
      throw new DeployConfigError(`deploy ${app}: ${key} entry ${JSON.stringify(p)} must be a relative path inside the release`);
    }
  }
}

export function validateSpec(spec: DeploySpec): void {
  const { app } = spec;
  if (!APP.test(app)) throw new DeployConfigError(`deploy.app must match ${APP}, got ${JSON.stringify(app)}`);
  if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535) {
    throw new DeployConfigError(`deploy ${app}: port must be 1-65535, got ${JSON.stringify(spec.port)}`);
  }
  if (!HEALTH_PATH.test(spec.healthPath)) {
    throw new DeployConfigError(`deploy ${app}: healthPath must be a URL path starting with /, got ${JSON.stringify(spec.healthPath)}`);
  }
  if (!Number.isInteger(spec.healthTimeoutSeconds) || spec.healthTimeoutSeconds < 1) {
    throw new DeployConfigError(`deploy ${app}: healthTimeoutSeconds must be an integer >= 1, got ${JSON.stringify(spec.healthTimeoutSeconds)}`);
  }
  if (!Number.isInteger(spec.keepReleases) || spec.keepReleases < 2) {
    // Fewer than two would leave nothing to roll back to.
    throw new DeployConfigError(`deploy ${app}: keepReleases must be an integer >= 2, got ${JSON.stringify(spec.keepReleases)}`);
  }
  if (!/^[A-Za-z0-9_.@:/-]{1,128}$/.test(spec.deployer)) {
    throw new DeployConfigError(`deploy ${app}: deployer must be a plain identity (user@host), got ${JSON.stringify(spec.deployer)}`);
  }
  checkRelPaths(app, "linkedDirs", spec.linkedDirs);
  checkRelPaths(app, "linkedFiles", spec.linkedFiles);
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(spec.user) || spec.user === "root") {
    throw new DeployConfigError(`deploy ${app}: user must be an unprivileged Unix user name, got ${JSON.stringify(spec.user)}`);
  }
}

function lines(items: string[]): string {
  return items.map((i) => `${i}\n`).join("");
}

/** The prepare bundle (without main.sh/lib.sh). `dotenv` is the rendered secret .env. */
export function prepareFiles(spec: DeploySpec, dotenv: string): BundleFiles {
  validateSpec(spec);
  const root = appRoot(spec.app);
  const unit = renderServiceUnit({
    app: spec.app,
    user: spec.user,
    workingDir: `${root}/current`,
    execStart: spec.command,
    envFile: envFilePath(spec.app),
    writablePaths: [`${root}/shared`],
    logFile: `/var/log/${spec.app}/app.log`,
  });
  const files: BundleFiles = {
    app: spec.app,
    release: spec.source.release,
    revision: spec.source.revision,
    source_kind: spec.source.kind,
    source_url: spec.source.url,
    dotenv,
    linked_dirs: lines([...spec.linkedDirs].sort()),
    linked_files: lines([...spec.linkedFiles].sort()),
    unit,
  };
  files.user = spec.user;
  if (spec.source.sha256 !== undefined) files.source_sha256 = spec.source.sha256;
  if (spec.source.archive !== undefined) files.source_archive = spec.source.archive;
  return files;
}

/**
 * The activate bundle. `envSha256` is the digest of the rendered .env: a changed secret
 * changes the trigger, so activate re-runs and restarts the app on the same release.
 * Keep the bundle secret anyway: a digest of a weak secret can be brute-forced.
 */
export function activateFiles(spec: DeploySpec, envSha256: string): BundleFiles {
  validateSpec(spec);
  if (!/^[0-9a-f]{64}$/.test(envSha256)) throw new DeployConfigError(`deploy ${spec.app}: env digest must be a sha256 hex digest`);
  return {
    env_sha256: envSha256,
    app: spec.app,
    release: spec.source.release,
    health_url: `http://127.0.0.1:${spec.port}${spec.healthPath}`,
    health_timeout: String(spec.healthTimeoutSeconds),
    keep: String(spec.keepReleases),
    deployer: spec.deployer,
  };
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
