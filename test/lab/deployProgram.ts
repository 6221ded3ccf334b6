/**
 * Lab program for deploy-program.test.ts: index.ts's Fleet, but `deploylab:enabled`
 * false drops `fleet:deploy` from the config for the first up, so the test can seed
 * each app host with a git mirror before any deploy runs (lab hosts cannot reach the
 * internet). With it true, the Fleet deploys exactly as a stack would.
 */
import * as pulumi from "@pulumi/pulumi";
import { Fleet, loadFleetConfig } from "../../components";

const loaded = loadFleetConfig();
const enabled = new pulumi.Config("deploylab").getBoolean("enabled") ?? false;
const config = enabled ? loaded : { ...loaded, deploy: undefined };
const appEnv = new pulumi.Config("fleet").getSecretObject<Record<string, string>>("appEnv");
const fleet = new Fleet("fleet", { config, appEnv });

export const servers = fleet.serverSummary;
export const adminPrivateKey = pulumi.secret(fleet.gateway.adminPrivateKey);
export const revisions = fleet.revisions;
