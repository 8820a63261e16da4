"""What both bootstrap paths (SSH bootstrap, cloud-init) must leave on a real host.

``assert_host`` is the one shared set of host assertions; ``bootstrap_over_ssh`` does what
pulumi-command does for components/hosts/vps_host.py: copy the script and its data file with the
host key pinned, then run the script (as root, or with `sudo -n` as an admin).
"""

from __future__ import annotations

import dataclasses
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from components.hosts.cloudinit import BOOTSTRAP_SCRIPT, load_part
from components.hosts.models import Admin, Host
from components.hosts.vps_host import remote_dir


@dataclass(frozen=True)
class Person:
    """An admin with a real key pair (the stack files hold placeholders)."""

    admin: Admin
    private_key: Path


def make_people(names: Sequence[str], where: Path) -> tuple[Person, ...]:
    people = []
    for name in names:
        key = where / f"{name}_ed25519"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@tests", "-f", str(key)], check=True
        )
        people.append(Person(Admin(name=name, ssh_key=Path(f"{key}.pub").read_text().strip()), key))
    return tuple(people)


def as_person(target, person: Person):
    """A copy of the target handle that logs in with this person's key."""
    return dataclasses.replace(target, client_key=person.private_key)


def bootstrap_over_ssh(target, user: str, conf: str, port: int = 22, check: bool = True):
    """Upload bootstrap.sh and bootstrap.conf to the user's remote_dir and run the script."""
    where = remote_dir(user)
    with tempfile.TemporaryDirectory() as tmp:
        conf_file = Path(tmp) / "bootstrap.conf"
        conf_file.write_text(conf)
        target.ssh(user, f"mkdir -p {where}", port=port)
        target.scp(user, BOOTSTRAP_SCRIPT, f"{where}/bootstrap.sh", port=port)
        target.scp(user, conf_file, f"{where}/bootstrap.conf", port=port)
    sudo = "" if user == "root" else "sudo -n "
    return target.ssh(user, f"{sudo}bash {where}/bootstrap.sh {where}/bootstrap.conf", port=port, check=check)


def drop_in_values() -> dict[str, str]:
    """The sshd options cloud-init/base.yaml sets, lower-cased as `sshd -T` prints them."""
    f = next(f for f in load_part("base")["write_files"] if f["path"].startswith("/etc/ssh/"))
    pairs = [line.split(None, 1) for line in f["content"].splitlines() if line and not line.startswith("#")]
    return {k.lower(): v.lower() for k, v in pairs if k != "Port"}


def sshd_t(target) -> dict[str, str]:
    out = target.sh("sshd -T").stdout
    return {k: v for k, _, v in (line.partition(" ") for line in out.splitlines())}


def assert_host(
    target, host: Host, people: Sequence[Person], docker: bool = False, allowed_failed=()
) -> None:
    """The end state of a bootstrapped host, checked inside the real machine."""
    groups = load_part("base")["users"][0]["groups"]
    # each admin: exists, in the admin groups, exactly their key; nobody else in those groups
    for p in people:
        name = p.admin.name
        target.sh(f"getent passwd {name}")
        keys = target.sh(f"cat ~{name}/.ssh/authorized_keys").stdout
        assert keys == p.admin.ssh_key + "\n", f"{name}'s authorized_keys: {keys!r}"
        in_groups = target.sh(f"id -nG {name}").stdout.split()
        assert set(groups) <= set(in_groups), (name, in_groups)
        # NOPASSWD sudo without a terminal: key-only accounts have no password (docs/servers.md)
        assert as_person(target, p).ssh(name, "sudo -n id -u", port=host.ssh_port).stdout.strip() == "0"
    for g in groups:
        members = set(filter(None, target.sh(f"getent group {g}").stdout.strip().split(":")[3].split(",")))
        assert members == {p.admin.name for p in people}, (g, members)
    for p in people:  # the rule itself (cloud-init and the bootstrap write different files)
        assert "(ALL) NOPASSWD: ALL" in target.sh(f"sudo -l -U {p.admin.name}").stdout

    # sshd: what its config says ...
    t = sshd_t(target)
    for option, value in drop_in_values().items():
        assert t[option].lower() == value, (option, t[option], value)
    assert t["port"] == str(host.ssh_port)
    for option in ("kexalgorithms", "ciphers", "macs"):
        assert not any(x in t[option] for x in ("sha1", "umac-64", "cbc")), (option, t[option])
    # ... and what the *running* sshd does (sshd -T only reads the files): root's key, a
    # password and a SHA-1 MAC are all refused
    root = target.ssh("root", "true", port=host.ssh_port, check=False)
    assert root.returncode != 0, "root can still log in over SSH"
    assert "Permission denied" in root.stderr, root.stderr
    someone = people[0]
    argv = as_person(target, someone).ssh_argv(someone.admin.name, host.ssh_port)
    # (a non-AEAD cipher, or the MAC is never negotiated)
    refusals = {
        ("-o", "Ciphers=aes128-ctr", "-o", "MACs=hmac-sha1"): "no matching MAC found",
        ("-o", "PubkeyAuthentication=no", "-o", "BatchMode=no"): "Permission denied",
    }
    for opts, why in refusals.items():
        r = subprocess.run(
            [*argv[:-1], *opts, argv[-1], "true"],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert r.returncode != 0 and why in r.stderr, (opts, r.stdout, r.stderr)

    # fail2ban watches sshd (on the host's port) through the journal
    status = target.sh("fail2ban-client status sshd").stdout
    assert "Journal matches" in status, status
    jail = target.sh("fail2ban-client get sshd actions; fail2ban-client get sshd banip --with-time").stdout
    assert "nftables" in jail, jail
    # unattended security upgrades are on
    target.sh("dpkg-query -W -f='${Status}' unattended-upgrades | grep -qx 'install ok installed'")
    periodic = target.sh("apt-config dump APT::Periodic").stdout
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic, periodic
    assert target.sh("systemctl is-enabled apt-daily-upgrade.timer").stdout.strip() == "enabled"
    # UTC, host name and FQDN
    assert target.sh("readlink /etc/localtime").stdout.strip().endswith("/UTC")
    assert target.sh("date +%Z").stdout.strip() == "UTC"
    assert target.sh("hostname").stdout.strip() == host.name
    assert target.sh("hostname --fqdn").stdout.strip() == host.fqdn
    if docker:
        target.sh("dpkg-query -W -f='${Status}' docker.io | grep -qx 'install ok installed'")
        assert target.sh("systemctl is-enabled docker").stdout.strip() == "enabled"
        for p in people:
            assert "docker" in target.sh(f"id -nG {p.admin.name}").stdout.split()
    # every service the role needs is active, and no unit failed
    for svc in ("ssh", "fail2ban"):
        assert target.sh(f"systemctl is-active {svc}", check=False).stdout.strip() == "active", svc
    failed = target.sh("systemctl --failed --plain --no-legend").stdout.split("\n")
    failed = [line.split()[0] for line in failed if line.strip()]
    assert set(failed) <= set(allowed_failed), f"failed units: {failed}"
