#!/bin/bash
# Bootstrap a host we cannot give cloud-init (rhizome, pando): apply the same things
# as cloud-init/base.yaml over SSH, plus a host firewall. components/hosts/vps_host.py uploads
# this script and its data file, then runs, as root:
#
#   bash bootstrap.sh bootstrap.conf
#   bash bootstrap.sh --check bootstrap.conf   # only read and check the data file
#
# bootstrap.conf is rendered by components/hosts/cloudinit.py from cloud-init/base.yaml
# (one "kind value..." per line; file contents in base64), so both paths install the
# same admin users, keys, sudo rule, packages and files. The reader takes only lines of the
# shapes the renderer writes: each value its own shape (a user name, one public key line,
# a file under the few directories the templates write to, base64 content...), the
# single-value kinds once, each admin once, and a last line `end N` counting the lines
# before it: a line that a value smuggled in, or a cut or appended file, stops it before
# any change.
#
# Converges: a second run with the same data changes nothing, and an admin dropped from
# the data loses their key, their sudo rule and their admin groups (the script keeps the
# names it manages in /var/lib/socialcoop/admins). Order matters:
#   1. admins and keys (so nobody is locked out by what follows);
#   2. the sshd drop-in: validated by `sshd -t` *before* it is installed, then sshd is
#      reloaded; a later failure can no longer leave the hardening off;
#   3. host name, time zone, the other files (written before the packages, so fail2ban's
#      first start already reads its jail), packages, services.
# Reloads follow the system's state, not "did this run write a file": each managed
# service is (re)started when it is not active, and reloaded when the files it reads
# differ from those it last loaded (a digest kept in /run/socialcoop with its main PID).
# A failing service does not stop the others; the script exits 1 at the end.
set -euo pipefail

CHECK_ONLY=""
if [ "${1:-}" = --check ]; then
	CHECK_ONLY=1
	shift
fi
CONF=${1:?usage: bootstrap.sh [--check] bootstrap.conf}
STATE=/var/lib/socialcoop
RUNSTATE=/run/socialcoop
CHANGES=0
WROTE=0
FAILED=()
STAGE=$(mktemp -d)

log() { printf 'bootstrap: %s\n' "$*"; }
die() {
	printf 'bootstrap: error: %s\n' "$*" >&2
	exit 1
}
changed() {
	CHANGES=$((CHANGES + 1))
	log "changed: $*"
}

