#!/usr/bin/env bash
# Shared by firewall-apply/confirm/revert/boot. Standalone (no bundle needed), because the
# revert and boot scripts run long after the bundle's temp dir is gone.
# Sourced as: . firewall-lib.sh

FW_SET_NAME='^fleet-[a-z0-9-]+$'
FW_PATH='^/[A-Za-z0-9/_.-]+$'
FW_UNIT=fleet-firewall
FW_REVERT_UNIT=fleet-firewall-revert

fw_die() {
  echo "fleet: $(hostname): $*" >&2
  exit 1
}

fw_log() {
  echo "fleet-firewall: $*" >&2
}

# Sets FW_ETC (persisted rules, loaded at boot) and FW_STATE (arming, snapshots, installed scripts).
fw_dirs() {
  FW_ETC=$1
  FW_STATE=$2
  [[ $FW_ETC =~ $FW_PATH ]] || fw_die "etc_dir must be an absolute plain path, got '$FW_ETC'"
  [[ $FW_STATE =~ $FW_PATH ]] || fw_die "state_dir must be an absolute plain path, got '$FW_STATE'"
  mkdir -p "$FW_STATE" "$FW_ETC"
  chmod 0700 "$FW_STATE"
}

fw_require_tools() {
  local t
  for t in ipset iptables-restore ip6tables-restore iptables-save ip6tables-save flock; do
    command -v "$t" >/dev/null || fw_die "missing $t (apt-get install -y iptables ipset util-linux)"
  done
  have_systemd || fw_die "needs systemd as PID 1 (the revert is a systemd timer, the boot restore a unit)"
}

# Names of the sets an `ipset restore` file creates, validated.
fw_set_names() {
  local name
  awk '$1 == "create" { print $2 }' "$1" | while IFS= read -r name; do
    [[ $name =~ $FW_SET_NAME ]] || fw_die "refusing set name '$name' (not a fleet- set)"
    printf '%s\n' "$name"
  done
}

fw_set_exists() {
  ipset list -n 2>/dev/null | grep -qxF -- "$1"
}

# Loads a create/add file so that live sets change atomically: each set is built under a
# temporary name, then `ipset swap`ped in (or renamed, when new). Rules that reference a set
# keep matching throughout, so established and new connections see either old or new members.
fw_load_sets() {
  # Also called where `set -e` is suspended (if/&&), so every step checks its own status.
  local file=$1 name tmp names cmds
  names=$(fw_set_names "$file") || return 1
  [ -n "$names" ] || return 0
  while IFS= read -r name; do
    tmp="$name-n"
    if fw_set_exists "$tmp"; then ipset destroy "$tmp" || return 1; fi
  done <<<"$names"
  awk '$1 == "create" || $1 == "add" { $2 = $2 "-n"; print }' "$file" | ipset restore || return 1
  cmds=""
  while IFS= read -r name; do
    if fw_set_exists "$name"; then
      cmds+="swap $name-n $name"$'\n'"destroy $name-n"$'\n'
    else
      cmds+="rename $name-n $name"$'\n'
    fi
  done <<<"$names"
  printf '%s' "$cmds" | ipset restore
}

# Destroys fleet sets the given file no longer defines (skipping any still referenced by a rule).
fw_destroy_stale_sets() {
  local keep name
  keep=$(fw_set_names "$1")
  { ipset list -n 2>/dev/null || true; } | { grep -E -- "$FW_SET_NAME" || true; } | while IFS= read -r name; do
    if ! grep -qxF -- "$name" <<<"$keep"; then
      ipset destroy "$name" 2>/dev/null || fw_log "kept set $name (still referenced)"
    fi
  done
}

# Prints a rules file without the `-I <builtin> 1 -j FLEET-…` jumps that already exist,
# so loading it with --noflush never duplicates a jump. $2: iptables or ip6tables.
fw_strip_existing_jumps() {
  local file=$1 cmd=$2 line table=filter
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ $line =~ ^\*([a-z]+)$ ]]; then
      table=${BASH_REMATCH[1]}
    elif [[ $line =~ ^-I\ ([A-Z]+)\ 1\ -j\ (FLEET-[A-Z]+)$ ]]; then
      if "$cmd" -w -t "$table" -C "${BASH_REMATCH[1]}" -j "${BASH_REMATCH[2]}" 2>/dev/null; then
        continue
      fi
    fi
    printf '%s\n' "$line"
  done <"$file"
}

fw_restore_rules() {
  local file=$1 cmd=$2
  fw_strip_existing_jumps "$file" "$cmd" | "$cmd-restore" -w --noflush
}

