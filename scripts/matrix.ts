/**
 * npm run matrix -- [--stack NAME] [--config-file FILE] [--json] [--help]
 *
 * Prints who may reach what (role × role × port) for a stack, computed offline from its config
 * (Pulumi.<stack>.yaml; the stack defaults to dev). --json prints the entries as JSON.
 */
import { connectivityMatrix, formatMatrix } from "../components/firewall/matrix";
import { firewallInputFromConfig } from "../components/fleet/policy-input";
import { flag, fleetConfigOf, runCli } from "./stack";

runCli(__filename, (argv) => {
  const cfg = fleetConfigOf(flag(argv, "stack") ?? "dev", flag(argv, "config-file"));
  const matrix = connectivityMatrix(firewallInputFromConfig(cfg));
  console.log(argv.includes("--json") ? JSON.stringify(matrix, null, 2) : formatMatrix(matrix));
});
