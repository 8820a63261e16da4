"""The user-data HetznerServer renders, through the real cloud-init at boot (marker `target`).

A fresh target boots with the rendered user-data in a NoCloud seed (the admins' keys in
meta-data `public-keys`, as Hetzner's `ssh_keys` give them to root) and must end in the same
state as the SSH bootstrap path: the shared `assert_host`.

Differences from a real Hetzner Ubuntu server, each handled here by name:
- The target is Debian 12 (Ubuntu's archive is not reachable). The user-data is written for
  Ubuntu images only (data/providers.yaml); its one Ubuntu-only package, `docker-compose-v2`,
  is a TEST STUB package here (tests/target/packages.txt `stub`), so apt installs the rest.
- Docker inside systemd-nspawn cannot use overlayfs on an overlay, the host's iptables, or
  write /proc/sys (read-only in the container: dockerd's ip_forward fails). The test gives
  the target an /etc/docker/daemon.json (TEST ONLY: vfs storage driver, no iptables rules,
  no ip_forward, no default bridge), so dockerd really starts and the swarm really
  initialises; running containers (cgroup v1, read-only) is not tested here.
- The swarm script looks up the public IPv4 with `ip route get 1.1.1.1`: the target gets a
  default route into the test's outside namespace (nothing is forwarded beyond it).
- Like a cloud image, the test image has the en_US.UTF-8 locale generated (cloud-init's
  locale module fails without it), and nspawn gives the container CAP_NET_ADMIN in its own
  network namespace (nftables for fail2ban and the firewall).
- The growpart/resizefs/disk modules have no disk to grow in a container; the test prints
  what cloud-init skipped.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from components.hosts.cloudinit import render_user_data
from tests.target.hosts import as_person, assert_host, make_people

pytestmark = pytest.mark.target

DAEMON_JSON = '{"storage-driver": "vfs", "iptables": false, "ip6tables": false, "ip-forward": false, "bridge": "none"}\n'
STUBS = {"docker-compose-v2"}  # Ubuntu-only; TEST STUB in the Debian image


def to_hetzner(c):
    from tests.conftest import key

    c[key("hosts")]["alpha"]["kind"] = "hetzner_cloud"


def seed(user_data: str, host, people):
    def prepare(root):
        d = root / "var/lib/cloud/seed/nocloud"
        d.mkdir(parents=True)
        (d / "user-data").write_text(user_data)
        keys = "".join(f"  - {p.admin.ssh_key}\n" for p in people)
        (d / "meta-data").write_text(
            f"instance-id: test-{host.name}\nlocal-hostname: {host.name}\npublic-keys:\n{keys}"
        )
        (root / "etc/docker").mkdir(parents=True)
        (root / "etc/docker/daemon.json").write_text(DAEMON_JSON)

    return prepare


def host_key_from_console(t) -> str:
    """The ed25519 host key from cloud-init's 'SSH HOST KEY KEYS' block (Hetzner's console shows it)."""
    log = t.sh("cat /var/log/cloud-init-output.log").stdout
    block = log.split("-----BEGIN SSH HOST KEY KEYS-----")[1].split("-----END SSH HOST KEY KEYS-----")[0]
    line = next(x for x in block.splitlines() if x.startswith("ssh-ed25519 "))
    return " ".join(line.split()[:2])


def runcmd_log(output: str) -> str:
    """The runcmd part of cloud-init-output.log: each command (set -x) and what it printed."""
    lines = output.splitlines()
    first = next((i for i, x in enumerate(lines) if x.startswith("+ ")), len(lines))
    return "\n".join(lines[first : first + 60])


def digest(t, paths: str) -> str:
    return hashlib.sha256(t.sh(f"cat {paths} 2>&1; ls -la /home /etc/sudoers.d").stdout.encode()).hexdigest()


@pytest.mark.parametrize(
    ("stack", "name", "mutate"), [("alpha", "alpha", to_hetzner), ("prod", "hypha", None)]
)
def test_rendered_user_data_through_real_cloud_init(boot_target, load_config, tmp_path, stack, name, mutate):
    cfg = load_config(stack, mutate)
    host = cfg.hosts[name]
    assert host.kind == "hetzner_cloud"
    people = make_people([a.name for a in cfg.admins], tmp_path)
    text = render_user_data(host, tuple(p.admin for p in people), cfg.environment)
    t = boot_target(prepare=seed(text, host, people), outside=True, cloud_init=True)
    t0 = time.monotonic()
    # boot is over when systemd says so: cloud-final is part of it (`status --wait` alone can
    # return before cloud-init has even started)
    running = t.wait_for_boot()
    status = t.sh("cloud-init status --wait --long", check=False, timeout=600)
    took = time.monotonic() - t0
    result = json.loads(t.sh("cat /run/cloud-init/result.json").stdout)["v1"]
    # every module and every runcmd command succeeded (runcmd stops at the first failure and
    # then fails on any failed unit, so one failing command is visible here)
    output = t.sh("cat /var/log/cloud-init-output.log").stdout
    assert status.returncode == 0 and "status: done" in status.stdout, status.stdout + runcmd_log(output)
    assert running == "running", running
    assert result["errors"] == [], result["errors"]
    assert not [x for x in output.splitlines() if x.startswith("failed units:")]
    # what could not run in the container (cloud-init.log WARNINGs), recorded in the note
    warnings = [x for x in t.sh("grep -h WARNING /var/log/cloud-init.log || true").stdout.splitlines()]
    print(f"\n{stack}:{name}: cloud-init done in {took:.0f} s; warnings: {len(warnings)}")
    for w in warnings:
        print("  ", w.split(" - ", 1)[-1][:200])
    # and what it skipped or could not do here (DEBUG lines), for the note
    skipped = t.sh(
        "grep -hiE 'skipping|container|unable to|not found' /var/log/cloud-init.log || true"
    ).stdout
    for line in skipped.splitlines():
        print("   skip:", line.split(" - ", 1)[-1][:200])

    t.host_key = host_key_from_console(t)
    t.pin(t.host_key, t.known_hosts)
    assert_host(t, host, people, docker="docker" in host.cloud_init)
    # the stubbed Ubuntu-only package is the only stub on the machine
    stubs = t.sh("dpkg-query -W -f='${Package} ${Version}\\n' | grep teststub || true").stdout.split()
    assert set(stubs[::2]) <= STUBS
    # root's authorized_keys (Hetzner's keys) only says how to log in properly
    root_keys = t.sh("cat /root/.ssh/authorized_keys").stdout
    assert "NONE" not in root_keys and "log in as your own admin account" in root_keys
    assert len(root_keys.splitlines()) == len(people)
    alice = as_person(t, people[0])
    assert alice.ssh(people[0].admin.name, "docker info --format '{{.ServerVersion}}'").stdout.strip()
    if "swarm" in host.cloud_init:
        info = t.sh("docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}'").stdout
        assert info.split() == ["active", "true"], info
        assert t.sh("docker network inspect -f '{{.Driver}} {{.Scope}}' proxy").stdout.split() == [
            "overlay",
            "swarm",
        ]

    # a second run of every stage repeats nothing
    files = "/etc/passwd /etc/group /etc/shadow /etc/ssh/sshd_config.d/* /etc/fail2ban/jail.d/* /etc/hosts"
    before = digest(t, files)
    t.sh(
        "cloud-init init && cloud-init modules --mode=config && cloud-init modules --mode=final", timeout=300
    )
    assert digest(t, files) == before
    assert_host(t, host, people, docker="docker" in host.cloud_init)
