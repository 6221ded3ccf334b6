/** A firewall input the renderer refuses (every problem at once, naming the key or host). */
export class FirewallInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FirewallInputError";
  }
}
