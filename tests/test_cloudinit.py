"""cloud-init rendering and the SSH bootstrap script: pure functions and real validators.

User-data is checked with Debian's `cloud-init schema` (22.4: exit 0 and "Valid
cloud-config" when valid, exit 1 with the errors otherwise); shell with `shellcheck`.
Both must be installed (tools/system-packages.sh): a missing validator fails, not skips.
bootstrap.sh is run for real, twice, against a temporary root directory with the
system commands (useradd, apt-get, systemctl, ...) replaced by a stub that keeps their
state in files, to show that the second run changes nothing.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from components import cloudinit
from components.cloudinit import (
    BOOTSTRAP_SCRIPT,
    USER_DATA_LIMIT,
    bootstrap_digest,
    merge,
    render_bootstrap_config,
    render_user_data,
    user_data,
)
from components.config import Admin
from tests.conftest import key


def to_hetzner(c):
    c[key("hosts")]["alpha"]["kind"] = "hetzner_cloud"


# Every host of both stacks, and alpha after the one-line switch to Hetzner Cloud.
CASES = [("prod", None), ("alpha", None), ("alpha", to_hetzner)]


def all_hosts(load_config):
    for stack, mutate in CASES:
        cfg = load_config(stack, mutate)
        for host in cfg.hosts.values():
            yield f"{stack}:{host.name}:{host.kind}", host, cfg


def schema(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True, timeout=60
    )


# --------------------------------------------------------------------------- user-data


def test_every_rendered_user_data_passes_cloud_init_schema(load_config, tmp_path):
    seen = []
    for label, host, cfg in all_hosts(load_config):
        text = render_user_data(host, cfg.admins, cfg.environment)
        path = tmp_path / f"{label.replace(':', '-')}.yaml"
        path.write_text(text)
        result = schema(path)
        assert result.returncode == 0, f"{label}: {result.stdout}{result.stderr}"
        assert "Valid cloud-config" in result.stdout
        assert len(text.encode()) < USER_DATA_LIMIT, f"{label}: {len(text.encode())} bytes"
        seen.append(label)
    assert seen == [
        "prod:rhizome:vps",
        "prod:hypha:hetzner_cloud",
        "prod:pando:vps",
        "alpha:alpha:vps",
        "alpha:alpha:hetzner_cloud",
    ]


@pytest.mark.parametrize(
    "breakage, message",
    [
        # a plausible typo: British spelling of ssh_authorized_keys
        (lambda t: t.replace("ssh_authorized_keys:", "ssh_authorised_keys:"), "users.0"),
        (lambda t: t.replace("lock_passwd: true", "lock_passwd: maybe"), "users.0"),
        (lambda t: t.replace("packages: [", "packages: ", 1).replace("docker-compose-v2]", "x"), "packages"),
        (lambda t: t.removeprefix("#cloud-config\n"), "#cloud-config"),
    ],
)
def test_cloud_init_schema_rejects_broken_user_data(load_config, tmp_path, breakage, message):
    cfg = load_config("prod")
    good = render_user_data(cfg.hosts["hypha"], cfg.admins, cfg.environment)
    broken = breakage(good)
    assert broken != good
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    result = schema(path)
    assert result.returncode == 1
    assert message in result.stdout + result.stderr


def test_user_data_stays_under_hetzner_limit_with_a_large_team(load_config):
    cfg = load_config("prod")
    key_line = cfg.admins[0].ssh_key
    team = tuple(Admin(f"admin{i}", key_line) for i in range(40))
    text = render_user_data(cfg.hosts["hypha"], team, "prod")
    assert text.count("name: admin") == 40
    assert len(text.encode()) < USER_DATA_LIMIT


def test_base_admins_get_sudo_and_only_their_own_keys(load_config):
    cfg = load_config("prod")
    doc = user_data(cfg.hosts["hypha"], cfg.admins)
    assert [(u["name"], u["ssh_authorized_keys"]) for u in doc["users"]] == [
        (a.name, [a.ssh_key]) for a in cfg.admins
    ]
    for u in doc["users"]:
        assert u["groups"] == ["sudo"] and u["lock_passwd"] is True
        assert u["sudo"] == "ALL=(ALL) NOPASSWD:ALL"
    assert "default" not in doc["users"]  # no distribution user (ubuntu) with Hetzner's keys
    assert doc["disable_root"] is True and doc["ssh_pwauth"] is False
    sshd = next(f for f in doc["write_files"] if f["path"].startswith("/etc/ssh/sshd_config.d/"))
    assert "PermitRootLogin no\n" in sshd["content"] and "PasswordAuthentication no\n" in sshd["content"]
    # drop-ins are read in name order and the first value wins: ours before 50-cloud-init.conf
    assert Path(sshd["path"]).name < "50-cloud-init.conf"
    assert doc["timezone"] == "UTC"
    assert (doc["hostname"], doc["fqdn"]) == ("hypha", "hypha.social.coop")
    assert {"fail2ban", "unattended-upgrades"} <= set(doc["packages"])
    upgrades = next(f for f in doc["write_files"] if f["path"] == "/etc/apt/apt.conf.d/20auto-upgrades")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in upgrades["content"]


def test_parts_follow_the_roles(load_config):
    cfg = load_config("prod")
    hypha = user_data(cfg.hosts["hypha"], cfg.admins)  # coopcloud: base, docker, swarm
    rhizome = user_data(cfg.hosts["rhizome"], cfg.admins)  # mastodon: base, docker
    for doc in (hypha, rhizome):
        assert {"docker.io", "docker-compose-v2"} <= set(doc["packages"])
        assert [["usermod", "--append", "--groups", "docker", a.name] for a in cfg.admins] == [
            c for c in doc["runcmd"] if c[0] == "usermod"
        ]
    swarm = ["/usr/local/sbin/socialcoop-swarm-init"]
    assert swarm in hypha["runcmd"] and swarm not in rhizome["runcmd"]
    # docker must be running before the swarm is initialised
    assert hypha["runcmd"].index(["systemctl", "enable", "--now", "docker"]) < hypha["runcmd"].index(swarm)


def test_swarm_script_does_what_abra_expects_and_passes_shellcheck(load_config, tmp_path):
    cfg = load_config("prod")
    doc = user_data(cfg.hosts["hypha"], cfg.admins)
    script = next(f for f in doc["write_files"] if f["path"] == "/usr/local/sbin/socialcoop-swarm-init")
    assert script["permissions"] == "0755"
    assert 'docker swarm init --advertise-addr "$addr"' in script["content"]
    assert "docker network create -d overlay proxy" in script["content"]
    path = tmp_path / "swarm-init"
    path.write_text(script["content"])
    result = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_merge_concatenates_lists_and_rejects_conflicts():
    assert merge([{"packages": ["a"], "timezone": "UTC"}, {"packages": ["b"], "timezone": "UTC"}]) == {
        "packages": ["a", "b"],
        "timezone": "UTC",
    }
    with pytest.raises(ValueError, match="timezone"):
        merge([{"timezone": "UTC"}, {"timezone": "Europe/Berlin"}])


def test_unknown_placeholder_is_a_template_error(load_config, tmp_path, monkeypatch):
    cfg = load_config("prod")
    (tmp_path / "base.yaml").write_text("#cloud-config\nhostname: '{{hostnmae}}'\n")
    monkeypatch.setattr(cloudinit, "TEMPLATES", tmp_path)
    with pytest.raises(ValueError, match="hostnmae"):
        user_data(cfg.hosts["hypha"], cfg.admins, parts=["base"])


def test_rendering_without_admins_is_refused(load_config):
    cfg = load_config("prod")
    with pytest.raises(ValueError, match="admin"):
        render_user_data(cfg.hosts["hypha"], (), "prod")


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_script_passes_shellcheck():
    result = subprocess.run(["shellcheck", str(BOOTSTRAP_SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_bootstrap_config_carries_the_same_users_and_files_as_base(load_config):
    cfg = load_config("prod")
    host = cfg.hosts["rhizome"]
    lines = render_bootstrap_config(host, cfg.admins).splitlines()
    base = user_data(host, cfg.admins, parts=["base"])
    assert [ln.removeprefix("admin ") for ln in lines if ln.startswith("admin ")] == [
        f"{a.name} {a.ssh_key}" for a in cfg.admins
    ]
    files = {}
    for ln in lines:
        if ln.startswith("file "):
            _, path, mode, _reload, content = ln.split(" ")
            files[path] = (mode, base64.b64decode(content).decode())
    assert files == {f["path"]: (f["permissions"], f["content"]) for f in base["write_files"]}
    assert [ln for ln in lines if ln.startswith("package ")] == [f"package {p}" for p in base["packages"]]
    assert "hostname rhizome" in lines and "fqdn rhizome.social.coop" in lines


def test_bootstrap_digest_changes_exactly_when_the_upload_changes(load_config):
    cfg = load_config("prod")
    host = cfg.hosts["rhizome"]
    conf = render_bootstrap_config(host, cfg.admins)
    digest = bootstrap_digest(conf)
    assert digest == bootstrap_digest(render_bootstrap_config(host, cfg.admins))  # stable
    # not part of what is uploaded: address, provider, price, host key
    moved = dataclasses.replace(
        host, vps=dataclasses.replace(host.vps, ipv4="192.0.2.99", provider="elsewhere", ssh_host_key=None)
    )
    assert bootstrap_digest(render_bootstrap_config(moved, cfg.admins)) == digest
    new_key = (cfg.admins[0], dataclasses.replace(cfg.admins[1], ssh_key=cfg.admins[0].ssh_key))
    assert bootstrap_digest(render_bootstrap_config(host, new_key)) != digest
    renamed = dataclasses.replace(host, fqdn="rhizome2.social.coop")
    assert bootstrap_digest(render_bootstrap_config(renamed, cfg.admins)) != digest
    assert bootstrap_digest(conf, script=BOOTSTRAP_SCRIPT.read_text() + "# edit\n") != digest


# A stand-in for the system commands bootstrap.sh calls. State lives in files under
# $SOCIALCOOP_ROOT (so "changes nothing" can be checked on the tree); every call is
# logged outside it.
STUB = textwrap.dedent(
    """\
    import os, sys
    root = os.environ["SOCIALCOOP_ROOT"]
    cmd, args = os.environ["STUB_CMD"], sys.argv[1:]
    with open(os.environ["STUB_LOG"], "a") as log:
        log.write(" ".join([cmd, *args]) + "\\n")

    def lines(rel):
        path = os.path.join(root, rel)
        return open(path).read().splitlines() if os.path.exists(path) else []

    def write(rel, items):
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "w") as f:
            f.write("".join(i + "\\n" for i in items))

    def join_group(user, group):
        rows = [r.split(":") for r in lines("etc/group")]
        for r in rows:
            if r[0] == group:
                members = [m for m in r[3].split(",") if m]
                r[3] = ",".join(members + [user])
        write("etc/group", [":".join(r) for r in rows])

    if cmd == "getent":
        db, name = args
        hits = [r for r in lines("etc/" + db) if r.split(":")[0] == name]
        print(*hits) if hits else sys.exit(2)
    elif cmd == "useradd":
        name, shell, groups = args[-1], args[args.index("--shell") + 1], args[args.index("--groups") + 1]
        write("etc/passwd", lines("etc/passwd") + [f"{name}:x:1000:1000::/home/{name}:{shell}"])
        os.makedirs(os.path.join(root, "home", name))
        for g in groups.split(","):
            join_group(name, g)
    elif cmd == "usermod":
        join_group(args[-1], args[args.index("--groups") + 1])
    elif cmd == "dpkg-query":
        if args[-1] not in lines("var/lib/stub/installed"):
            sys.exit(1)
        print("install ok installed", end="")
    elif cmd == "apt-get":
        if "install" in args:
            pkgs = [a for a in args[args.index("install") + 1 :] if not a.startswith("-")]
            write("var/lib/stub/installed", lines("var/lib/stub/installed") + pkgs)
    elif cmd == "systemctl":
        verb, svc = args[0], args[-1]
        if verb in ("is-enabled", "is-active"):
            sys.exit(0 if svc in lines("var/lib/stub/enabled") else 3)
        if verb == "enable":
            write("var/lib/stub/enabled", lines("var/lib/stub/enabled") + [svc])
    elif cmd == "hostname":
        if args:
            write("var/lib/stub/hostname", args)
        else:
            print((lines("var/lib/stub/hostname") or ["localhost"])[0])
    # visudo, sshd and chown: nothing to record beyond the call
    """
)
COMMANDS = (
    "getent",
    "useradd",
    "usermod",
    "dpkg-query",
    "apt-get",
    "systemctl",
    "hostname",
    "visudo",
    "sshd",
    "chown",
)
READ_ONLY = ("getent", "dpkg-query", "systemctl is-", "hostname\n", "visudo", "sshd -t")


@pytest.fixture
def sandbox(tmp_path):
    """A fake root with a Debian-ish /etc, and PATH stubs for the system commands."""
    root, bin_ = tmp_path / "root", tmp_path / "bin"
    bin_.mkdir()
    stub = bin_ / "stub.py"
    stub.write_text(STUB)
    for cmd in COMMANDS:
        wrapper = bin_ / cmd
        wrapper.write_text(f'#!/bin/sh\nSTUB_CMD={cmd} exec "{sys.executable}" "{stub}" "$@"\n')
        wrapper.chmod(0o755)
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\nsudo:x:27:\n")
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 old-name\n")
    (root / "usr/share/zoneinfo").mkdir(parents=True)
    (root / "usr/share/zoneinfo/UTC").write_text("TZif\n")
    env = {
        **os.environ,
        "PATH": f"{bin_}:{os.environ['PATH']}",
        "SOCIALCOOP_ROOT": str(root),
        "STUB_LOG": str(tmp_path / "calls.log"),
    }

    def run(conf: str) -> tuple[str, list[str]]:
        (tmp_path / "calls.log").write_text("")
        (tmp_path / "bootstrap.conf").write_text(conf)
        result = subprocess.run(
            ["bash", str(BOOTSTRAP_SCRIPT), str(tmp_path / "bootstrap.conf")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        calls = (tmp_path / "calls.log").read_text().splitlines()
        return result.stdout, [c for c in calls if not (c + "\n").startswith(READ_ONLY)]

    return root, run


def tree(root: Path) -> dict[str, tuple]:
    """Every path under root with its content (or link target) and mode."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_file():
            out[rel] = (hashlib.sha256(p.read_bytes()).hexdigest(), oct(p.stat().st_mode & 0o7777))
        else:
            out[rel] = ("dir", oct(p.stat().st_mode & 0o7777))
    return out


