import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { bundleHash, BundleFiles, encodeBundle, loader, scriptBundle } from "./bundle";

export type Connection = command.types.input.remote.ConnectionArgs;

export interface ScriptCommandArgs {
  connection: pulumi.Input<Connection>;
  /** Name of a remote script (components/<concept>/<script>.sh, remoteScript), shipped as main.sh. */
  script: string;
  /** Data files for the script. Values may be secrets; they travel on stdin. */
  files?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Run the script again with op "delete" when the resource is deleted. */
  runOnDelete?: boolean;
  /** Treat the bundle as secret: stdin, trigger and output are kept as secrets and not logged. */
  secret?: boolean;
  /**
   * The id of the machine the command runs on (ServerHandle.machineId). It rides in the bundle as `machine-id`, so
   * a replaced instance changes the trigger and the step runs again there; an unchanged machine changes nothing.
   */
  machine?: pulumi.Input<string>;
}

/**
 * One remote command that runs a repo script with its data on stdin.
 * Its trigger is the hash of the whole bundle (script + data), so the command
 * re-runs exactly when what it would do changes, and never on a no-op up.
 */
export function scriptCommand(name: string, args: ScriptCommandArgs, opts: pulumi.CustomResourceOptions): command.remote.Command {
  const files = pulumi.all([args.files ?? {}, args.machine]).apply(([f, machine]) => {
    const all: BundleFiles = scriptBundle(args.script, f);
    if (machine !== undefined) all["machine-id"] = machine;
    return all;
  });
  const stdin = files.apply(encodeBundle);
  const hash = files.apply(bundleHash);
  return new command.remote.Command(
    name,
    {
      connection: args.connection,
      create: loader("create"),
      delete: args.runOnDelete ? loader("delete") : undefined,
      stdin: args.secret ? pulumi.secret(stdin) : stdin,
      triggers: [args.secret ? pulumi.secret(hash) : hash],
      logging: args.secret ? "stderr" : "stdoutAndStderr",
      addPreviousOutputInEnv: false,
    },
    { ...opts, additionalSecretOutputs: args.secret ? ["stdout"] : undefined },
  );
}
