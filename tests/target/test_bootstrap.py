"""cloud-init/bootstrap.sh over real SSH against a real booted Debian 12 (marker `target`).

Each test boots a fresh throwaway machine (conftest.py) and runs the bootstrap the way
pulumi-command does for components/hosts/vps_host.py: `scp` the script and its data file and run
it over `ssh`, with the machine's host key pinned in a known_hosts file.
"""

from __future__ import annotations

import base64
import socket
import subprocess
import time

import pytest

from components.hosts.cloudinit import bootstrap_conf, render_bootstrap_config
from tests.target.conftest import OUTSIDE_V4, TARGET_V4, TARGET_V6
from tests.target.hosts import as_person, assert_host, bootstrap_over_ssh, make_people

pytestmark = pytest.mark.target


@pytest.fixture
def people(tmp_path):
    return make_people(["alice", "bob"], tmp_path)


@pytest.fixture
def alpha(load_config):
    """alpha's host as the alpha stack declares it (kind vps, on pando)."""
    return load_config("alpha").hosts["alpha"]


def admins(people):
    return tuple(p.admin for p in people)


def test_bootstrap_hardens_the_host_and_a_second_run_changes_nothing(boot_target, alpha, people):
    our_name = socket.gethostname()
    t = boot_target()
    t0 = time.monotonic()
    boot = t.wait_for_ssh()
    conf = render_bootstrap_config(alpha, admins(people))
    first = bootstrap_over_ssh(t, "root", conf)
    took = time.monotonic() - t0
    assert "changed: service ssh reloaded" in first.stdout
    assert_host(t, alpha, people)
    sudoers = t.sh("cat /etc/sudoers.d/90-socialcoop-admins").stdout
    assert sudoers == "alice ALL=(ALL) NOPASSWD:ALL\nbob ALL=(ALL) NOPASSWD:ALL\n"
    # root logins are off now: later runs go through an admin with sudo (docs/servers.md)
    alice = as_person(t, people[0])
    second = bootstrap_over_ssh(alice, "alice", conf)
    assert second.stdout.strip().endswith("bootstrap: done, 0 change(s)"), second.stdout
    assert "changed" not in second.stdout
    assert_host(t, alpha, people)
    assert socket.gethostname() == our_name  # the target's own UTS namespace took the rename
    print(f"ssh up after {boot:.1f} s, first bootstrap done {took:.1f} s after boot")


def test_a_wrong_pinned_host_key_is_refused_before_anything_is_sent(boot_target, alpha, people, tmp_path):
    t = boot_target()
    t.wait_for_ssh()
    impostor = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(impostor)], check=True)
    t.pin(" ".join(impostor.with_suffix(".pub").read_text().split()[:2]), t.known_hosts)
    accepted = t.sh("journalctl -u ssh --no-pager").stdout.count("Accepted publickey")
    with pytest.raises(AssertionError, match="Host key verification failed"):
        bootstrap_over_ssh(t, "root", render_bootstrap_config(alpha, admins(people)))
    # nothing arrived and nobody authenticated: the handshake stopped at the host key
    assert not (t.root / "root/socialcoop-bootstrap").exists()
    assert t.sh("journalctl -u ssh --no-pager").stdout.count("Accepted publickey") == accepted


def test_sshd_follows_its_files_even_when_an_earlier_run_wrote_them(boot_target, alpha, people):
    """The reported defect: the drop-in on disk, sshd never reloaded, later runs saw 0 changes."""
    t = boot_target()
    t.wait_for_ssh()
    conf = render_bootstrap_config(alpha, admins(people))
    # what an aborted earlier run left: every file in place, sshd still running its old config
    for line in conf.splitlines():
        if line.startswith("file /etc/ssh/"):
            _, path, mode, _, content = line.split(" ")
            (t.root / path.lstrip("/")).write_bytes(base64.b64decode(content))
            (t.root / path.lstrip("/")).chmod(int(mode, 8))
    assert t.ssh("root", "true").returncode == 0  # the running sshd still lets root in
    # and a fail2ban that cannot start: a broken jail file
    broken = base64.b64encode(b"this line is no ini syntax\n").decode()
    extra = f"file /etc/fail2ban/jail.d/zz-broken.local 0644 fail2ban {broken}"
    conf_broken = bootstrap_conf([*conf.splitlines()[:-1], extra])  # before the end line, counted
    run = bootstrap_over_ssh(t, "root", conf_broken, check=False)
    assert run.returncode == 1 and "not active: fail2ban" in run.stderr, (run.stdout, run.stderr)
    assert "changed: service ssh reloaded" in run.stdout
    root = t.ssh("root", "true", check=False)
    assert root.returncode != 0 and "Permission denied" in root.stderr  # hardening is live anyway


