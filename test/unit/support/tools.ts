import { spawnSync } from "child_process";

/**
 * For a unit test that checks our output with the real tool (`cloud-init schema`, `openvpn --genkey`): a missing
 * tool fails the test with what to run, not with spawn's ENOENT.
 */
export function requireTool(name: string): void {
  if (spawnSync("sh", ["-c", 'command -v "$1"', "sh", name]).status === 0) return;
  throw new Error(`${name} is not installed: run \`bash scripts/setup.sh --no-up\` (it installs scripts/setup/debian-packages.txt)`);
}