# Loads sets and both rule files into a throwaway network namespace with the real tools,
# so a bad file is caught before the host is touched. Falls back to --test on the host.
fw_test_files() {
  local sets=$1 v4=$2 v6=$3
  if command -v unshare >/dev/null && unshare -n true 2>/dev/null; then
    # shellcheck disable=SC2016 # the inner shell expands its own positional parameters
    unshare -n bash -c 'set -e; ipset restore <"$1"; iptables-restore -w --noflush --test "$2"; ip6tables-restore -w --noflush --test "$3"' \
      fw-test "$sets" "$v4" "$v6"
  else
    fw_load_sets "$sets" &&
      fw_strip_existing_jumps "$v4" iptables | iptables-restore -w --noflush --test &&
      fw_strip_existing_jumps "$v6" ip6tables | ip6tables-restore -w --noflush --test
  fi
}

# Writes a restore file that puts back what we own as it is now: the policies of the built-in
# chains the new file sets, and the FLEET-* chains (new ones come back empty). --noflush keeps
# everybody else's chains out of it. $1: the new rules file, $2: iptables or ip6tables.
fw_snapshot_rules() {
  local new=$1 cmd=$2
  awk '
    FNR == NR {
      if ($0 ~ /^\*/) { t = substr($0, 2); tables[t] = 1 }
      else if ($0 ~ /^:/) { decl[t, substr($1, 2)] = 1 }
      next
    }
    /^\*/ { t = substr($0, 2); next }
    /^:/ { c = substr($1, 2); if (c ~ /^FLEET-/) decl[t, c] = 1; else policy[t, c] = $2; next }
    /^-A FLEET-/ { rules[t] = rules[t] $0 "\n"; next }
    END {
      for (t in tables) {
        print "*" t
        for (k in decl) {
          split(k, p, SUBSEP)
          if (p[1] != t) continue
          if (p[2] ~ /^FLEET-/) print ":" p[2] " - [0:0]"
          else print ":" p[2] " " ((t SUBSEP p[2]) in policy ? policy[t, p[2]] : "ACCEPT") " [0:0]"
        }
        printf "%s", rules[t]
        print "COMMIT"
      }
    }' "$new" <("$cmd-save")
}

fw_snapshot_sets() {
  ipset save 2>/dev/null | awk '($1 == "create" || $1 == "add") && $2 ~ /^fleet-/ { print }'
}

# Starts the timer that reverts unless this arm id gets confirmed. It needs no terminal and
# survives the SSH connection closing: a transient systemd timer.
fw_arm() {
  local arm_id=$1 timeout=$2
  fw_disarm
  systemctl reset-failed "$FW_REVERT_UNIT.service" "$FW_REVERT_UNIT.timer" 2>/dev/null || true
  systemd-run --quiet --unit "$FW_REVERT_UNIT" --on-active="${timeout}s" --timer-property=AccuracySec=1s \
    /bin/bash "$FW_STATE/bin/firewall-revert.sh" "$FW_STATE" "$arm_id"
}

# Stops a pending revert timer. Harmless if none; the revert re-checks under the lock anyway.
fw_disarm() {
  systemctl stop "$FW_REVERT_UNIT.timer" 2>/dev/null || true
}

# Arms the revert of `arm_id`, then loads the sets and rules in $FW_STATE/new. If loading fails, puts the
# previous rules back at once and prints why (stdout). Caller holds the lock.
fw_arm_and_load() { # <arm_id> <hash> <timeout>
  local err
  printf '%s %s\n' "$1" "$2" >"$FW_STATE/pending"
  printf '%s\n' "$3" >"$FW_STATE/pending-timeout"
  fw_arm "$1" "$3"
  if ! err=$(
    { fw_load_sets "$FW_STATE/new/ipsets" &&
      fw_restore_rules "$FW_STATE/new/rules.v4" iptables &&
      fw_restore_rules "$FW_STATE/new/rules.v6" ip6tables; } 2>&1
  ); then
    fw_disarm
    fw_revert_now "$1" 0
    printf '%s' "$err"
    return 1
  fi
}

# Puts back the snapshot taken when the (still unconfirmed) rules were armed. Caller holds the lock.
fw_revert_now() {
  local arm_id=$1 timeout=$2 hash
  hash=$(awk '{ print $2 }' "$FW_STATE/pending")
  fw_load_sets "$FW_STATE/revert/ipsets"
  iptables-restore -w --noflush "$FW_STATE/revert/rules.v4"
  ip6tables-restore -w --noflush "$FW_STATE/revert/rules.v6"
  printf '%s %s %s\n' "$hash" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$timeout" >"$FW_STATE/reverted-$arm_id"
  # Sets only the reverted rules used; best effort, the rules are what matters.
  fw_destroy_stale_sets "$FW_STATE/revert/ipsets" || true
  if [ -f "$FW_STATE/confirmed" ]; then awk '{ print $2 }' "$FW_STATE/confirmed" >"$FW_STATE/active"; else rm -f "$FW_STATE/active"; fi
  rm -f "$FW_STATE/pending"
  fw_log "reverted rules $hash (arm $arm_id)"
}

fw_install_file() {
  local src=$1 dst=$2 mode=$3
  install -m "$mode" "$src" "$dst.fleet-tmp"
  mv -f "$dst.fleet-tmp" "$dst"
}

