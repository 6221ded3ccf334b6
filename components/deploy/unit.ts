import { DeployConfigError } from "./errors";

export interface ServiceUnitSpec {
  app: string;
  /** Run as this user; root when absent. */
  user?: string;
  workingDir: string;
  /** argv; argv[0] is looked up in PATH by systemd if not absolute. */
  execStart: string[];
  envFile: string;
  /** Extra writable paths under ProtectSystem=strict (the app's shared dir). */
  writablePaths?: string[];
  /** Where stdout/stderr are appended, so the deploy can tail it after a failed health check. */
  logFile?: string;
}

const UNIT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Quotes one argv word for systemd's ExecStart= parser (double quotes; \ " $ % escaped). */
export function systemdQuote(word: string): string {
  if (/[\n\r\0]/.test(word)) throw new DeployConfigError(`deploy.command word ${JSON.stringify(word)} contains a line break`);
  // `%` starts a specifier and `$` a variable reference in ExecStart=; both are literal here.
  const escaped = word
    .replace(/[\\"]/g, (c) => `\\${c}`)
    .replace(/%/g, "%%")
    .replace(/\$/g, "$$$$");
  return `"${escaped}"`;
}

function pathValue(key: string, p: string): string {
  if (!p.startsWith("/") || /[\s"'\\%$]/.test(p)) {
    throw new DeployConfigError(`${key} must be an absolute path without spaces, quotes or specifiers, got ${JSON.stringify(p)}`);
  }
  return p;
}

/**
 * A hardened systemd service for an app release. Pure and deterministic: the
 * same spec renders byte-identical text, so the prepare bundle hash is stable.
 */
export function renderServiceUnit(spec: ServiceUnitSpec): string {
  if (!UNIT_NAME.test(spec.app)) throw new DeployConfigError(`deploy.app must be a plain name, got ${JSON.stringify(spec.app)}`);
  if (spec.execStart.length === 0) throw new DeployConfigError(`deploy.command for app ${spec.app} is empty`);
  if (spec.user !== undefined && !/^[a-z_][a-z0-9_-]{0,31}$/.test(spec.user)) {
    throw new DeployConfigError(`deploy.user must be a Unix user name, got ${JSON.stringify(spec.user)}`);
  }
  const writable = [...new Set(spec.writablePaths ?? [])].map((p) => pathValue("deploy writable path", p)).sort();
  const lines = [
    "# Rendered by openstack-fleet (components/deploy/unit.ts); replaced on every deploy.",
    "[Unit]",
    `Description=${spec.app} (fleet deploy)`,
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    // No Group=: systemd then uses the user's primary group (nobody's is nogroup, not nobody).
    ...(spec.user !== undefined ? [`User=${spec.user}`] : []),
    `WorkingDirectory=${pathValue("deploy.workingDir", spec.workingDir)}`,
    `EnvironmentFile=${pathValue("deploy.envFile", spec.envFile)}`,
    `ExecStart=${spec.execStart.map(systemdQuote).join(" ")}`,
    "Restart=on-failure",
    "RestartSec=2",
    ...(spec.logFile !== undefined ? [`StandardOutput=append:${pathValue("deploy.logFile", spec.logFile)}`, "StandardError=inherit"] : []),
    "NoNewPrivileges=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectControlGroups=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "RestrictRealtime=yes",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ...(writable.length > 0 ? [`ReadWritePaths=${writable.join(" ")}`] : []),
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ];
  return lines.join("\n");
}
