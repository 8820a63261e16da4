#!/usr/bin/env bash
# Builds the real Pulumi engine from Go modules into .engine/bin (see engine/README.md).
#   bash engine/build.sh          build what can be built, reuse a cached build of the same versions
# What it can't build here (the Go module proxy refuses the module), it says so by module@version and
# records it in .engine/refused.txt; it does not fail for that.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=$root/.engine/bin
cache=${SOCIALCOOP_ENGINE_CACHE:-$HOME/.cache/socialcoop-engine}
mkdir -p "$bin" "$cache"
start=$(date +%s)
say() { printf '[engine %4ss] %s\n' "$(($(date +%s) - start))" "$*"; }

command -v go >/dev/null || { echo "engine/build.sh: Go is not installed (need Go >= 1.26, see engine/README.md)" >&2; exit 1; }

# The CLI's version comes from its wrapper's go.mod; the cache key covers go.mod, go.sum and Go itself.
cli_version=$(cd engine/cli && go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3)
key=$(cat engine/cli/go.mod engine/cli/go.sum <(go version) | sha256sum | cut -c1-16)
cached=$cache/pulumi-$cli_version-$key
if [ -x "$cached" ]; then
  say "pulumi $cli_version: cached build ($cached)"
else
  say "pulumi $cli_version: downloading modules (first build: a few hundred MB)"
  (cd engine/cli && go mod download)
  say "pulumi $cli_version: compiling (first build: about 5 minutes on 2 cores)"
  (cd engine/cli && go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$cli_version" \
    -o "$cached.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
  mv "$cached.tmp" "$cached"
fi
cp "$cached" "$bin/pulumi"
[ "$("$bin/pulumi" version)" = "$cli_version" ] || { echo "engine/build.sh: built pulumi does not report $cli_version" >&2; exit 1; }

# The plugins this program needs but the proxy refuses: ask again each build, in case it starts serving
# them (then they need a wrapper module in engine/, see engine/README.md).
: > "$root/.engine/refused.txt"
while read -r what module; do
  case "$what" in ''|\#*) continue ;; esac
  if (cd "$cache" && GOFLAGS=-mod=mod go mod download -json "$module" >/dev/null 2>&1); then
    say "$what: $module is served now: add its wrapper module (engine/README.md)"
  else
    echo "$what $module" >> "$root/.engine/refused.txt"
    say "$what: not buildable here: the Go module proxy refuses $module"
  fi
done < engine/refused-modules.txt
say "done: $(ls "$bin" | tr '\n' ' ')"
