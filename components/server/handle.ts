import * as pulumi from "@pulumi/pulumi";
import { Connection } from "../remote/script";

/** What other components (firewall, VPN, deploy) need to know about one server. */
export interface ServerHandle {
  /** Hostname, from config. */
  name: string;
  role: string;
  privateIp: pulumi.Output<string>;
  publicIp: pulumi.Output<string | undefined>;
  /** Secret. Pins the stack-generated host key; private servers go through the gateway as `proxy`. */
  connection: pulumi.Output<Connection>;
  /** The readiness step; every remote command on this server depends on it. */
  ready: pulumi.Resource;
  /**
   * The machine behind this name: the instance id and its image id. A replaced instance has a new id and a rebuilt
   * one a new image (same id, wiped disk), so every per-host step that carries it (scriptCommand's `machine`) runs
   * again, in order, on the new machine.
   */
  machineId: pulumi.Output<string>;
}
