import * as pulumi from "@pulumi/pulumi";
import { FleetConfig } from "../config/types";

/** What the stack's `volumes` output records of each stateful server's volume, read back by the next run. */
export interface VolumeRecord {
  id: string;
  role: string;
  sizeGb: number;
  mountPoint: string;
  /** Kept only because the server is in fleet:retire: unprotected, deleted once it leaves that list. */
  retired?: boolean;
}

export interface VolumeCheck {
  /** Refusals: each one names the key to change and how. The run must stop before registering anything. */
  problems: string[];
  warnings: string[];
  /** Retired servers whose volumes stay (unprotected) this run. */
  retained: Record<string, VolumeRecord>;
}

/**
 * Pure: what the config may do to the volumes the stack already has. Data is never lost by an edit: a stateful
 * server that leaves fleet:servers must be named in fleet:retire, and a volume cannot shrink (Cinder refuses, and
 * replacing it would lose the data).
 */
export function checkVolumes(previous: Record<string, VolumeRecord>, config: FleetConfig): VolumeCheck {
  const problems: string[] = [];
  const warnings: string[] = [];
  const retained: Record<string, VolumeRecord> = {};
  const servers = new Map(config.servers.map((s, i) => [s.name, { s, i }]));
  const retire = new Set(config.retire);
  for (const [name, v] of Object.entries(previous).sort(([a], [b]) => a.localeCompare(b))) {
    const now = servers.get(name);
    if (now) {
      const size = now.s.volume?.size;
      if (size !== undefined && size < v.sizeGb) {
        problems.push(
          `fleet:roles.${now.s.role}.volume.size: ${size} GiB is smaller than ${name}'s volume ${v.id} (${v.sizeGb} GiB); a volume can grow, never shrink`,
        );
      }
      if (size === undefined && !v.retired) {
        problems.push(
          `fleet:servers[${now.i}]: ${name} keeps its data on volume ${v.id} (${v.sizeGb} GiB, ${v.mountPoint}), but role ${now.s.role} has no fleet:roles.${now.s.role}.volume; ` +
            `give the role its volume back, or retire the server (see below) and add it again`,
        );
      }
      continue;
    }
    if (retire.has(name)) {
      retained[name] = { ...v, retired: true };
      continue;
    }
    if (v.retired) continue; // out of fleet:retire: its volume is deleted this run, as the retirement said
    problems.push(
      `fleet:servers: ${name} (role ${v.role}) is gone from the list, but its data is on volume ${v.id} (${v.sizeGb} GiB, ${v.mountPoint}), which the stack protects. ` +
        `To keep the server, put it back. To retire it on purpose, add it to fleet:retire: the next up deletes the server and keeps the volume, unprotected; ` +
        `removing it from fleet:retire later deletes the volume (or run \`pulumi state delete\` on the volume first to keep it outside the stack).`,
    );
  }
  for (const name of config.retire) {
    if (!previous[name]) warnings.push(`fleet:retire: ${name} has no volume in this stack; there is nothing to retire (remove it from the list)`);
  }
  return { problems, warnings, retained };
}

/** The engine's own function for a stack's outputs (pulumi pkg/resource/deploy/builtins.go, readStackOutputs). */
export const READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs";

/**
 * The volumes this stack recorded at its last successful update (its own `volumes` output): the program sees the
 * config, not the state, so this is how it learns what a removed server held. Read with the engine's invoke rather
 * than a StackReference resource, which would keep a copy of every output in the state and show up as drift in
 * `pulumi refresh` once the outputs moved on. A stack that never ran, or ran before volumes existed, has none.
 */
export async function previousVolumes(): Promise<Record<string, VolumeRecord>> {
  const name = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
  const r = (await pulumi.runtime.invoke(READ_STACK_OUTPUTS, { name })) as { outputs?: Record<string, unknown> };
  const v = r?.outputs?.volumes;
  return v && typeof v === "object" ? (v as Record<string, VolumeRecord>) : {};
}