# install_file SRC DEST MODE: copy SRC to DEST unless DEST already has the same content
# and mode. Sets WROTE=1 when it wrote.
install_file() {
	local src=$1 dest=$2 mode=$3
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

# --- state-based service handling ---------------------------------------------------
# SVC_FILES[SVC]: the files SVC reads (from the data file's reload column); as one digest:
declare -A SVC_FILES=()
files_digest() {
	# shellcheck disable=SC2086  # the list is space-separated paths
	cat ${SVC_FILES[$1]:-} /dev/null 2>/dev/null | sha256sum | cut -c1-64
}
# converge_service SVC: enable it; start it when inactive; reload it when the files it
# read at its last (re)load are not the ones on disk. Returns 1 on failure.
converge_service() {
	local svc=$1 digest pid stamp acted=""
	digest=$(files_digest "$svc")
	if ! systemctl is-enabled --quiet "$svc" 2>/dev/null; then
		systemctl enable --quiet "$svc" || return 1
		changed "service $svc enabled"
	fi
	if ! systemctl is-active --quiet "$svc"; then
		systemctl restart "$svc" || return 1
		acted=1
		changed "service $svc started"
	else
		pid=$(systemctl show -p MainPID --value "$svc")
		stamp=$(cat "$RUNSTATE/$svc" 2>/dev/null || true)
		if [ "$stamp" != "$pid $digest" ]; then
			# a service that is still starting may refuse a reload (fail2ban before its socket)
			systemctl reload-or-restart "$svc" || systemctl restart "$svc" || return 1
			acted=1
			changed "service $svc reloaded (its files changed since it last loaded them)"
		fi
	fi
	if [ -n "$acted" ]; then settled "$svc" || return 1; fi
	mkdir -p "$RUNSTATE"
	printf '%s %s\n' "$(systemctl show -p MainPID --value "$svc")" "$digest" >"$RUNSTATE/$svc"
}
# settled SVC: still active 5 s later. `systemctl restart` returns at once for a simple
# service (fail2ban) that then fails reading its configuration.
settled() {
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		systemctl is-active --quiet "$1" || return 1
		[ "$i" = 10 ] || sleep 0.5
	done
}

# sshd: the one service that must follow its files whatever else happens (trap below).
ssh_converge() {
	sshd -t || die "sshd rejects its configuration; not reloading (check /etc/ssh/sshd_config.d)"
	if systemctl is-enabled --quiet ssh.socket 2>/dev/null; then
		# socket activation (Ubuntu 24.04): the port lives in the generated socket unit
		systemctl daemon-reload
		systemctl restart ssh.socket
	fi
	converge_service ssh || die "sshd did not reload"
}
finish() {
	local rc=$?
	rm -rf "$STAGE"
	if [ "$rc" != 0 ] && [ -n "${SSH_STARTED:-}" ] && [ -z "${SSH_DONE:-}" ]; then
		SSH_DONE=1 # an error between installing the drop-in and reloading: reload anyway
		(ssh_converge) || true
	fi
}
trap finish EXIT

# --- read the data file -----------------------------------------------------------
# The shape of each kind's value: what components/hosts/cloudinit.py writes, and nothing else.
LABEL='[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?'
KEY_TYPES='(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|ssh-rsa)'
BASE64='([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?'
# the directories the templates write to; never sudoers (the script writes its own rule)
FILE_DIRS='/etc/(ssh/sshd_config\.d|fail2ban/jail\.d|apt/apt\.conf\.d|socialcoop)/[A-Za-z0-9_-][A-Za-z0-9._-]*|/etc/systemd/system/socialcoop-[A-Za-z0-9._-]+'
declare -A SHAPE=(
	[hostname]="^$LABEL\$"
	[fqdn]="^($LABEL\.)+[a-z]{2,63}\$"
	[timezone]='^[A-Za-z0-9_+/-]{1,64}$'
	[admin_groups]='^[a-z_][a-z0-9_-]*(,[a-z_][a-z0-9_-]*)*$'
	[admin_shell]='^/[A-Za-z0-9/_-]+$'
	[sudo_rule]='^[A-Za-z0-9=(),: _!/-]+$'
	[package]='^[a-z0-9][a-z0-9+.-]+$'
	[admin]="^[a-z]([a-z0-9-]{0,30}[a-z0-9])? $KEY_TYPES $BASE64( [^ ].*)?\$"
	[file]="^($FILE_DIRS) 0[0-7]{3} (-|ssh|fail2ban|socialcoop-firewall) $BASE64\$"
	[service]='^[a-z0-9][a-z0-9@._-]*$'
	[end]='^[0-9]{1,6}$'
)
HOST_NAME="" FQDN="" TIMEZONE="" ADMIN_GROUPS="" ADMIN_SHELL="" SUDO_RULE=""
PACKAGES=() ADMIN_NAMES=() ADMIN_KEYS=() FILES=() SERVICES=()
declare -A SEEN=()
lineno=0
END=""
while IFS= read -r line || [ -n "$line" ]; do
	lineno=$((lineno + 1))
	[ -z "$END" ] || die "$CONF line $lineno: a line after the end line"
	case $line in '' | '#'*) continue ;; esac
	kind=${line%% *}
	value=${line#* }
	[ -n "${SHAPE[$kind]:-}" ] || die "$CONF line $lineno: unknown line kind '${kind:0:40}'"
	if [[ $line == *[[:cntrl:]]* || $line != *" "* || ! $value =~ ${SHAPE[$kind]} ]]; then
		die "$CONF line $lineno: not a '$kind' line as the renderer writes it"
	fi
	case $kind in hostname | fqdn | timezone | admin_groups | admin_shell | sudo_rule)
		[ -z "${SEEN[$kind]:-}" ] || die "$CONF line $lineno: a second '$kind' line"
		SEEN[$kind]=1
		;;
	esac
	case $kind in
	hostname) HOST_NAME=$value ;;
	fqdn) FQDN=$value ;;
	timezone) TIMEZONE=$value ;;
	admin_groups) ADMIN_GROUPS=$value ;;
	admin_shell) ADMIN_SHELL=$value ;;
	sudo_rule) SUDO_RULE=$value ;;
	package) PACKAGES+=("$value") ;;
	admin)
		[ -z "${SEEN[admin ${value%% *}]:-}" ] || die "$CONF line $lineno: admin '${value%% *}' twice"
		SEEN[admin ${value%% *}]=1
		ADMIN_NAMES+=("${value%% *}")
		ADMIN_KEYS+=("${value#* }")
		;;
	file) FILES+=("$value") ;;
	service) SERVICES+=("$value") ;;
	end)
		[ "$value" = $((lineno - 1)) ] || die "$CONF: $((lineno - 1)) lines before the end line, which says $value"
		END=$value
		;;
	esac
