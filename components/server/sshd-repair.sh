#!/usr/bin/env bash
# Puts the fleet's sshd drop-in back as the instance's cloud-config wrote it, and has sshd re-read it.
# Bundle: sshd_config (the drop-in's content, from the instance's user data).
# A config sshd rejects is never left in place: the old file comes back and the script fails. A reload keeps
# every open session (ours included); only new connections see the new settings.
set -euo pipefail
FLEET_BUNDLE=$1; export FLEET_BUNDLE
# shellcheck source=components/remote/lib.sh
. "$FLEET_BUNDLE/lib.sh"

dropin=/etc/ssh/sshd_config.d/10-fleet.conf
want="$FLEET_BUNDLE/sshd_config"
[ -f "$want" ] || die "missing parameter 'sshd_config'"

if cmp -s -- "$want" "$dropin" && [ "$(stat -c '%a %U' -- "$dropin")" = "644 root" ]; then
  echo "sshd: $dropin is already the stack's"
else
  backup=""
  if [ -f "$dropin" ]; then
    backup=$(mktemp "$dropin.was.XXXXXX")
    cp -p -- "$dropin" "$backup"
  fi
  install -o root -g root -m 0644 -- "$want" "$dropin.new"
  mv -f -- "$dropin.new" "$dropin"
  if ! err=$(sshd -t 2>&1); then
    if [ -n "$backup" ]; then mv -f -- "$backup" "$dropin"; else rm -f -- "$dropin"; fi
    die "sshd rejects the stack's drop-in, so the old one stays: $err"
  fi
  [ -z "$backup" ] || rm -f -- "$backup"
  echo "sshd: $dropin restored from the stack"
fi

# Reload even when the file is right: drift can also be a daemon that never re-read it.
systemctl try-reload-or-restart ssh.service
echo "sshd: reloaded"
