import { z } from "zod";

/**
 * The stack config, key by key (namespace `fleet:` in Pulumi.<stack>.yaml).
 * Structure is checked here; cross-field rules live in validate.ts.
 */

const port = z.number().int().min(1, "must be a port in 1–65535").max(65535, "must be a port in 1–65535");
const portOrRange = z.union([port, z.string().regex(/^\d{1,5}-\d{1,5}$/, 'must be a port or a range "from-to"')]);

export const ruleSchema = z.strictObject({
  proto: z.enum(["tcp", "udp"]).default("tcp"),
  ports: z.array(portOrRange).min(1, "must list at least one port"),
  from: z.array(z.string().min(1)).min(1, "must list at least one source (a role, vpn or public)"),
});

export const roleSchema = z.strictObject({
  public: z.boolean().optional(),
  flavor: z.string().min(1).optional(),
  image: z.string().min(1).optional(),
  allow: z.array(ruleSchema).default([]),
});

export const serverSchema = z.strictObject({
  name: z.string(),
  role: z.string(),
  flavor: z.string().min(1).optional(),
  image: z.string().min(1).optional(),
});

export const CLOUD_FLAVOURS = ["openstack", "rackspace-classic"] as const;

export const cloudSchema = z.strictObject({
  flavour: z.enum(CLOUD_FLAVOURS, { error: `must be one of ${CLOUD_FLAVOURS.join(", ")}` }),
  /** Neutron external network for the router and floating IPs (openstack flavour). */
  externalNetwork: z.string().min(1).default("PUBLICNET"),
  image: z.string().min(1),
  flavor: z.string().min(1),
  /** Nova availability zone, if the cloud wants one. */
  availabilityZone: z.string().min(1).optional(),
});

export const networkSchema = z.strictObject({
  cidr: z.string(),
  dnsNameservers: z.array(z.string()).default([]),
});

export const vpnSchema = z.strictObject({
  subnet: z.string().default("10.8.0.0/24"),
  port: port.default(1194),
  proto: z.enum(["udp", "tcp"]).default("udp"),
  engineers: z.array(z.string()).default([]),
  /** Who may reach the gateway's SSH (the machine running `pulumi up`). */
  adminCidrs: z.array(z.string()).default(["0.0.0.0/0"]),
  /** DNS servers pushed to clients; none by default (split tunnel). */
  dns: z.array(z.string()).default([]),
  certValidityHours: z
    .number()
    .int()
    .min(24)
    .default(24 * 365),
  earlyRenewalHours: z
    .number()
    .int()
    .min(0)
    .default(24 * 30),
});

export const firewallSchema = z.strictObject({
  confirmTimeoutSeconds: z.number().int().min(10).max(3600).default(60),
});

export const deploySourceSchema = z.union([
  z.strictObject({ git: z.strictObject({ url: z.string().min(1), revision: z.string().min(1) }) }),
  z.strictObject({ artifact: z.strictObject({ url: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be a sha256 hex digest") }) }),
  z.strictObject({ local: z.strictObject({ path: z.string().min(1) }) }),
]);

export const deploySchema = z.strictObject({
  app: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, "must be a short lowercase name (letters, digits, -)"),
  roles: z.array(z.string()).min(1),
  source: deploySourceSchema,
  port: port.default(8080),
  healthPath: z.string().startsWith("/").default("/health"),
  healthTimeoutSeconds: z.number().int().min(1).max(600).default(30),
  batchSize: z.number().int().min(1).default(1),
  keepReleases: z.number().int().min(2).default(5),
});

export const fleetConfigSchema = z.strictObject({
  cloud: cloudSchema,
  network: networkSchema,
  roles: z.record(z.string(), roleSchema).default({}),
  servers: z.array(serverSchema),
  vpn: vpnSchema.default(vpnSchema.parse({})),
  firewall: firewallSchema.default(firewallSchema.parse({})),
  deploy: deploySchema.optional(),
});

export type RawFleetConfig = z.input<typeof fleetConfigSchema>;
export type ParsedFleetConfig = z.output<typeof fleetConfigSchema>;
export type DeploySource = z.output<typeof deploySourceSchema>;
