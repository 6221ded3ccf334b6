#!/usr/bin/env bash
# The real Pulumi toolchain at the versions the installed @pulumi/* packages request: the CLI, the Node.js language
# host and the command, tls and openstack providers. What is already installed at those versions is used as it is;
# what is missing is built (the CLI from the Go module proxy, the rest from a source directory, because the proxy
# refuses their nested modules), into a cache outside the repository keyed by the versions. See docs/toolchain.md.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: npm run toolchain -- [--src DIR] [--check] [--env] [--help]

Makes the real Pulumi toolchain ready at the versions in node_modules/@pulumi/{pulumi,command,tls,openstack}:
  pulumi, pulumi-language-nodejs   a `pulumi` on PATH at the SDK's version (with its language host beside it) is
                                   used as it is; else the CLI is built from the Go module proxy and the language
                                   host from DIR/pulumi-language-nodejs
  pulumi-resource-{command,tls,openstack}
                                   a plugin already installed in $PULUMI_HOME (default ~/.pulumi) at the requested
                                   version is used as it is; else it is built from DIR/pulumi-<name>/provider
Binaries go to $FLEET_CACHE/toolchain/<versions>/bin and the plugins are installed into
$FLEET_CACHE/toolchain/<versions>/pulumi-home, so a clean clone reuses them (FLEET_CACHE defaults to
${XDG_CACHE_HOME:-~/.cache}/openstack-fleet). Only what is missing is built: about 7 minutes cold on 2 cores.

  --src DIR   the source directory (default: $FLEET_TOOLCHAIN_SRC); needed only when something must be built
  --check     build nothing; list what is present and what is missing (exit 1 if anything is missing)
  --env       build nothing; print the environment that runs this toolchain with no downloads, one
              KEY=VALUE a line (exit 1 if anything is missing)
  --help      this text

Environment: FLEET_TOOLCHAIN_SRC (source directory), FLEET_CACHE (cache root), PULUMI_HOME (where installed
plugins are looked for), GOPROXY (as the go command reads it).
EOF
}

src="${FLEET_TOOLCHAIN_SRC:-}"
mode=build
while [ $# -gt 0 ]; do
  case "$1" in
    --help | -h) usage; exit 0 ;;
    --check) mode=check ;;
    --env) mode="env" ;;
    --src)
      [ $# -ge 2 ] || { echo "toolchain: --src needs a directory (see --help)" >&2; exit 2; }
      src="$2"; shift ;;
    --src=*) src="${1#--src=}" ;;
    *) echo "toolchain: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

root="$(cd "$(dirname "$0")/.." && pwd)"
version_of() { # the version of an installed npm package, without a leading v (@pulumi/openstack writes one)
  node -p "require('$root/node_modules/$1/package.json').version.replace(/^v/, '')" 2>/dev/null || {
    echo "toolchain: $1 is not installed; run npm ci first" >&2
    exit 2
  }
}
sdk_v="$(version_of @pulumi/pulumi)"
declare -A provider_v=(
  [command]="$(version_of @pulumi/command)"
  [tls]="$(version_of @pulumi/tls)"
  [openstack]="$(version_of @pulumi/openstack)"
)
providers=(command tls openstack)

cache="${FLEET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openstack-fleet}"
out="$cache/toolchain/pulumi-$sdk_v-command-${provider_v[command]}-tls-${provider_v[tls]}-openstack-${provider_v[openstack]}"
bin="$out/bin"
home="$out/pulumi-home"
logs="$out/logs"
user_home="${PULUMI_HOME:-$HOME/.pulumi}"

step() { printf '[toolchain %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() { # what, step, log file
  echo "toolchain: FAILED: $1, step: $2" >&2
  if [ -f "$3" ]; then tail -n 20 "$3" >&2; echo "toolchain: full log: $3" >&2; fi
  exit 1
}

# The environment that runs the toolchain with no downloads (shared/toolchain/README.md, "Running the CLI").
print_env() {
  echo "PATH=$bin:$PATH"
  echo "PULUMI_HOME=$home"
  echo "PULUMI_SKIP_UPDATE_CHECK=true"
  echo "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true"
  echo "PULUMI_IGNORE_AMBIENT_PLUGINS=true"
}

