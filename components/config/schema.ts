import { z } from "zod";
import { HEALTH_PATH } from "../deploy/bundles";
import type { ArtifactSource, LocalSource } from "../deploy/source";

/** A deploy source as config gives it: a git source always names its revision here. */
type ConfigSource = { git: { url: string; revision: string } } | ArtifactSource | LocalSource;

/**
 * The stack config, key by key (namespace `fleet:` in Pulumi.<stack>.yaml).
 * Structure and defaults are checked here, one top-level key at a time (validate.ts parses each
 * key, each server and each role on its own, so one bad value never hides another);
 * cross-field rules live in validate.ts. Objects use `prefault`, so a partly given object
 * still gets the README's default for every field it leaves out.
 */

const PORT_MESSAGE = "must be a port in 1–65535";
const port = z.number().int().min(1, PORT_MESSAGE).max(65535, PORT_MESSAGE);
const portOrRange = z.union([port, z.string().regex(/^\d{1,5}-\d{1,5}$/, 'must be a port or a range "from-to"')], {
  error: (issue) => (typeof issue.input === "number" ? "must be a whole number, a port in 1–65535" : 'must be a port or a range "from-to"'),
});
const text = z.string().min(1, "must not be empty");

export const ruleSchema = z.strictObject({
  proto: z.enum(["tcp", "udp"], { error: "must be tcp or udp" }).default("tcp"),
  ports: z.array(portOrRange).min(1, "must list at least one port"),
  from: z.array(text).min(1, "must list at least one source (a role, vpn or public)"),
});

export const VOLUME_FILESYSTEMS = ["ext4", "xfs"] as const;
/** Where a volume may not be mounted: the system's own trees, which the image provides. */
const SYSTEM_DIRS = /^\/(bin|boot|dev|etc|lib|lib64|proc|run|sbin|sys|tmp|usr)(\/|$)/;

/** A role's data volume: one per server of the role, made once and kept across replacements of the instance. */
export const volumeSchema = z.strictObject({
  /** GiB. */
  size: z.number().int("must be a whole number of GiB").min(1, "must be 1–16384 GiB").max(16384, "must be 1–16384 GiB"),
  mountPoint: z
    .string()
    .regex(/^(\/[A-Za-z0-9._-]+)+$/, "must be an absolute path of letters, digits and . _ - (e.g. /srv/data)")
    .refine((p) => !SYSTEM_DIRS.test(p), "must not be inside a system directory (/etc, /usr, /var/lib is fine: e.g. /srv/data)"),
  filesystem: z.enum(VOLUME_FILESYSTEMS, { error: `must be one of ${VOLUME_FILESYSTEMS.join(", ")}` }).default("ext4"),
});

export const roleSchema = z.strictObject({
  public: z.boolean().optional(),
  flavor: text.optional(),
  image: text.optional(),
  allow: z.array(ruleSchema).default([]),
  /** Makes the role stateful: each of its servers gets this volume, protected from deletion. */
  volume: volumeSchema.optional(),
});

export const serverSchema = z.strictObject({
  name: z.string(),
  role: z.string(),
  flavor: text.optional(),
  image: text.optional(),
  /** Pins the server's private address; without it the cloud allocates one from the servers' range. */
  privateIp: text.optional(),
});

export const CLOUD_FLAVOURS = ["openstack", "rackspace-classic"] as const;

export const cloudSchema = z
  .strictObject({
    flavour: z.enum(CLOUD_FLAVOURS, { error: `must be one of ${CLOUD_FLAVOURS.join(", ")}` }).default("openstack"),
    /** Neutron external network for the router and floating IPs (openstack flavour). */
    externalNetwork: text.default("PUBLICNET"),
    image: text.default("Ubuntu 24.04"),
    flavor: text.default("gp.0.1.2"),
    /** Nova availability zone, if the cloud wants one. */
    availabilityZone: text.optional(),
  })
  .prefault({});

export const networkSchema = z
  .strictObject({
    cidr: z.string().default("10.20.0.0/24"),
    dnsNameservers: z.array(z.string()).default([]),
  })
  .prefault({});

const hours = z.number().int();

