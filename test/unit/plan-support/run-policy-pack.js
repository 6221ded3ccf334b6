// Loads the policy pack in the current directory the way the Pulumi CLI's nodejs policy host does
// (@pulumi/pulumi cmd/run-policy-pack/run.js: ts-node with type checking, then require the pack dir).
const path = require("path");
const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [process.cwd()] }));
const tsutils = require(path.join(pulumiDir, "tsutils.js"));
const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
const compilerOptions = tsutils.loadTypeScriptCompilerOptions("tsconfig.json");
require(tsnodeRequire).register({
  typeCheck: true,
  skipProject: false,
  compiler: typescriptRequire,
  compilerOptions: { target: "ES2020", module: "nodenext", moduleResolution: "nodenext", sourceMap: "true", ...compilerOptions },
});
require(process.cwd());
