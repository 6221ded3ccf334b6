#!/usr/bin/env bash
# The README's first command: takes a fresh Debian 12 machine (as root, Node.js >= 20 present) to a running
# dev stack in the lab. Installs what is missing (Debian packages, npm ci), then `npm run lab -- up`.
# Each step prints one line and the time it took. Safe to run again: what is there is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  --help | -h)
    cat <<'USAGE'
Usage: bash scripts/setup.sh [--no-up] [--help]

Installs the Debian packages in scripts/setup/debian-packages.txt and the npm dependencies, builds the lab's
host image (lab/image/build.sh, once), then brings the dev stack (Pulumi.dev.yaml) up in the lab. Needs root and
Node.js >= 20.
  --no-up   install only; do not start the lab

Environment:
  FLEET_CACHE         where built things are kept between runs, keyed by version: the lab's host image and the
                      ssh-audit venv (default: $XDG_CACHE_HOME/openstack-fleet, else ~/.cache/openstack-fleet)
  XDG_CACHE_HOME      the default's base, when FLEET_CACHE is unset
  FLEET_LAB_STACK     the lab stack the final `npm run lab -- up` brings up (default: dev)
  FLEET_LAB_CLOUD_DIR where the lab's OpenStack keeps its configs, data and logs (default: /var/lib/fleet-lab/cloud)
USAGE
    exit 0
    ;;
  --no-up | "") ;;
  *) echo "setup: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

step_start=0
step() { step_start=$SECONDS; printf '==> %s ... ' "$1"; }
done_step() { echo "done ($((SECONDS - step_start)) s)"; }

[ "$(id -u)" = 0 ] || { echo "setup: run as root (the lab uses network namespaces and iptables)" >&2; exit 1; }
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "setup: Node.js >= 20 is needed (Debian 12 ships 18): install it from nodejs.org or NodeSource, then run this again" >&2
  exit 1
fi

packages=$(grep -v '^#' scripts/setup/debian-packages.txt | tr '\n' ' ')
missing=$(for p in $packages; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
step "Debian packages ($(echo "$missing" | wc -w) missing)"
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086 # a word list on purpose
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } >/tmp/fleet-setup-apt.log 2>&1 ||
    { echo "failed; see /tmp/fleet-setup-apt.log"; exit 1; }
fi
done_step

step "npm dependencies"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >/tmp/fleet-setup-npm.log 2>&1 || { echo "failed; see /tmp/fleet-setup-npm.log"; exit 1; }
fi
done_step

# Debian's ssh-audit (2.5.0) predates OpenSSH 9.2's strict KEX and calls sntrup761 experimental; the lab audits
# with a current release, kept in a venv keyed by its version outside the repo.
SSH_AUDIT_VERSION=3.3.0
SSH_AUDIT_VENV=${FLEET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openstack-fleet}/ssh-audit-$SSH_AUDIT_VERSION
step "ssh-audit $SSH_AUDIT_VERSION (PyPI, cached in $SSH_AUDIT_VENV)"
if [ ! -x "$SSH_AUDIT_VENV/bin/ssh-audit" ]; then
  { python3 -m venv "$SSH_AUDIT_VENV" && "$SSH_AUDIT_VENV/bin/pip" install -q "ssh-audit==$SSH_AUDIT_VERSION"; } >/tmp/fleet-setup-pip.log 2>&1 ||
    { rm -rf "$SSH_AUDIT_VENV"; echo "failed; see /tmp/fleet-setup-pip.log"; exit 1; }
fi
done_step

step "lab host image (Debian 12 with systemd and cloud-init; built once, then cached)"
bash lab/image/build.sh >/dev/null
done_step

[ "${1:-}" = "--no-up" ] && exit 0
# The lab runs the real pulumi: installed at the SDK's version, or built by npm run toolchain.
if ! bash scripts/toolchain.sh --check >/dev/null 2>&1; then
  echo "==> the lab needs the Pulumi toolchain first: npm run toolchain -- --src DIR (or a pulumi on PATH), then npm run lab -- up" >&2
  exit 1
fi
echo "==> the dev stack in the lab (npm run lab -- up)"
t0=$SECONDS
npm run -s lab -- up
echo "==> ready in $((SECONDS - t0)) s: npm run lab -- status, npm run lab -- down when done"
