/**
 * npm run matrix [-- --stack NAME] [--json]
 * Prints who may reach what (role × role × port) for a stack, computed offline from its config.
 */
import { connectivityMatrix, formatMatrix } from "../components/firewall/matrix";
import { firewallInputFromConfig } from "../components/fleet/policy-input";
import { flag, fleetConfigOf, runCli } from "./stack";

runCli(() => {
  const argv = process.argv.slice(2);
  const cfg = fleetConfigOf(flag(argv, "stack") ?? "dev", flag(argv, "config-file"));
  const matrix = connectivityMatrix(firewallInputFromConfig(cfg));
  console.log(argv.includes("--json") ? JSON.stringify(matrix, null, 2) : formatMatrix(matrix));
});