def test_bootstrap_second_run_changes_nothing(load_config, sandbox):
    root, run = sandbox
    cfg = load_config("prod")
    conf = render_bootstrap_config(cfg.hosts["rhizome"], cfg.admins)

    out, mutations = run(conf)
    # the first run really did the work (so the second run's silence means something)
    assert (root / "home/alice/.ssh/authorized_keys").read_text() == cfg.admins[0].ssh_key + "\n"
    assert oct((root / "home/alice/.ssh/authorized_keys").stat().st_mode & 0o777) == "0o600"
    assert oct((root / "home/alice/.ssh").stat().st_mode & 0o777) == "0o700"
    assert "alice,bob" in (root / "etc/group").read_text()
    assert (root / "etc/sudoers.d/90-socialcoop-admins").read_text() == (
        "alice ALL=(ALL) NOPASSWD:ALL\nbob ALL=(ALL) NOPASSWD:ALL\n"
    )
    assert "PermitRootLogin no" in (root / "etc/ssh/sshd_config.d/10-socialcoop.conf").read_text()
    assert (root / "etc/hosts").read_text() == "127.0.0.1 localhost\n127.0.1.1 rhizome.social.coop rhizome\n"
    assert (root / "etc/hostname").read_text() == "rhizome\n"
    assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/UTC"
    assert "apt-get install -y -q fail2ban python3-systemd unattended-upgrades" in mutations
    assert "systemctl enable --now fail2ban" in mutations
    assert "systemctl try-reload-or-restart ssh" in mutations  # sshd drop-in changed
    assert "useradd --create-home --shell /bin/bash --groups sudo alice" in mutations

    before = tree(root)
    out, mutations = run(conf)
    assert mutations == []
    assert tree(root) == before
    assert "done, 0 change(s)" in out


