#!/bin/bash
# Build the real test target once: a Debian 12 root filesystem (mmdebstrap, Debian's packages
# only) with a local apt repository inside it, cached as .tar.zst keyed by this script and
# packages.txt. Prints the path of the archive.
#
#   bash tests/target/build_image.sh            # build if not cached, print the path
#   SOCIALCOOP_TARGET_CACHE=DIR                  # default ~/.cache/socialcoop-target
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${SOCIALCOOP_TARGET_CACHE:-$HOME/.cache/socialcoop-target}
key=$(cat "$here/build_image.sh" "$here/packages.txt" | sha256sum | cut -c1-16)
out=$cache/debian12-$key.tar.zst
if [ -s "$out" ]; then
	echo "$out"
	exit 0
fi
pkgs() { sed -n "s/^$1 //p" "$here/packages.txt" | paste -sd, -; }
include=$(pkgs include)
repo=$(pkgs repo | tr , ' ')
stubs=$(pkgs stub | tr , ' ')
mkdir -p "$cache"
# The customize hook runs inside the finished tree: download (not install) the repo packages
# with their dependencies and Recommends, build the stubs, index them and point apt at them.
hook=$(
	cat <<HOOK
set -e
chroot "\$1" apt-get install --download-only -y -o APT::Install-Recommends=true $repo
mkdir -p "\$1/srv/localrepo"
mv "\$1"/var/cache/apt/archives/*.deb "\$1/srv/localrepo/"
for stub in $stubs; do
	d=\$(mktemp -d)
	mkdir -p "\$d/DEBIAN"
	printf 'Package: %s\nVersion: 0.0-teststub\nArchitecture: all\nMaintainer: socialcoop-infra tests <tests@invalid>\nDescription: TEST STUB standing in for an Ubuntu-only package\n' "\$stub" >"\$d/DEBIAN/control"
	dpkg-deb --build "\$d" "\$1/srv/localrepo/\${stub}_0.0-teststub_all.deb" >/dev/null
	rm -rf "\$d"
done
(cd "\$1/srv/localrepo" && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null)
echo 'deb [trusted=yes] file:/srv/localrepo ./' >"\$1/etc/apt/sources.list"
rm -f "\$1"/etc/apt/sources.list.d/*
rm -rf "\$1"/var/lib/apt/lists/*
rm -f "\$1"/etc/ssh/ssh_host_*
printf 'datasource_list: [NoCloud, None]\n' >"\$1/etc/cloud/cloud.cfg.d/90-socialcoop-tests.cfg"
: >"\$1/etc/machine-id"
# like a cloud image: en_US.UTF-8 exists (cloud-init's locale module sets it)
sed -i 's/^# *\(en_US.UTF-8 UTF-8\)/\1/' "\$1/etc/locale.gen"
chroot "\$1" locale-gen >/dev/null
HOOK
)
start=$(date +%s)
mmdebstrap --variant=minbase --include="$include" --customize-hook="$hook" bookworm "$out.tmp.tar.zst" \
	"deb http://deb.debian.org/debian bookworm main" \
	"deb http://deb.debian.org/debian bookworm-updates main" \
	"deb http://deb.debian.org/debian-security bookworm-security main" >&2
mv "$out.tmp.tar.zst" "$out"
echo "build_image: built $out in $(($(date +%s) - start)) s" >&2
echo "$out"
