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