done <"$CONF"
if [ -z "$HOST_NAME" ] || [ -z "$FQDN" ]; then die "$CONF: hostname and fqdn are required"; fi
[ "${#ADMIN_NAMES[@]}" -gt 0 ] || die "$CONF: no admin: refusing to lock everybody out"
[ -n "$END" ] || die "$CONF: no end line (cut short?)"
if [ -n "$CHECK_ONLY" ]; then
	log "$CONF: ${#ADMIN_NAMES[@]} admin(s), ${#FILES[@]} file(s), ${#PACKAGES[@]} package(s): good"
	exit 0
fi
[ "$(id -u)" = 0 ] || die "run as root (sudo bash bootstrap.sh ...)"
for name in "${ADMIN_NAMES[@]}"; do
	uid=$(getent passwd "$name" | cut -d: -f3) || true
	if [ "$name" = root ] || { [ -n "$uid" ] && [ "$uid" -lt 1000 ]; }; then
		die "$CONF: admin '$name' is a system account (uid ${uid:-0}); admins must be people"
	fi
done
for entry in "${FILES[@]}"; do
	read -r path _mode reload _content <<<"$entry"
	if [ "$reload" != - ]; then SVC_FILES[$reload]="${SVC_FILES[$reload]:-} $path"; fi
done

# --- 1. admins: account, groups, exactly their key, sudo rule -------------------------
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
	if [ ! -d "$home/.ssh" ]; then
		mkdir -m 0700 "$home/.ssh"
		chown "$name:" "$home/.ssh"
		changed "$home/.ssh"
	fi
	printf '%s\n' "${ADMIN_KEYS[$i]}" >"$STAGE/key"
	install_file "$STAGE/key" "$home/.ssh/authorized_keys" 0600
	if [ "$WROTE" = 1 ]; then chown "$name:" "$home/.ssh/authorized_keys"; fi
	printf '%s %s\n' "$name" "$SUDO_RULE" >>"$sudoers"
done
visudo -cq -f "$sudoers" || die "visudo rejects the sudo rule '$SUDO_RULE'"
install_file "$sudoers" /etc/sudoers.d/90-socialcoop-admins 0440

# admins managed before but no longer declared: no key, no admin group, no sudo rule
# (the sudoers file above already lists only declared admins). The account stays, locked.
printf '%s\n' "${ADMIN_NAMES[@]}" | sort >"$STAGE/admins"
if [ -f "$STATE/admins" ]; then
	for gone in $(comm -23 "$STATE/admins" "$STAGE/admins"); do
		getent passwd "$gone" >/dev/null || continue
		home=$(getent passwd "$gone" | cut -d: -f6)
		if [ -e "$home/.ssh/authorized_keys" ]; then
			rm -f "$home/.ssh/authorized_keys"
			changed "removed $gone's authorized_keys"
		fi
		for group in ${ADMIN_GROUPS//,/ } docker; do
			members=$(getent group "$group" | cut -d: -f4) || continue
			case ",$members," in *",$gone,"*)
				gpasswd --delete "$gone" "$group" >/dev/null
				changed "$gone leaves $group"
				;;
			esac
		done
		if [ "$(passwd --status "$gone" | cut -d' ' -f2)" != L ]; then
			usermod --lock "$gone"
			changed "locked $gone"
		fi
	done
