export { AppDeploy, AppDeployArgs, DeployConfig, deployArgsFromConfig, SAMPLE_APP_COMMAND } from "./deploy";
export { planBatches } from "./batches";
export { renderServiceUnit, ServiceUnitSpec } from "./unit";
export { renderDotenv } from "./dotenv";
export { resolveSource, DeploySource, ResolvedSource } from "./source";
export { DeploySpec, prepareFiles, activateFiles } from "./bundles";
export { DeployConfigError } from "./errors";
