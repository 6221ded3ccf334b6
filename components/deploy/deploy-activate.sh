#!/usr/bin/env bash
# Switches an app to a prepared release under an on-host lock, restarts it, and
# keeps it only if its health URL answers before the deadline; otherwise switches back.
set -euo pipefail
FLEET_BUNDLE=$1; OP=${2:-create}; export FLEET_BUNDLE
# shellcheck source=components/remote/lib.sh
. "$FLEET_BUNDLE/lib.sh"
[ "$OP" = create ] || exit 0
have_systemd || die "$(hostname) needs systemd as PID 1: the app runs as a systemd service"

app=$(param app)
release=$(param release)
health_url=$(param health_url)
health_timeout=$(param health_timeout)
keep=$(param keep)
deployer=$(param deployer)
env_want=$(param env_sha256)

[[ $app =~ ^[a-z][a-z0-9_-]{0,31}$ ]] || die "bad app name '$app'"
[[ $release =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ && $release != *..* ]] || die "bad release name '$release'"
[[ $health_timeout =~ ^[0-9]+$ && $keep =~ ^[0-9]+$ && $keep -ge 2 ]] || die "bad numeric parameter"
[[ $health_url =~ ^http://127\.0\.0\.1:[0-9]+/ ]] || die "bad health url '$health_url'"
[[ $env_want =~ ^[0-9a-f]{64}$ ]] || die "bad env digest"

umask 022
root=/srv/$app
host=$(hostname)
target=releases/$release
[ -d "$root/$target" ] || die "release $release of $app is not prepared on $host (run prepare first)"
logfile=/var/log/$app/app.log
# Digest of the .env the running app was started with: a changed env needs a restart.
started_env=$root/.fleet/started-env.sha256

# --- service ----------------------------------------------------------------
running() {
  systemctl is-active --quiet "$app.service"
}

healthy_now() {
  curl -fsS -o /dev/null --max-time 2 -- "$health_url" 2>/dev/null
}

restart() {
  printf '%s\n' "$env_want" >"$started_env"
  systemctl restart "$app.service"
}

stop_service() {
  systemctl stop "$app.service" || true
}

now_ms() {
  local t=${EPOCHREALTIME/[.,]/}
  echo $((t / 1000))
}

# Polls from 20 ms up to 500 ms apart: a fast app is seen healthy almost at once,
# a slow one is not hammered.
wait_healthy() { # <seconds>; 0 once the health URL answers 2xx
  local deadline delay=20
  deadline=$(($(now_ms) + $1 * 1000))
  while :; do
    healthy_now && return 0
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
    delay=$((delay * 2 > 500 ? 500 : delay * 2))
  done
}

log_tail() {
  if [ -s "$logfile" ]; then
    tail -n 30 -- "$logfile"
  else
    journalctl -u "$app.service" -n 30 --no-pager 2>/dev/null || true
  fi
}

# Atomic: a new symlink renamed over the old one; readers see old or new, never none.
switch_to() { # <releases/x>
  local tmp=$root/.current.$$
  rm -f -- "$tmp"
  ln -s -- "$1" "$tmp"
  mv -T -- "$tmp" "$root/current"
}

audit() { # <outcome> <previous>
  local rev
  rev=$(head -n 1 -- "$root/$target/REVISION" 2>/dev/null || echo "$release")
  printf '%s\t%s\t%s\t%s\t%s\t%s\tprevious=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$host" "$deployer" "$1" "$release" "$rev" "${2##*/}" >>"$root/revisions.log"
}

# Keeps the newest `keep` releases (by last prepare/activation), always current and the previous one.
prune() { # <previous>
  local n=0 name
  while IFS= read -r name; do
    n=$((n + 1))
    if [ "$n" -le "$keep" ] || [ "releases/$name" = "$target" ] || [ "releases/$name" = "$1" ]; then continue; fi
    echo "removing old release $name"
    rm -rf -- "${root:?}/releases/$name"
  done < <(find "$root/releases" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%T@ %f\n' | sort -rn | cut -d' ' -f2-)
}

# --- main -------------------------------------------------------------------
# One deploy at a time per app and host; a second one fails at once, naming the first.
fleet_lock "$root/.fleet/deploy.lock" 0 "deploy of $app on $host" "who=$deployer release=$release"
previous=$(readlink -- "$root/current" 2>/dev/null || true)
env_have=$(sha256sum -- "$root/.fleet/app.env" | cut -d' ' -f1)
[ "$env_have" = "$env_want" ] || die "the env file of $app on $host is not the one this deploy prepared (was prepare re-run by someone else?)"

if [ "$previous" = "$target" ] && [ "$(cat -- "$started_env" 2>/dev/null || true)" = "$env_want" ] && running && healthy_now; then
  echo "$app on $host: release $release is already current and healthy; nothing to do"
  exit 0
fi

switch_to "$target"
restart
if wait_healthy "$health_timeout"; then
  touch -- "$root/$target"
  audit deployed "$previous"
  prune "$previous"
  if [ -n "$previous" ]; then
    echo "$app on $host: release $release is live (previous: ${previous##*/})"
  else
    echo "$app on $host: release $release is live (first release)"
  fi
  exit 0
fi

tail_text=$(log_tail)
if [ "$previous" = "$target" ]; then
  # Same release (an env change or a crashed app): there is nothing older to go back to here.
  rolled="it already was the current release; left in place"
elif [ -n "$previous" ] && [ -d "$root/$previous" ]; then
  switch_to "$previous"
  restart
  if wait_healthy "$health_timeout"; then rolled="rolled back to ${previous##*/}"; else rolled="rolled back to ${previous##*/}, which is NOT healthy either"; fi
else
  rm -f -- "$root/current"
  stop_service
  rolled="no previous release to roll back to; service stopped"
fi
audit failed "$previous"
{
  echo "fleet: $app release $release failed its health check $health_url within ${health_timeout}s on $host; $rolled"
  echo "--- last lines of the $app log ---"
  printf '%s\n' "$tail_text"
} >&2
exit 1
