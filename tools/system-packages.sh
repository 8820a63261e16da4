#!/bin/sh
# Debian packages the tests use: cloud-init (`cloud-init schema`) and shellcheck as real
# validators, curl for CI's checked Pulumi CLI install (.ci/install-pulumi.sh against a
# local server), Knot DNS (`knotd`, `knotc`: the authoritative server the dns_server tests
# load the zone into). Installs them only when missing.
set -eu
missing=""
command -v cloud-init >/dev/null 2>&1 || missing="$missing cloud-init"
command -v shellcheck >/dev/null 2>&1 || missing="$missing shellcheck"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
# knotd lives in /usr/sbin, which a non-root PATH may lack
[ -x /usr/sbin/knotd ] || command -v knotd >/dev/null 2>&1 || missing="$missing knot"
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