export const vpnSchema = z
  .strictObject({
    subnet: z.string().default("10.8.0.0/24"),
    port: port.default(1194),
    proto: z.enum(["udp", "tcp"], { error: "must be udp or tcp" }).default("udp"),
    engineers: z.array(z.string()).default([]),
    /**
     * Who may reach the gateway's SSH (the machine running `pulumi up`). Required: a default would either open SSH
     * to the world or lock the stack out of its own gateway; only the user knows where `up` runs from.
     */
    adminCidrs: z
      .array(z.string())
      .min(1, "must list at least one CIDR: the machine running `pulumi up` reaches the gateway's SSH from there (e.g. [203.0.113.7/32])"),
    /** DNS servers pushed to clients; none by default (split tunnel). */
    dns: z.array(z.string()).default([]),
    certValidityHours: hours.min(24, "must be at least 24 hours").default(24 * 365),
    earlyRenewalHours: hours.min(0, "must be 0 or more hours").default(24 * 30),
  })
  // A stack without fleet:vpn still gets the defaults, and the one required key (adminCidrs) is reported missing.
  .prefault({} as { adminCidrs: string[] });

export const firewallSchema = z
  .strictObject({
    confirmTimeoutSeconds: z.number().int().min(10, "must be 10–3600 seconds").max(3600, "must be 10–3600 seconds").default(60),
  })
  .prefault({});

const SOURCE_KINDS = ["git", "artifact", "local"] as const;

/** Exactly one of git, artifact or local; each checked on its own so the message names the field. */
export const deploySourceSchema = z
  .strictObject({
    git: z.strictObject({ url: text, revision: text }).optional(),
    artifact: z
      .strictObject({
        url: text,
        sha256: z
          .string()
          .regex(/^[0-9a-fA-F]{64}$/, "must be a sha256 digest: 64 hex digits, as `sha256sum FILE` prints")
          .transform((s) => s.toLowerCase()),
      })
      .optional(),
    local: z.strictObject({ path: text }).optional(),
  })
  .superRefine((s, ctx) => {
    const given = SOURCE_KINDS.filter((k) => s[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: "custom",
        message:
          given.length === 0
            ? "must have exactly one of git, artifact or local (e.g. git: { url: https://…, revision: v1.0.0 })"
            : `must have exactly one of git, artifact or local, not ${given.join(" and ")}`,
      });
    }
  })
  .transform((s): ConfigSource => {
    if (s.git) return { git: s.git };
    if (s.artifact) return { artifact: s.artifact };
    return { local: s.local! };
  });

export const deploySchema = z.strictObject({
  app: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, "must be a short lowercase name (letters, digits, -)"),
  roles: z.array(z.string()).min(1, "must list at least one role"),
  source: deploySourceSchema,
  port: port.default(8080),
  healthPath: z
    .string()
    .regex(HEALTH_PATH, "must be a URL path starting with / made of letters, digits and _ . / ? = & - (no spaces or quotes)")
    .default("/health"),
  healthTimeoutSeconds: z.number().int().min(1, "must be 1–600 seconds").max(600, "must be 1–600 seconds").default(30),
  batchSize: z.number().int().min(1, "must be 1 or more").default(1),
  keepReleases: z.number().int().min(2, "must be 2 or more (one to run, one to roll back to)").default(5),
  /** The Unix user the app runs as; default: a system user named after the app, created on the host. Never root. */
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "must be a Unix user name (lowercase letters, digits, _ and -)")
    .refine((u) => u !== "root", "must not be root: the app runs unprivileged (leave it out for a system user named after the app)")
    .optional(),
});

/** Top-level keys, each parsed on its own. `appEnv` is a secret and is checked in app-env.ts. */
export const topLevelSchemas = {
  cloud: cloudSchema,
  network: networkSchema,
  roles: z.record(z.string(), z.unknown()).default({}),
  servers: z.array(z.unknown()),
  vpn: vpnSchema,
  firewall: firewallSchema,
  deploy: deploySchema.optional(),
  /** Stateful servers being retired on purpose: their instances go, their volumes stay one more up, unprotected. */
  retire: z.array(z.string()).default([]),
} as const;

export interface ParsedFleetConfig {
  cloud: z.output<typeof cloudSchema>;
  network: z.output<typeof networkSchema>;
  roles: Record<string, z.output<typeof roleSchema>>;
  servers: z.output<typeof serverSchema>[];
  vpn: z.output<typeof vpnSchema>;
  firewall: z.output<typeof firewallSchema>;
  deploy?: z.output<typeof deploySchema>;
  retire: string[];
}

export type RawFleetConfig = Record<string, unknown>;
export type DeploySource = z.output<typeof deploySourceSchema>;
