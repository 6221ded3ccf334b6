import { DeployConfigError } from "./errors";

/**
 * Splits hosts into rolling batches of at most `batchSize`, keeping the given
 * (config) order so operators decide which hosts go first, e.g. a canary.
 */
export function planBatches(hosts: string[], batchSize: number): string[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new DeployConfigError(`deploy.batchSize must be an integer >= 1, got ${JSON.stringify(batchSize)}`);
  }
  const seen = new Set<string>();
  for (const h of hosts) {
    if (seen.has(h)) throw new DeployConfigError(`deploy.targets lists host ${JSON.stringify(h)} twice`);
    seen.add(h);
  }
  const batches: string[][] = [];
  for (let i = 0; i < hosts.length; i += batchSize) batches.push(hosts.slice(i, i + batchSize));
  return batches;
}