fw_boot_unit() {
  cat <<EOF
[Unit]
Description=fleet firewall: saved ipsets, then iptables/ip6tables rules
DefaultDependencies=no
After=local-fs.target netfilter-persistent.service
Before=network-pre.target shutdown.target
Wants=network-pre.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/bash $FW_STATE/bin/firewall-boot.sh $FW_ETC

[Install]
WantedBy=multi-user.target
EOF
}

# Makes the confirmed files the ones loaded at boot (sets first: the rules reference them).
fw_persist() {
  local src=$1 unit
  fw_install_file "$src/ipsets" "$FW_ETC/ipsets" 0640
  fw_install_file "$src/rules.v4" "$FW_ETC/rules.v4" 0640
  fw_install_file "$src/rules.v6" "$FW_ETC/rules.v6" 0640
  unit=$(mktemp)
  fw_boot_unit >"$unit"
  if ! cmp -s "$unit" "/etc/systemd/system/$FW_UNIT.service"; then
    fw_install_file "$unit" "/etc/systemd/system/$FW_UNIT.service" 0644
    systemctl daemon-reload
  fi
  rm -f "$unit"
  systemctl enable --quiet "$FW_UNIT.service"
}

# What the kernel of the current network namespace runs of ours, in the tools' own words: per table of the scope
# rules file, the policies of the built-in chains it sets, the FLEET-* chains' rules in order and where our jumps
# sit; then the sets the scope ipsets file creates, members sorted, without the random hash seed. Live and wanted
# state both go through this one function (the wanted one in a throwaway namespace), so `iptables-save`'s rewriting
# (`--dport` -> `-m tcp --dport`, icmp names -> numbers) cannot make equal rules look different.
# $1 rules.v4, $2 rules.v6, $3 ipsets: the scope (what we own), not what is compared.
fw_canonical() {
  local v4=$1 v6=$2 sets=$3 cmd file
  for cmd in iptables ip6tables; do
    if [ "$cmd" = iptables ]; then file=$v4; else file=$v6; fi
    echo "== $cmd"
    awk '
      FNR == NR {
        if ($0 ~ /^\*/) { t = substr($0, 2); tables[t] = 1 }
        else if ($0 ~ /^:/ && $2 != "-") builtin[t, substr($1, 2)] = 1
        next
      }
      /^\*/ { t = substr($0, 2); next }
      !(t in tables) { next }
      /^:/ { c = substr($1, 2); if ((t, c) in builtin) print t ": policy " c " " $2; else if (c ~ /^FLEET-/) print t ": chain " c; next }
      /^-A / {
        c = $2; pos[t, c]++
        if (c ~ /^FLEET-/) print t ": " $0
        else if ($3 == "-j" && $4 ~ /^FLEET-/ && NF == 4) print t ": jump " c " -> " $4 " at " pos[t, c]
      }' "$file" <("$cmd-save")
  done
  echo "== ipset"
  ipset save 2>/dev/null | awk -v names="$(fw_set_names "$sets" | tr '\n' ' ')" '
    BEGIN { n = split(names, a, " "); for (i = 1; i <= n; i++) own[a[i]] = 1 }
    ($1 == "create" || $1 == "add") && ($2 in own) { sub(/ initval 0x[0-9a-f]+/, ""); print }' | LC_ALL=C sort
}

fw_digest_of() {
  sha256sum | cut -c1-16
}

# The canonical form of a rules directory (ipsets, rules.v4, rules.v6) as the kernel would run it: loaded into an
# empty network namespace. Prints nothing and fails where namespaces cannot be made (the caller falls back).
fw_wanted_canonical() {
  local dir=$1 lib
  lib=$(dirname "${BASH_SOURCE[0]}")/firewall-lib.sh
  command -v unshare >/dev/null && unshare -n true 2>/dev/null || return 1
  # shellcheck disable=SC2016 # the inner shell expands its own positional parameters
  unshare -n bash -c 'set -euo pipefail; . "$1"; ipset restore <"$2/ipsets"; iptables-restore -w --noflush "$2/rules.v4"
    ip6tables-restore -w --noflush "$2/rules.v6"; fw_canonical "$2/rules.v4" "$2/rules.v6" "$2/ipsets"' fw-wanted "$lib" "$dir"
}

# Prints the wanted digest of a rules directory: from a throwaway namespace, or else the one recorded when the same
# files were applied (fw_record_applied), so confirm and audit never take a file's word for what the kernel runs.
fw_wanted_digest() {
  local dir=$1 canon
  if canon=$(fw_wanted_canonical "$dir"); then
    printf '%s\n' "$canon" | fw_digest_of
  elif [ -f "$dir/applied-digest" ]; then
    cat "$dir/applied-digest"
  else
    return 1
  fi
}

fw_live_digest() {
  local dir=$1
  fw_canonical "$dir/rules.v4" "$dir/rules.v6" "$dir/ipsets" | fw_digest_of
}
