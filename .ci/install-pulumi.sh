#!/bin/sh
# Install the Pulumi CLI for CI from its release tarball, checked against the SHA-256
# committed in .ci/pulumi.sha256 before anything is unpacked. Fails closed: no line for
# the version, a placeholder, a download error or a wrong checksum stop the job.
#
#   PULUMI_VERSION=3.260.0 sh .ci/install-pulumi.sh [DEST]   # default DEST: $HOME/.pulumi/bin
#
# docs/ci.md says how the TWG fills in the checksum when the version changes.
# PULUMI_RELEASES_URL and PULUMI_SHA256_FILE exist for the tests (a local server);
# plain http:// is refused unless they opt in with SOCIALCOOP_ALLOW_HTTP_LOOPBACK=1,
# and then only to 127.0.0.1.
set -eu

dest=${1:-$HOME/.pulumi/bin}
version=${PULUMI_VERSION:?PULUMI_VERSION is not set (it is in .gitlab-ci.yml)}
base=${PULUMI_RELEASES_URL:-https://get.pulumi.com/releases/sdk}
sums=${PULUMI_SHA256_FILE:-$(dirname "$0")/pulumi.sha256}
tarball="pulumi-v$version-linux-x64.tar.gz"

line=$(grep -E "^[^ ]+  $tarball\$" "$sums" || true)
hash=${line%% *}
if [ -z "$line" ]; then
  echo "install-pulumi: $sums has no line for $tarball: add its SHA-256 (docs/ci.md, 'Pins')" >&2
  exit 1
fi
if ! printf '%s\n' "$hash" | grep -Eq '^[0-9a-f]{64}$'; then
  echo "install-pulumi: $sums: the SHA-256 of $tarball is a placeholder ($hash): fill it in (docs/ci.md, 'Pins')" >&2
  exit 1
fi

proto="=https"
if [ "${SOCIALCOOP_ALLOW_HTTP_LOOPBACK:-}" = 1 ]; then
  case $base in http://127.0.0.1:*) proto="=http" ;; esac
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Redirects may be followed (no token is sent, and the checksum decides), HTTPS only.
curl --fail --silent --show-error --location --proto "$proto" --proto-redir "$proto" --retry 2 \
  -o "$work/$tarball" "$base/$tarball"
# sha256sum -c reads "HASH  FILE" and exits non-zero on any mismatch.
(cd "$work" && printf '%s\n' "$line" | sha256sum --check --strict --quiet -)
mkdir -p "$dest"
tar -xzf "$work/$tarball" -C "$dest" --strip-components=1  # the tarball holds pulumi/*
installed=$("$dest/pulumi" version)
if [ "$installed" != "v$version" ]; then
  echo "install-pulumi: $dest/pulumi says $installed, expected v$version" >&2
  exit 1
fi
echo "install-pulumi: Pulumi CLI v$version installed in $dest (SHA-256 checked)"
