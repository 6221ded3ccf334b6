/**
 * Lab program for deploy-program.test.ts: the fleet from config plus AppDeploy on
 * the config's deploy roles, exactly as a stack would wire them. `deploylab:enabled`
 * is false for the first up, so the test can seed each app host with a git mirror
 * before any deploy runs (lab hosts cannot reach the internet).
 */
import * as pulumi from "@pulumi/pulumi";
import { Fleet, loadFleetConfig } from "../../components";
import { AppDeploy, deployArgsFromConfig } from "../../components/deploy";

const config = loadFleetConfig();
const appEnv = new pulumi.Config("fleet").getSecretObject<Record<string, string>>("appEnv");
const fleet = new Fleet("fleet", { config, appEnv });
const enabled = new pulumi.Config("deploylab").getBoolean("enabled") ?? false;

const deploy =
  enabled && config.deploy
    ? new AppDeploy(config.deploy.app, deployArgsFromConfig(config.deploy, fleet.servers, { env: appEnv ?? {}, deployer: "lab@deploy-program" }))
    : undefined;

export const servers = fleet.serverSummary;
export const adminPrivateKey = pulumi.secret(fleet.gateway.adminPrivateKey);
export const revisions = deploy ? deploy.revisions : {};
