#!/usr/bin/env bash
# Puts one release of an app on this host, ready to be switched to by deploy-activate.sh.
# Never touches `current`: code reaches every host before any host switches.
set -euo pipefail
FLEET_BUNDLE=$1; OP=${2:-create}; export FLEET_BUNDLE
# shellcheck source=components/remote/lib.sh
. "$FLEET_BUNDLE/lib.sh"
[ "$OP" = create ] || exit 0
have_systemd || die "$(hostname) needs systemd as PID 1: the app runs as a systemd service"

app=$(param app)
release=$(param release)
revision=$(param revision)
kind=$(param source_kind)
url=$(param source_url)
user=$(param user)

# The bundle was validated by the component; re-check what becomes a path or a git argument.
[[ $app =~ ^[a-z][a-z0-9_-]{0,31}$ ]] || die "bad app name '$app'"
[[ $release =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ && $release != *..* ]] || die "bad release name '$release'"
[[ $revision =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ && $revision != *..* ]] || die "bad revision '$revision'"
[[ $user =~ ^[a-z_][a-z0-9_-]{0,31}$ && $user != root ]] || die "bad app user '$user' (an unprivileged user name)"

# Releases are read by the service user; the bundle loader's umask 077 would hide them.
umask 022
root=/srv/$app
releases=$root/releases
shared=$root/shared
mkdir -p "$releases" "$shared" "$root/.fleet" "/var/log/$app"
chmod 0700 "$root/.fleet"

# The app's own system user: no login, no home of its own, a group of its own. It owns shared/ and nothing else.
if ! id -u -- "$user" >/dev/null 2>&1; then
  useradd --system --user-group --home-dir "$root" --no-create-home --shell /usr/sbin/nologin -- "$user"
fi
chown "$user:" "$shared"

# Leftovers of an interrupted prepare are never complete releases: drop them.
find "$releases" -mindepth 1 -maxdepth 1 -name '.tmp-*' -exec rm -rf -- {} +

fetch_git() { # <dest dir>; exports the revision's tree with `git archive`
  local repo=$root/repo full
  if [ ! -d "$repo" ]; then
    rm -rf -- "$repo".tmp.*
    git clone --quiet --mirror -- "$url" "$repo.tmp.$$"
    mv -T "$repo.tmp.$$" "$repo"
  else
    git -C "$repo" remote set-url origin "$url"
  fi
  # Tags first: a branch name is not a release (it moves), so only tags and SHAs resolve.
  if ! full=$(git -C "$repo" rev-parse --verify --quiet "refs/tags/$revision^{commit}") &&
     ! { [[ $revision =~ ^[0-9a-f]{7,40}$ ]] && full=$(git -C "$repo" rev-parse --verify --quiet "$revision^{commit}"); }; then
    git -C "$repo" fetch --quiet --prune origin
    full=$(git -C "$repo" rev-parse --verify --quiet "refs/tags/$revision^{commit}") ||
      { [[ $revision =~ ^[0-9a-f]{7,40}$ ]] && full=$(git -C "$repo" rev-parse --verify --quiet "$revision^{commit}"); } ||
      die "revision '$revision' is neither a tag nor a commit of $url"
  fi
  git -C "$repo" archive --format=tar "$full" | tar -x -C "$1" --no-same-owner
  printf '%s\n' "$full" >"$1/REVISION"
}