def test_bootstrap_rerun_changes_only_what_changed(load_config, sandbox):
    root, run = sandbox
    cfg = load_config("prod")
    run(render_bootstrap_config(cfg.hosts["rhizome"], cfg.admins))
    before = tree(root)
    new_key = (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKEFAK bob@new-laptop"
    )
    admins = (cfg.admins[0], dataclasses.replace(cfg.admins[1], ssh_key=new_key))
    out, mutations = run(render_bootstrap_config(cfg.hosts["rhizome"], admins))
    after = tree(root)
    assert [p for p in after if after[p] != before.get(p)] == ["home/bob/.ssh/authorized_keys"]
    assert (root / "home/bob/.ssh/authorized_keys").read_text() == new_key + "\n"
    assert mutations == ["chown bob: " + str(root / "home/bob/.ssh/authorized_keys")]
    assert "done, 1 change(s)" in out


def test_bootstrap_refuses_a_config_without_admins(tmp_path):
    conf = tmp_path / "bootstrap.conf"
    conf.write_text("hostname x\nfqdn x.social.coop\n")
    result = subprocess.run(
        ["bash", str(BOOTSTRAP_SCRIPT), str(conf)],
        env={**os.environ, "SOCIALCOOP_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "no admin" in result.stderr


def test_rendered_templates_are_plain_yaml_per_concern():
    for part in ("base", "docker", "swarm"):
        text = (cloudinit.TEMPLATES / f"{part}.yaml").read_text()
        assert text.startswith("#cloud-config\n")
        assert isinstance(yaml.safe_load(text), dict)