plugin_dir() { echo "$1/plugins/resource-$2-v${provider_v[$2]}"; }
plugin_ready() { [ -x "$(plugin_dir "$home" "$1")/pulumi-resource-$1" ]; }
all_ready() {
  [ -x "$bin/pulumi" ] && [ -x "$bin/pulumi-language-nodejs" ] || return 1
  for p in "${providers[@]}"; do plugin_ready "$p" || return 1; done
}

if [ "$mode" != build ]; then
  if [ "$mode" = check ]; then
    for b in pulumi pulumi-language-nodejs; do
      if [ -x "$bin/$b" ]; then echo "present  $bin/$b"; else echo "missing  $b"; fi
    done
    for p in "${providers[@]}"; do
      if plugin_ready "$p"; then echo "present  $(plugin_dir "$home" "$p")"; else echo "missing  resource-$p v${provider_v[$p]}"; fi
    done
  fi
  all_ready || { [ "$mode" = check ] || echo "toolchain: not ready; run npm run toolchain first" >&2; exit 1; }
  [ "$mode" = env ] && print_env
  exit 0
fi

mkdir -p "$bin" "$home" "$logs"
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local
t_all=$SECONDS
built=0

need_src() { # the subfolder of the source directory a build needs
  if [ -z "$src" ]; then
    echo "toolchain: $2 must be built and no source directory is given: pass --src DIR or set FLEET_TOOLCHAIN_SRC" >&2
    echo "  (a folder holding pulumi-language-nodejs/ and pulumi-{command,tls,openstack}/provider/ at the release tags)" >&2
    exit 2
  fi
  [ -d "$src/$1" ] || { echo "toolchain: $src/$1 is missing (needed to build $2)" >&2; exit 2; }
}

# go build in a scratch copy (the source directory may be read-only, and the schema step writes a file).
go_build() { # name, directory, package, ldflags
  local name="$1" dir="$2" pkg="$3" ldflags="$4"
  (cd "$dir" && go build -trimpath -tags osusergo,grpcnotrace -ldflags "-s -w $ldflags" -o "$bin/$name.tmp" "$pkg") \
    >>"$logs/$name.log" 2>&1 || return 1
  mv "$bin/$name.tmp" "$bin/$name"
}

sdk_version_flag="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$sdk_v"

# 1. The CLI, with its language host beside it.
on_path="$(command -v pulumi || true)"
if [ ! -x "$bin/pulumi" ] && [ -n "$on_path" ] && [ "$(pulumi version 2>/dev/null)" = "v$sdk_v" ] &&
  [ -x "$(dirname "$on_path")/pulumi-language-nodejs" ]; then
  ln -sf "$on_path" "$bin/pulumi"
  ln -sf "$(dirname "$on_path")/pulumi-language-nodejs" "$bin/pulumi-language-nodejs"
  step "pulumi v$sdk_v: using $on_path and its language host"
fi
if [ -x "$bin/pulumi" ]; then
  step "pulumi v$sdk_v: ready ($bin/pulumi)"
else
  step "pulumi v$sdk_v: building github.com/pulumi/pulumi/pkg/v3/cmd/pulumi from the Go module proxy (cold: about 2.5 min)"
  t0=$SECONDS
  scratch="$(mktemp -d)"
  : >"$logs/pulumi.log"
  # go build refuses a dependency's replace lines, so a wrapper module requires pkg and sdk and repeats pkg/go.mod's
  # one non-local replace.
  printf 'module fleet.local/toolchain/pulumi\n\ngo 1.25\n\nrequire (\n\tgithub.com/pulumi/pulumi/pkg/v3 v%s\n\tgithub.com/pulumi/pulumi/sdk/v3 v%s\n)\n\nreplace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e\n' \
    "$sdk_v" "$sdk_v" >"$scratch/go.mod"
  go_build pulumi "$scratch" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "$sdk_version_flag" ||
    fail "github.com/pulumi/pulumi/pkg/v3@v$sdk_v" "go build ./cmd/pulumi" "$logs/pulumi.log"
  rm -rf "$scratch"
  built=$((built + 1))
  step "pulumi v$sdk_v: built in $((SECONDS - t0)) s"
fi

if [ -x "$bin/pulumi-language-nodejs" ]; then
  step "pulumi-language-nodejs v$sdk_v: ready"