fi
mkdir -p "$STATE"
install_file "$STAGE/admins" "$STATE/admins" 0644

# --- 2. sshd: validate the candidate config, install it, reload ----------------------
# The candidate drop-ins go into a copy of sshd_config.d, checked with `sshd -t` against
# a copy of sshd_config that includes the copy; only a config sshd accepts is installed.
mkdir -p "$STAGE/sshd_config.d"
cp -a /etc/ssh/sshd_config.d/. "$STAGE/sshd_config.d/" 2>/dev/null || true
sed "s#/etc/ssh/sshd_config.d/#$STAGE/sshd_config.d/#" /etc/ssh/sshd_config >"$STAGE/sshd_config"
ssh_entries=()
for entry in "${FILES[@]}"; do
	read -r path mode reload content <<<"$entry"
	[ "$reload" = ssh ] || continue
	ssh_entries+=("$entry")
	base64 -d <<<"$content" >"$STAGE/sshd_config.d/$(basename "$path")"
done
if [ "${#ssh_entries[@]}" -gt 0 ]; then
	if ! err=$(sshd -t -f "$STAGE/sshd_config" 2>&1); then
		die "sshd rejects the new drop-in, nothing installed: $err"
	fi
	SSH_STARTED=1
	for entry in "${ssh_entries[@]}"; do
		read -r path mode reload content <<<"$entry"
		base64 -d <<<"$content" >"$STAGE/file"
		install_file "$STAGE/file" "$path" "$mode"
	done
fi
SVC_FILES[ssh]="${SVC_FILES[ssh]:-} /etc/ssh/sshd_config"
ssh_converge
SSH_DONE=1

# --- 3. time zone and host name ----------------------------------------------------------
if [ -n "$TIMEZONE" ]; then
	zone=/usr/share/zoneinfo/$TIMEZONE
	[ -e "$zone" ] || die "unknown time zone $TIMEZONE"
	if [ "$(readlink /etc/localtime || true)" != "$zone" ]; then
		ln -sfn "$zone" /etc/localtime
		changed "/etc/localtime -> $zone"
	fi
	printf '%s\n' "$TIMEZONE" >"$STAGE/timezone"
	install_file "$STAGE/timezone" /etc/timezone 0644
fi
# the short name, as cloud-init sets it (prefer_fqdn_over_hostname: false); the FQDN
# comes from /etc/hosts (`hostname --fqdn`)
printf '%s\n' "$HOST_NAME" >"$STAGE/hostname"
install_file "$STAGE/hostname" /etc/hostname 0644
if [ "$(hostname)" != "$HOST_NAME" ]; then
	hostname "$HOST_NAME"
	changed "live host name $HOST_NAME"
fi
{
	grep -v '^127\.0\.1\.1[[:space:]]' /etc/hosts 2>/dev/null || true
	printf '127.0.1.1 %s %s\n' "$FQDN" "$HOST_NAME"
} >"$STAGE/hosts"
install_file "$STAGE/hosts" /etc/hosts 0644

# --- the other files (before the packages: fail2ban's first start reads its jail) ------
for entry in "${FILES[@]}"; do
	read -r path mode reload content <<<"$entry"
	[ "$reload" != ssh ] || continue
	base64 -d <<<"$content" >"$STAGE/file"
	install_file "$STAGE/file" "$path" "$mode"
	case $path in /etc/systemd/*) [ "$WROTE" = 0 ] || UNITS_CHANGED=1 ;; esac
done

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
	apt-get install -y -q -o Dpkg::Options::=--force-confold "${missing[@]}"
	changed "packages ${missing[*]}"
fi

# --- services: each converges on its own; one failing does not stop the others ---------
if [ -n "${UNITS_CHANGED:-}" ]; then systemctl daemon-reload; fi
for svc in "${SERVICES[@]}"; do
	if ! converge_service "$svc"; then
		FAILED+=("$svc")
		journalctl -u "$svc" -n 5 --no-pager >&2 || true
	fi
done
if [ "${#FAILED[@]}" -gt 0 ]; then
	die "not active: ${FAILED[*]} (see journalctl -u <service>); sshd is hardened and reloaded"
fi
log "done, $CHANGES change(s)"
