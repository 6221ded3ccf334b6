#!/usr/bin/env bash
# Builds the real Pulumi CLI, the Node.js language host and the command, tls and openstack providers from the
# Go module proxy, at the versions the installed @pulumi/* packages request, into a cache outside the repository
# keyed by those versions. Rebuilds only what is missing. See docs/toolchain.md for what this machine serves.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: npm run toolchain -- [--check] [--help]

Builds pulumi, pulumi-language-nodejs and pulumi-resource-{command,tls,openstack} from the Go module proxy
at the versions in node_modules/@pulumi/*, into $FLEET_CACHE/toolchain/<versions>/bin (FLEET_CACHE defaults to
${XDG_CACHE_HOME:-~/.cache}/openstack-fleet). Already-built binaries are reused; a `pulumi` on PATH whose version
matches is used instead of building one.

  --check   build nothing; say which binaries are present and which are missing (exit 1 if any is missing)
  --help    this text

Environment: FLEET_CACHE (cache root), GOPROXY (as the go command reads it).
EOF
}

check_only=0
for arg in "$@"; do
  case "$arg" in
    --help | -h) usage; exit 0 ;;
    --check) check_only=1 ;;
    *) echo "toolchain: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
version_of() { # the version of an installed npm package, without a leading v (@pulumi/openstack writes one)
  node -p "require('$root/node_modules/$1/package.json').version.replace(/^v/, '')" 2>/dev/null || {
    echo "toolchain: $1 is not installed; run npm ci first" >&2
    exit 2
  }
}
sdk_v="$(version_of @pulumi/pulumi)"
command_v="$(version_of @pulumi/command)"
tls_v="$(version_of @pulumi/tls)"
openstack_v="$(version_of @pulumi/openstack)"

cache="${FLEET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openstack-fleet}"
out="$cache/toolchain/pulumi-$sdk_v-command-$command_v-tls-$tls_v-openstack-$openstack_v"
bin="$out/bin"
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local
mkdir -p "$bin" "$GOMODCACHE" "$GOCACHE"

step() { printf '[toolchain %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() { # module, step, log file
  echo "toolchain: FAILED building $1 ($2)." >&2
  [ -f "$3" ] && tail -n 15 "$3" >&2
  echo "toolchain: full log: $3" >&2
  exit 1
}

missing=()
for b in pulumi pulumi-language-nodejs pulumi-resource-command pulumi-resource-tls pulumi-resource-openstack; do
  [ -x "$bin/$b" ] || missing+=("$b")
done

# A pulumi already on PATH at the SDK's version is what a user with internet has: use it.
if [ -x "$bin/pulumi" ]; then
  step "pulumi v$sdk_v: cached at $bin/pulumi"
elif command -v pulumi >/dev/null && [ "$(pulumi version 2>/dev/null)" = "v$sdk_v" ]; then
  step "pulumi v$sdk_v: using $(command -v pulumi) from PATH"
  ln -sf "$(command -v pulumi)" "$bin/pulumi"
fi

if [ "$check_only" = 1 ]; then
  for b in pulumi pulumi-language-nodejs pulumi-resource-command pulumi-resource-tls pulumi-resource-openstack; do
    if [ -x "$bin/$b" ]; then echo "present  $bin/$b"; else echo "missing  $b"; fi
  done
  [ -x "$bin/pulumi" ] && [ -x "$bin/pulumi-language-nodejs" ] && [ -x "$bin/pulumi-resource-command" ] &&
    [ -x "$bin/pulumi-resource-tls" ] && [ -x "$bin/pulumi-resource-openstack" ]
  exit
fi

logs="$out/logs"
mkdir -p "$logs"

# go install refuses a module with replace lines, so each binary is built from a small wrapper module that
# requires the published module and repeats its non-local replace lines (pkg/go.mod line 7).
build_in_wrapper() { # name, log, go.mod body, package, ldflags
  local name="$1" log="$2" body="$3" pkg="$4" ldflags="$5" dir
  dir="$(mktemp -d)"
  printf 'module fleet.local/toolchain/%s\n\ngo 1.25\n\n%s\n' "$name" "$body" >"$dir/go.mod"
  (cd "$dir" && go build -trimpath -tags osusergo,grpcnotrace -ldflags "-s -w $ldflags" -o "$bin/$name.tmp" "$pkg") \
    >"$log" 2>&1 || { rm -rf "$dir"; return 1; }
  mv "$bin/$name.tmp" "$bin/$name"
  rm -rf "$dir"
}

if [ ! -x "$bin/pulumi" ]; then
  step "pulumi v$sdk_v: building github.com/pulumi/pulumi/pkg/v3/cmd/pulumi (cold: several minutes)"
  t0=$SECONDS
  build_in_wrapper pulumi "$logs/pulumi.log" "require (
	github.com/pulumi/pulumi/pkg/v3 v$sdk_v
	github.com/pulumi/pulumi/sdk/v3 v$sdk_v
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$sdk_v" ||
    fail "github.com/pulumi/pulumi/pkg/v3@v$sdk_v" "go build cmd/pulumi" "$logs/pulumi.log"
  step "pulumi v$sdk_v: built in $((SECONDS - t0)) s ($(du -h "$bin/pulumi" | cut -f1))"
fi

# The remaining binaries live in modules that have no release tags of their own; they resolve only to the
# commit of the matching release tag. Ask the proxy for each and say plainly when it refuses.
resolve() { # module@version -> prints the error, returns 1 when the proxy does not serve it
  go list -m -json "$1" >/dev/null 2>"$logs/resolve.log" || {
    sed -n 1,2p "$logs/resolve.log" >&2
    return 1
  }
}

commit_of_tag() { # repo-module tag -> commit hash (from the proxy's Origin record); empty when refused
  { go list -m -json "$1@$2" 2>/dev/null || true; } | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).Origin.Hash)}catch{}})'
}

# Commits of the release tags, for when the proxy's record of the tag carries no Origin (a cached module's
# does not): pulumi/pulumi v3.248.0, pulumi/pulumi-openstack v3.15.2.
known_commit() {
  case "$1" in
    pulumi@3.248.0) echo a88168d865b7fd428e5a929cc54aeceaf72d203f ;;
    openstack@3.15.2) echo a9de4228c2fb662fe6b3ba6270e13ecb263c2ec9 ;;
  esac
}
or_known() { if [ -n "$1" ]; then echo "$1"; else known_commit "$2"; fi; }
need=(
  "pulumi-language-nodejs|github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3|$(or_known "$(commit_of_tag github.com/pulumi/pulumi/sdk/v3 "v$sdk_v")" "pulumi@$sdk_v")"
  "pulumi-resource-command|github.com/pulumi/pulumi-command/provider|$(commit_of_tag github.com/pulumi/pulumi-command "v$command_v")"
  "pulumi-resource-tls|github.com/pulumi/pulumi-tls/provider/v5|$(commit_of_tag github.com/pulumi/pulumi-tls "v$tls_v+incompatible")"
  "pulumi-resource-openstack|github.com/pulumi/pulumi-openstack/provider/v3|$(or_known "$(commit_of_tag github.com/pulumi/pulumi-openstack "v$openstack_v+incompatible")" "openstack@$openstack_v")"
)
refused=()
for entry in "${need[@]}"; do
  IFS='|' read -r name module commit <<<"$entry"
  [ -x "$bin/$name" ] && { step "$name: cached"; continue; }
  # The language host's commit is the SDK tag's; v3.248.0's is a88168d865b7 (pulumi/pulumi tag v3.248.0).
  [ -n "$commit" ] || commit="unknown"
  step "$name: resolving $module@$commit"
  if ! resolve "$module@$commit"; then
    refused+=("$name ($module@$commit)")
    continue
  fi
  fail "$module@$commit" "build not implemented: the proxy served it, extend scripts/toolchain.sh" "$logs/resolve.log"
done

if [ "${#refused[@]}" -gt 0 ]; then
  echo "toolchain: the Go module proxy reachable here does not serve:" >&2
  printf '  - %s\n' "${refused[@]}" >&2
  echo "toolchain: built what it could into $bin; see docs/toolchain.md" >&2
  exit 1
fi
step "all binaries in $bin"
