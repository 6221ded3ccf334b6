/** Bad deploy input: the message names the config key (and host) and the bad value. */
export class DeployConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DeployConfigError";
  }
}
