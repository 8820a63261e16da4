#!/bin/bash
# Bootstrap a host we cannot give cloud-init (rhizome, pando): apply the same things
# as cloud-init/base.yaml over SSH. components/vps_host.py uploads this script and
# its data file, then runs, as root:
#
#   bash bootstrap.sh bootstrap.conf
#
# bootstrap.conf is rendered by components/cloudinit.py from cloud-init/base.yaml
# (one "kind value..." per line; file contents in base64), so both paths install the
# same admin users, keys, sudo rule, packages and files.
#
# Idempotent: every step compares before it writes, so a second run with the same
# data changes nothing. Order matters: admins and their keys are in place before
# the sshd drop-in turns root and password logins off.
#
# SOCIALCOOP_ROOT (tests only) puts every file under another directory; the tests
# then stub the system commands through PATH.
set -euo pipefail

ROOT=${SOCIALCOOP_ROOT:-}
CONF=${1:?usage: bootstrap.sh bootstrap.conf}
CHANGES=0
WROTE=0
RELOAD=()
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

log() { printf 'bootstrap: %s\n' "$*"; }
die() {
	printf 'bootstrap: error: %s\n' "$*" >&2
	exit 1
}
changed() {
	CHANGES=$((CHANGES + 1))
	log "changed: $*"
}

# install_file SRC DEST MODE: copy SRC to DEST (under ROOT) unless DEST already has
# the same content and mode. Sets WROTE=1 when it wrote.
install_file() {
	local src=$1 dest=$ROOT$2 mode=$3
	WROTE=0
	if [ -f "$dest" ] && cmp -s "$src" "$dest" && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
		return 0
	fi
	mkdir -p "$(dirname "$dest")"
	cp "$src" "$dest.socialcoop-new"
	chmod "$mode" "$dest.socialcoop-new"
	mv "$dest.socialcoop-new" "$dest"
	WROTE=1
	changed "$2"
}

# --- read the data file -----------------------------------------------------------
HOST_NAME="" FQDN="" TIMEZONE="" ADMIN_GROUPS="" ADMIN_SHELL="" SUDO_RULE=""
PACKAGES=() ADMIN_NAMES=() ADMIN_KEYS=() FILES=() SERVICES=()
while IFS= read -r line || [ -n "$line" ]; do
	kind=${line%% *}
	value=${line#* }
	case $kind in
	'' | '#'*) ;;
	hostname) HOST_NAME=$value ;;
	fqdn) FQDN=$value ;;
	timezone) TIMEZONE=$value ;;
	admin_groups) ADMIN_GROUPS=$value ;;
	admin_shell) ADMIN_SHELL=$value ;;
	sudo_rule) SUDO_RULE=$value ;;
	package) PACKAGES+=("$value") ;;
	admin)
		ADMIN_NAMES+=("${value%% *}")
		ADMIN_KEYS+=("${value#* }")
		;;
	file) FILES+=("$value") ;;
	service) SERVICES+=("$value") ;;
	*) die "$CONF: unknown line kind '$kind'" ;;
	esac
done <"$CONF"
if [ -z "$HOST_NAME" ] || [ -z "$FQDN" ]; then die "$CONF: hostname and fqdn are required"; fi
[ "${#ADMIN_NAMES[@]}" -gt 0 ] || die "$CONF: no admin: refusing to lock everybody out"
if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
	die "run as root (sudo bash bootstrap.sh ...)"
fi

# --- packages: install only what is missing ----------------------------------------
missing=()
for pkg in "${PACKAGES[@]}"; do
	# shellcheck disable=SC2016  # ${Status} is dpkg-query's format, not a shell variable
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q "${missing[@]}"
	changed "packages ${missing[*]}"
fi

# --- admins: account, groups, exactly their key, sudo rule --------------------------
sudoers="$STAGE/sudoers"
: >"$sudoers"
for i in "${!ADMIN_NAMES[@]}"; do
	name=${ADMIN_NAMES[$i]}
	if ! getent passwd "$name" >/dev/null; then
		useradd --create-home --shell "$ADMIN_SHELL" --groups "$ADMIN_GROUPS" "$name"
		changed "user $name"
	fi
	for group in ${ADMIN_GROUPS//,/ }; do
		members=$(getent group "$group" | cut -d: -f4) || die "group $group does not exist"
		case ",$members," in
		*",$name,"*) ;;
		*)
			usermod --append --groups "$group" "$name"
			changed "$name joins $group"
			;;
		esac
	done
	home=$(getent passwd "$name" | cut -d: -f6)
	if [ ! -d "$ROOT$home/.ssh" ]; then
		mkdir -m 0700 "$ROOT$home/.ssh"
		chown "$name:" "$ROOT$home/.ssh"
		changed "$home/.ssh"
	fi
	printf '%s\n' "${ADMIN_KEYS[$i]}" >"$STAGE/key"
	install_file "$STAGE/key" "$home/.ssh/authorized_keys" 0600
	if [ "$WROTE" = 1 ]; then chown "$name:" "$ROOT$home/.ssh/authorized_keys"; fi
	printf '%s %s\n' "$name" "$SUDO_RULE" >>"$sudoers"
done
visudo -cq -f "$sudoers" || die "visudo rejects the sudo rule '$SUDO_RULE'"
install_file "$sudoers" /etc/sudoers.d/90-socialcoop-admins 0440

# --- time zone and host name ----------------------------------------------------------
if [ -n "$TIMEZONE" ]; then
	zone=/usr/share/zoneinfo/$TIMEZONE
	[ -e "$ROOT$zone" ] || die "unknown time zone $TIMEZONE"
	if [ "$(readlink "$ROOT/etc/localtime" || true)" != "$zone" ]; then
		ln -sfn "$zone" "$ROOT/etc/localtime"
		changed "/etc/localtime -> $zone"
	fi
	printf '%s\n' "$TIMEZONE" >"$STAGE/timezone"
	install_file "$STAGE/timezone" /etc/timezone 0644
fi
printf '%s\n' "$HOST_NAME" >"$STAGE/hostname"
install_file "$STAGE/hostname" /etc/hostname 0644
if [ "$(hostname)" != "$HOST_NAME" ]; then
	hostname "$HOST_NAME"
	changed "live host name $HOST_NAME"
fi
{
	grep -v '^127\.0\.1\.1[[:space:]]' "$ROOT/etc/hosts" 2>/dev/null || true
	printf '127.0.1.1 %s %s\n' "$FQDN" "$HOST_NAME"
} >"$STAGE/hosts"
install_file "$STAGE/hosts" /etc/hosts 0644

# --- files from base.yaml's write_files ---------------------------------------------
for entry in "${FILES[@]}"; do
	read -r path mode reload content <<<"$entry"
	base64 -d <<<"$content" >"$STAGE/file"
	install_file "$STAGE/file" "$path" "$mode"
	if [ "$WROTE" = 1 ] && [ "$reload" != - ]; then RELOAD+=("$reload"); fi
done

# --- services -------------------------------------------------------------------------
for svc in "${SERVICES[@]}"; do
	if ! systemctl is-enabled --quiet "$svc" || ! systemctl is-active --quiet "$svc"; then
		systemctl enable --now "$svc"
		changed "service $svc enabled and started"
	fi
done
for svc in $(printf '%s\n' "${RELOAD[@]}" | sort -u); do
	if [ "$svc" = ssh ] && ! sshd -t; then
		die "sshd rejects its configuration; not reloading (check /etc/ssh/sshd_config.d)"
	fi
	systemctl try-reload-or-restart "$svc"
done

log "done, $CHANGES change(s)"
