import { Fabric } from "../hosts";
import { StackLayout } from "../layout";
import { Json, ResourceRecord } from "./state";

export type Inputs = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface CreateArgs {
  urn: string;
  type: string;
  name: string;
  /** Plain inputs, secrets unwrapped. */
  inputs: Inputs;
}

export interface Created {
  id: string;
  /** Computed outputs; the emulator merges them over the inputs, like a provider's state. */
  outputs: Record<string, Json>;
  /** Output names to hand back as secrets. */
  secretOutputs?: string[];
}

/** One provider resource type, emulated. */
export interface Handler {
  create(args: CreateArgs): Promise<Created>;
  /** Re-learn in-memory facts from a record that is kept unchanged (ports, addresses, hosts). */
  adopt?(rec: ResourceRecord): void;
  delete?(rec: ResourceRecord): Promise<void>;
  /**
   * In-place update for changed inputs; without it every change replaces.
   * `replaceOn` lists inputs whose change still forces a replacement.
   */
  update?(prev: ResourceRecord, args: CreateArgs): Promise<Created>;
  replaceOn?: string[];
  /** Names must stay unique (a lab host per instance name): the old one goes first. */
  deleteBeforeReplace?: boolean;
}

export interface EmulatorContext {
  L: StackLayout;
  fabric: Fabric;
}

export class EmulationError extends Error {}