else
  need_src pulumi-language-nodejs pulumi-language-nodejs
  step "pulumi-language-nodejs v$sdk_v: building from $src/pulumi-language-nodejs (cold: about 1.5 min)"
  t0=$SECONDS
  scratch="$(mktemp -d)"
  cp -r "$src/pulumi-language-nodejs/." "$scratch/" && chmod -R u+w "$scratch"
  : >"$logs/pulumi-language-nodejs.log"
  # Its go.mod points pkg and sdk at the monorepo (../../../../pkg, ../../..); the published modules at the
  # SDK's tag are the same code.
  (cd "$scratch" && go mod edit -dropreplace github.com/pulumi/pulumi/pkg/v3 -dropreplace github.com/pulumi/pulumi/sdk/v3 \
    -require "github.com/pulumi/pulumi/pkg/v3@v$sdk_v" -require "github.com/pulumi/pulumi/sdk/v3@v$sdk_v") \
    >>"$logs/pulumi-language-nodejs.log" 2>&1 ||
    fail "github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3" "go mod edit (drop the monorepo replaces)" "$logs/pulumi-language-nodejs.log"
  go_build pulumi-language-nodejs "$scratch" . "$sdk_version_flag" ||
    fail "github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3" "go build ." "$logs/pulumi-language-nodejs.log"
  rm -rf "$scratch"
  built=$((built + 1))
  step "pulumi-language-nodejs v$sdk_v: built in $((SECONDS - t0)) s"
fi

# 2. The providers, installed into the toolchain's own PULUMI_HOME.
module_of() {
  case "$1" in
    command) echo github.com/pulumi/pulumi-command/provider ;;
    tls) echo github.com/pulumi/pulumi-tls/provider/v5 ;;
    openstack) echo github.com/pulumi/pulumi-openstack/provider/v3 ;;
  esac
}
install_plugin() { # name, binary
  PULUMI_HOME="$home" PULUMI_SKIP_UPDATE_CHECK=true "$bin/pulumi" plugin install resource "$1" "${provider_v[$1]}" \
    --file "$2" >>"$logs/install-$1.log" 2>&1 || fail "resource-$1 v${provider_v[$1]}" "pulumi plugin install --file $2" "$logs/install-$1.log"
}
for p in "${providers[@]}"; do
  v="${provider_v[$p]}"
  name="pulumi-resource-$p"
  if plugin_ready "$p"; then
    step "$name v$v: ready"
    continue
  fi
  installed="$(plugin_dir "$user_home" "$p")/$name"
  if [ -x "$installed" ]; then
    install_plugin "$p" "$installed"
    step "$name v$v: using the installed plugin $installed"
    continue
  fi
  if [ ! -x "$bin/$name" ]; then
    need_src "pulumi-$p/provider" "$name"
    module="$(module_of "$p")"
    step "$name v$v: building $module from $src/pulumi-$p/provider (cold: 1-1.5 min)"
    t0=$SECONDS
    scratch="$(mktemp -d)"
    cp -r "$src/pulumi-$p/provider/." "$scratch/" && chmod -R u+w "$scratch"
    : >"$logs/$name.log"
    cmd="$scratch/cmd/$name"
    if [ -f "$cmd/schema.json" ] && grep -q 'schema-embed.json' "$cmd/main.go"; then
      # What the provider's generate.go does before a release build: the schema with the version set, compact.
      node -e 'const fs = require("fs"); const s = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); s.version = process.argv[2]; fs.writeFileSync(process.argv[3], JSON.stringify(s));' \
        "$cmd/schema.json" "$v" "$cmd/schema-embed.json" >>"$logs/$name.log" 2>&1 ||
        fail "$module" "write cmd/$name/schema-embed.json" "$logs/$name.log"
    fi
    # The bridge panics at start-up without its version (tfbridge.GetModuleMajorVersion("")).
    go_build "$name" "$scratch" "./cmd/$name" "-X $module/pkg/version.Version=$v" ||
      fail "$module" "go build ./cmd/$name" "$logs/$name.log"
    rm -rf "$scratch"
    built=$((built + 1))
    step "$name v$v: built in $((SECONDS - t0)) s"
  fi
  install_plugin "$p" "$bin/$name"
  step "$name v$v: installed into $home"
done

all_ready || fail "the toolchain" "final check (npm run toolchain -- --check)" /dev/null
step "ready: $built built, $((SECONDS - t_all)) s; npm run toolchain -- --env prints the environment that runs it"