fetch_local() { # <dest dir>; the tree packed by the program rides in the bundle; its sha256 is checked
  local want tarball got
  want=$(param source_sha256)
  [[ $want =~ ^[0-9a-f]{64}$ ]] || die "bad source sha256"
  tarball=$(mktemp "$releases/.local.XXXXXX")
  base64 -d <"$FLEET_BUNDLE/source_archive" >"$tarball"
  got=$(sha256sum "$tarball" | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then
    rm -f -- "$tarball"
    die "the shipped tree has sha256 $got, expected $want"
  fi
  tar -x -f "$tarball" -C "$1" --no-same-owner
  rm -f -- "$tarball"
  printf '%s\n' "$revision" >"$1/REVISION"
}

fetch_artifact() { # <dest dir>; downloads, checks the sha256, unpacks
  local want got tarball=$1.tar
  want=$(param source_sha256)
  [[ $want =~ ^[0-9a-f]{64}$ ]] || die "bad artifact sha256"
  curl -fsSL --proto '=https,http,file' -o "$tarball" -- "$url" || die "cannot download artifact $url"
  got=$(sha256sum -- "$tarball" | cut -d' ' -f1)
  if [ "$got" != "$want" ]; then
    rm -f -- "$tarball"
    die "artifact $url has sha256 $got, expected $want"
  fi
  tar -x -f "$tarball" -C "$1" --no-same-owner
  rm -f -- "$tarball"
  printf '%s\n' "$revision" >"$1/REVISION"
}

# Links shared/<path> into the release, replacing what the code shipped there.
link_shared() { # <release dir> <relative path> <dir|file>
  local target=$shared/$2 link=$1/$2
  if [ "$3" = dir ]; then
    mkdir -p -- "$target"
    # Shared dirs hold what the app writes (uploads, tmp): the service user owns them.
    chown "$user:" "$target"
  elif [ ! -e "$target" ]; then
    die "linked file shared/$2 does not exist on $(hostname); create it before deploying"
  fi
  [ "$(readlink -- "$link" 2>/dev/null || true)" = "$target" ] && return 0
  mkdir -p -- "$(dirname -- "$link")"
  rm -rf -- "$link"
  ln -s -- "$target" "$link"
}

# 1. The secret env file: root's, 0600, in root's 0700 .fleet dir; temp file + rename, so a reader never sees it
# half-written. systemd (EnvironmentFile=) reads it as root and hands the app its values.
tmp_env=$(mktemp "$root/.fleet/app.env.XXXXXX")
chmod 0600 "$tmp_env"
cat -- "$FLEET_BUNDLE/dotenv" >"$tmp_env"
mv -f -- "$tmp_env" "$root/.fleet/app.env"
# Earlier versions kept it in shared/, which the app's user owns: no secret stays there.
rm -f -- "$shared/.env"

# 2. The release: built in a temp dir and renamed, so releases/<rev> exists only when complete.
dest=$releases/$release
if [ -d "$dest" ]; then
  echo "release $release already present; reusing it"
else
  tmp=$(mktemp -d "$releases/.tmp-$release.XXXXXX")
  # A failed fetch or checksum leaves no half release behind.
  trap 'rm -rf -- "$tmp"' EXIT
  chmod 0755 "$tmp"
  case $kind in
    git) fetch_git "$tmp" ;;
    artifact) fetch_artifact "$tmp" ;;
    local) fetch_local "$tmp" ;;
    *) die "unknown source kind '$kind'" ;;
  esac
  mv -T -- "$tmp" "$dest"
  trap - EXIT
  echo "release $release prepared"
fi

while IFS= read -r d; do [ -z "$d" ] || link_shared "$dest" "$d" dir; done <"$FLEET_BUNDLE/linked_dirs"
while IFS= read -r f; do [ -z "$f" ] || link_shared "$dest" "$f" file; done <"$FLEET_BUNDLE/linked_files"

# 3. The service definition.
install_if_changed() { # <source> <dest> <mode>; true when the file changed
  if [ -f "$2" ] && cmp -s -- "$1" "$2"; then return 1; fi
  local t
  t=$(mktemp "$2.XXXXXX")
  cat -- "$1" >"$t"
  chmod "$3" "$t"
  mv -f -- "$t" "$2"
}
# The no-systemd launcher of earlier versions and what it read.
rm -f -- "$root/.fleet/exec" "$root/.fleet/launch.sh" "$root/.fleet/user"
if install_if_changed "$FLEET_BUNDLE/unit" "/etc/systemd/system/$app.service" 0644; then
  systemctl daemon-reload
fi
systemctl enable --quiet "$app.service"