def test_a_rejected_sshd_drop_in_is_never_installed(boot_target, alpha, people):
    t = boot_target()
    t.wait_for_ssh()
    conf = render_bootstrap_config(alpha, admins(people))
    lines = []
    for line in conf.splitlines():
        if line.startswith("file /etc/ssh/"):
            parts = line.split(" ")
            parts[4] = base64.b64encode(base64.b64decode(parts[4]) + b"NoSuchOption yes\n").decode()
            line = " ".join(parts)
        lines.append(line)
    run = bootstrap_over_ssh(t, "root", "\n".join(lines) + "\n", check=False)
    assert run.returncode == 1 and "sshd rejects the new drop-in, nothing installed" in run.stderr
    assert not (t.root / "etc/ssh/sshd_config.d/10-socialcoop.conf").exists()
    assert t.ssh("root", "sshd -t && systemctl is-active ssh").stdout.strip() == "active"


def test_system_accounts_are_refused_as_admins(boot_target, alpha, people):
    t = boot_target()
    t.wait_for_ssh()
    before = (t.root / "root/.ssh/authorized_keys").read_text()
    for name in ("root", "daemon"):
        evil = people[1].admin.model_copy(update={"name": name})
        conf = render_bootstrap_config(alpha, (people[0].admin, evil))
        run = bootstrap_over_ssh(t, "root", conf, check=False)
        assert run.returncode == 1 and f"admin '{name}' is a system account" in run.stderr, run.stderr
    assert (t.root / "root/.ssh/authorized_keys").read_text() == before
    assert t.sh("getent group sudo").stdout.strip() == "sudo:x:27:"  # nothing was applied


def test_an_admin_removed_from_the_stack_loses_key_and_sudo(boot_target, alpha, people):
    t = boot_target()
    t.wait_for_ssh()
    bootstrap_over_ssh(t, "root", render_bootstrap_config(alpha, admins(people)))
    alice, bob = people
    assert as_person(t, bob).ssh("bob", "sudo -n true").returncode == 0
    out = bootstrap_over_ssh(as_person(t, alice), "alice", render_bootstrap_config(alpha, (alice.admin,)))
    assert "removed bob's authorized_keys" in out.stdout and "bob leaves sudo" in out.stdout
    assert_host(t, alpha, (alice,))
    assert as_person(t, bob).ssh("bob", "true", check=False).returncode != 0
    assert "bob" not in t.sh("id -nG bob").stdout.split()[1:]
    assert t.sh("passwd --status bob").stdout.split()[1] == "L"
    assert "not allowed to run sudo" in t.sh("sudo -l -U bob").stdout
    again = bootstrap_over_ssh(as_person(t, alice), "alice", render_bootstrap_config(alpha, (alice.admin,)))
    assert again.stdout.strip().endswith("done, 0 change(s)"), again.stdout


def test_another_ssh_port_moves_sshd(boot_target, alpha, people):
    moved = alpha.model_copy(update={"ssh_port": 2222})
    t = boot_target()
    t.wait_for_ssh()
    bootstrap_over_ssh(t, "root", render_bootstrap_config(moved, admins(people)))
    assert_host(t, moved, people)
    alice = as_person(t, people[0])
    assert alice.ssh("alice", "true", port=2222).returncode == 0
    r = alice.ssh("alice", "true", port=22, check=False)
    assert r.returncode == 255 and "Connection refused" in r.stderr, r.stderr
    assert "port = 2222" in t.sh("cat /etc/fail2ban/jail.d/socialcoop.local").stdout


def probe(t, address: str, port: int) -> str:
    """Connect from the outside namespace: 'open', 'refused' (got past the firewall) or 'dropped'."""
    code = (
        "import socket,sys\n"
        f"s=socket.socket(socket.AF_INET6 if ':' in {address!r} else socket.AF_INET); s.settimeout(2)\n"
        f"try: s.connect(({address!r},{port})); print('open')\n"
        "except ConnectionRefusedError: print('refused')\n"
        "except (TimeoutError, socket.timeout): print('dropped')\n"
    )
    r = subprocess.run(
        ["ip", "netns", "exec", t.outside, "python3", "-c", code], capture_output=True, text=True
    )
    return r.stdout.strip()


