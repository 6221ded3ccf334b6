import { DeployConfigError } from "./errors";
import { packDirectory } from "./pack";

export interface GitSource {
  git: { url: string; revision?: string };
}
export interface ArtifactSource {
  artifact: { url: string; sha256: string };
}
/** A directory on the machine running `pulumi up`, shipped to the hosts (what `fab deploy` did). */
export interface LocalSource {
  local: { path: string };
}
export type DeploySource = GitSource | ArtifactSource | LocalSource;

/** What the host needs to fetch one release, validated. */
export interface ResolvedSource {
  kind: "git" | "artifact" | "local";
  url: string;
  /** git: the commit SHA or tag to check out; artifact: a label (or the sha256). */
  revision: string;
  sha256?: string;
  /** Directory name under releases/: the git revision, or the artifact hash prefix. */
  release: string;
  /** local: the packed tree (base64 tar), shipped in the prepare bundle. */
  archive?: string;
}

const SHA = /^[0-9a-f]{7,40}$/;
// A tag name git accepts, minus anything a shell, a path or a ref range could misread.
const TAG = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const GIT_URL = /^(https:\/\/|ssh:\/\/|file:\/\/|git@[A-Za-z0-9.-]+:)[^\s'"\\]+$/;
const ARTIFACT_URL = /^(https:\/\/|http:\/\/|file:\/\/)[^\s'"\\]+$/;

export function isValidRevision(rev: string): boolean {
  if (SHA.test(rev)) return true;
  return TAG.test(rev) && !rev.includes("..") && !rev.endsWith(".lock") && !rev.endsWith(".");
}

/**
 * Validates the source and names its release. Releases are named by revision,
 * never by time, so setting an old revision back finds the old release and only switches.
 * `revision` is the component's top-level revision; for git it may be given there or in the source.
 */
export function resolveSource(app: string, source: DeploySource, revision?: string): ResolvedSource {
  if ("git" in source) {
    const { url } = source.git;
    if (!GIT_URL.test(url)) throw new DeployConfigError(`deploy ${app}: source.git.url is not an https/ssh/file git URL: ${JSON.stringify(url)}`);
    const inner = source.git.revision;
    if (inner !== undefined && revision !== undefined && inner !== revision) {
      throw new DeployConfigError(`deploy ${app}: source.git.revision ${JSON.stringify(inner)} and revision ${JSON.stringify(revision)} disagree`);
    }
    const rev = inner ?? revision;
    if (rev === undefined) throw new DeployConfigError(`deploy ${app}: revision is required for a git source`);
    if (!isValidRevision(rev)) {
      throw new DeployConfigError(`deploy ${app}: revision must be a commit SHA (7-40 hex) or a tag name, got ${JSON.stringify(rev)}`);
    }
    return { kind: "git", url, revision: rev, release: rev };
  }
  if ("artifact" in source) {
    const { url } = source.artifact;
    // Digests are compared as lowercase hex; sha256sum prints lowercase, some tools print uppercase.
    const sha256 = source.artifact.sha256.toLowerCase();
    if (!ARTIFACT_URL.test(url)) throw new DeployConfigError(`deploy ${app}: source.artifact.url is not an https/http/file URL: ${JSON.stringify(url)}`);
    if (!/^[0-9a-f]{64}$/.test(sha256))
      throw new DeployConfigError(`deploy ${app}: source.artifact.sha256 must be 64 hex digits, got ${JSON.stringify(sha256)}`);
    if (revision !== undefined && !isValidRevision(revision)) {
      throw new DeployConfigError(`deploy ${app}: revision label must be a SHA or tag-like name, got ${JSON.stringify(revision)}`);
    }
    return { kind: "artifact", url, revision: revision ?? sha256, sha256, release: sha256.slice(0, 16) };
  }
  if ("local" in source) {
    if (revision !== undefined && !isValidRevision(revision)) {
      throw new DeployConfigError(`deploy ${app}: revision label must be a SHA or tag-like name, got ${JSON.stringify(revision)}`);
    }
    const packed = packDirectory(source.local.path);
    return {
      kind: "local",
      url: `local:${source.local.path}`,
      revision: revision ?? packed.sha256,
      sha256: packed.sha256,
      release: packed.sha256.slice(0, 16),
      archive: packed.base64,
    };
  }
  throw new DeployConfigError(`deploy ${app}: source must have "git", "artifact" or "local"`);
}
