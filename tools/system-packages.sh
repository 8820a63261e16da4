#!/bin/sh
# Debian packages the tests need, installed only when missing.
#   sh tools/system-packages.sh          the unit suite: cloud-init (`cloud-init schema`),
#                                        ShellCheck and nftables (`nft -c`) as real validators,
#                                        curl for CI's checked Pulumi CLI install
#                                        (.ci/install-pulumi.sh against a local server), Knot
#                                        DNS (`knotd`, `knotc`: the authoritative server the
#                                        dns_server tests load the zone into)
#   sh tools/system-packages.sh pipeline also what the pipeline tests (make test-pipeline) use:
#                                        git and rsync for gitlab-ci-local, npm to install it
#   sh tools/system-packages.sh target   also what the real-target tests (make test-target)
#                                        use on the machine running them: mmdebstrap builds
#                                        the image, systemd-nspawn boots it, ssh/scp reach it
set -eu
missing=""
# need COMMAND PACKAGE; sbin tools are looked for there too (a non-root PATH may lack it)
need() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] || missing="$missing $2"
}
need cloud-init cloud-init
need shellcheck shellcheck
need nft nftables
need curl curl
need knotd knot
if [ "${1:-}" = pipeline ]; then
  need git git
  need rsync rsync
  need npm npm
fi
if [ "${1:-}" = target ]; then
  need mmdebstrap mmdebstrap
  need systemd-nspawn systemd-container
  need ssh openssh-client
  need zstd zstd
  need ip iproute2
  need ping iputils-ping
  need dpkg-scanpackages dpkg-dev
  need nsenter util-linux
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "The tests need these Debian packages:$missing (run as root: apt-get install$missing)" >&2
  exit 1
fi
echo "Installing Debian packages:$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086  # word splitting of the package list is intended
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