def test_vps_host_firewall_has_the_cloud_firewalls_rules_v4_and_v6(boot_target, alpha, people):
    t = boot_target(outside=True)
    t.wait_for_ssh()
    before = {a: (probe(t, a, 22), probe(t, a, 8080)) for a in (TARGET_V4, TARGET_V6)}
    assert before == {TARGET_V4: ("open", "refused"), TARGET_V6: ("open", "refused")}  # no firewall yet
    bootstrap_over_ssh(t, "root", render_bootstrap_config(alpha, admins(people)))
    for address in (TARGET_V4, TARGET_V6):
        seen = {port: probe(t, address, port) for port in (22, 80, 443, 2222, 8080)}
        # 22 answers; 80 and 443 pass the firewall (nothing listens: refused); others are dropped
        assert seen == {22: "open", 80: "refused", 443: "refused", 2222: "dropped", 8080: "dropped"}, address
    ping = subprocess.run(
        ["ip", "netns", "exec", t.outside, "ping", "-c1", "-W2", TARGET_V4], capture_output=True
    )
    assert ping.returncode == 0
    assert t.sh("systemctl is-enabled socialcoop-firewall").stdout.strip() == "enabled"
    # a second run changes nothing, and the table is still there once
    again = bootstrap_over_ssh(
        as_person(t, people[0]), "alice", render_bootstrap_config(alpha, admins(people))
    )
    assert again.stdout.strip().endswith("done, 0 change(s)")
    assert t.sh("nft list tables").stdout.count("inet socialcoop") == 1
    assert OUTSIDE_V4 not in t.sh("nft list ruleset").stdout  # nothing was banned or special-cased


# What Docker does for `-p HOST:CONTAINER`, without Docker (no daemon or image in the target):
# a container namespace behind an interface named like Docker's bridges, forwarding on (the
# test turns it on) and a DNAT rule in a table of its own (Docker's is in ip nat / ip docker-bridges) that sends
# the published ports to the container; masquerade for the container's own traffic out.
EMULATED_DOCKER = """
set -e
ip netns add ctr
ip link add br-emu type veth peer name eth0 netns ctr
ip addr add 10.99.0.1/24 dev br-emu
ip link set br-emu up
ip -n ctr addr add 10.99.0.2/24 dev eth0
ip -n ctr link set eth0 up
ip -n ctr link set lo up
ip -n ctr route add default via 10.99.0.1
nft -f - <<'NFT'
table ip emulated-docker {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    tcp dport { 443, 8080 } dnat to 10.99.0.2
    tcp dport 8443 dnat to 10.99.0.2:443
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.99.0.0/24 oifname != "br-emu" masquerade
  }
}
NFT
"""


def from_container(t, address: str, port: int) -> str:
    """Connect from the emulated container to the outside namespace ('refused': it got there)."""
    code = (
        "import socket\n"
        "s=socket.socket(); s.settimeout(2)\n"
        f"try: s.connect(({address!r},{port})); print('open')\n"
        "except ConnectionRefusedError: print('refused')\n"
        "except (TimeoutError, socket.timeout): print('dropped')\n"
    )
    return t.sh(f'ip netns exec ctr python3 -c "{code}"').stdout.strip()


def test_vps_host_firewall_filters_the_ports_docker_publishes(boot_target, alpha, people):
    """A forwarded connection to a published port passes only when the port the client
    connected to is on the list: 443 does, 8080 and 8443 (published to the container's 443)
    do not. Replies, and the container's own connections out, still pass."""
    t = boot_target(outside=True)
    t.wait_for_ssh()
    t.sh(EMULATED_DOCKER)
    # forwarding on (the container's /proc/sys is read-only; it is the namespace's setting)
    subprocess.run(["ip", "netns", "exec", t.netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
    published = (443, 8080, 8443)
    # 'refused': the container's kernel answered, so the packet was forwarded to it
    assert {p: probe(t, TARGET_V4, p) for p in published} == dict.fromkeys(published, "refused")
    bootstrap_over_ssh(t, "root", render_bootstrap_config(alpha, admins(people)))
    after = {p: probe(t, TARGET_V4, p) for p in published}
    assert after == {443: "refused", 8080: "dropped", 8443: "dropped"}
    assert probe(t, TARGET_V4, 22) == "open"  # the host's own ports: the input chain, as before
    assert from_container(t, OUTSIDE_V4, 9) == "refused"  # container egress and its reply
