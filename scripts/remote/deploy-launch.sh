#!/usr/bin/env bash
# Starts an app where there is no systemd, as the systemd unit would: its environment from the root-owned env
# file (never on a command line: /proc/*/cmdline is world-readable), its command from .fleet/exec, as its own
# unprivileged user with no way back to root. Installed by deploy-prepare; run (detached) by deploy-activate.
# Usage: deploy-launch.sh APP_ROOT PIDFILE    (cwd: the release to run)
set -euo pipefail
root=$1 pidfile=$2
env_file=$root/.fleet/app.env
user=$(cat -- "$root/.fleet/user")
[[ $user =~ ^[a-z_][a-z0-9_-]{0,31}$ && $user != root ]] || { echo "fleet: bad app user '$user'" >&2; exit 1; }
mapfile -t argv <"$root/.fleet/exec"
[ "${#argv[@]}" -gt 0 ] || { echo "fleet: no service command in $root/.fleet/exec" >&2; exit 1; }

# Nothing of this shell's (root's, the SSH session's) environment reaches the app: only PATH and the env file.
while IFS= read -r name; do unset -v "$name" 2>/dev/null || true; done < <(compgen -e)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# The renderDotenv syntax (KEY="value", with \ " $ ` escaped), read without evaluating it. One sed pass per value
# drops the escapes, so a value costs time in proportion to its length.
if [ -f "$env_file" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in '' | '#'*) continue ;; esac
    key=${line%%=*}
    raw=${line#*=}
    [[ $key =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { echo "fleet: $env_file has a malformed line (key '$key')" >&2; exit 1; }
    if [[ $raw == \"*\" && ${#raw} -ge 2 ]]; then raw=${raw:1:${#raw}-2}; fi
    if [[ $raw == *\\* ]]; then raw=$(printf '%s\n' "$raw" | sed -E 's/\\(.)/\1/g'); fi
    export "$key=$raw"
  done <"$env_file"
fi

echo "$$" >"$pidfile"
uid=$(id -u -- "$user")
gid=$(id -g -- "$user")
# setpriv execs in place (the pid in the pidfile stays the app's) and sets no_new_privs, like NoNewPrivileges=yes.
exec setpriv --reuid="$uid" --regid="$gid" --init-groups --no-new-privs -- "${argv[@]}"
