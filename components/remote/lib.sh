#!/usr/bin/env bash
# Shared helpers for fleet remote scripts. Sourced as: . "$1/lib.sh"

# Reads one bundle parameter file; fails naming the parameter if it is missing.
param() {
  local f="$FLEET_BUNDLE/$1"
  if [ ! -f "$f" ]; then
    echo "fleet: missing parameter '$1'" >&2
    return 2
  fi
  cat -- "$f"
}

# Optional parameter with a default.
param_or() {
  local f="$FLEET_BUNDLE/$1"
  if [ -f "$f" ]; then cat -- "$f"; else printf '%s' "$2"; fi
}

# True when systemd is PID 1. The scripts refuse a host without it: their units are the boot path.
have_systemd() {
  [ -d /run/systemd/system ]
}

die() {
  echo "fleet: $*" >&2
  exit 1
}

# The one lock design on hosts: flock(1) on <file> through fd 9, held until the script exits. The kernel lets go
# when the holder dies, so a lock is never stale; who holds it is in <file>.owner, for the message of one refused.
# fleet_lock <file> <seconds to wait, or "forever"> <what is locked, for the message> [<owner details>]
fleet_lock() {
  local file=$1 wait=$2 what=$3
  exec 9>"$file"
  if [ "$wait" = forever ]; then
    flock 9
  elif ! flock -w "$wait" 9; then
    die "$what is locked by another run: $(tr '\n' ' ' <"$file.owner" 2>/dev/null || echo "(no owner recorded)")"
  fi
  printf 'pid=%s host=%s since=%s %s\n' "$$" "$(hostname)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${4:-}" >"$file.owner"
}
