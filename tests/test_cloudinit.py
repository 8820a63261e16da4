"""cloud-init rendering and the SSH bootstrap script: pure functions and real validators.

User-data is checked with Debian's `cloud-init schema` (22.4: exit 0 and "Valid
cloud-config" when valid, exit 1 with the errors otherwise); shell with `shellcheck`.
Both must be installed (tools/system-packages.sh): a missing validator fails, not skips.
The host firewall is checked with `nft -c` (nftables). What these files do on a real
machine is tested in tests/target/ (`make test-target`, a booted Debian 12).
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from components.hosts import cloudinit
from components.hosts.cloudinit import (
    BOOTSTRAP_SCRIPT,
    USER_DATA_LIMIT,
    bootstrap_digest,
    merge,
    render_bootstrap_config,
    render_user_data,
    user_data,
)
from components.hosts.models import Admin
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


@pytest.mark.slow
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


@pytest.mark.slow
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
    team = tuple(Admin(name=f"admin{i}", ssh_key=key_line) for i in range(40))
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
    base = user_data(host, cfg.admins, parts=list(cloudinit.BOOTSTRAP_PARTS))
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
    assert "service socialcoop-firewall" in lines and "service fail2ban" in lines
    reload = {ln.split(" ")[1]: ln.split(" ")[3] for ln in lines if ln.startswith("file ")}
    assert reload["/etc/ssh/sshd_config.d/10-socialcoop.conf"] == "ssh"  # validated by sshd -t first
    assert reload["/etc/socialcoop/firewall.nft"] == "socialcoop-firewall"


def test_sshd_allows_exactly_the_admin_group_and_follows_ssh_port(load_config):
    cfg = load_config("prod")
    host = cfg.hosts["rhizome"].model_copy(update={"ssh_port": 2222})
    doc = user_data(host, cfg.admins)
    drop_in = next(f["content"] for f in doc["write_files"] if f["path"].startswith("/etc/ssh/"))
    options = dict(line.split(" ", 1) for line in drop_in.splitlines() if not line.startswith("#"))
    assert options["AllowGroups"].split() == doc["users"][0]["groups"]
    assert options["Port"] == "2222"
    assert "port = 2222" in next(f["content"] for f in doc["write_files"] if "fail2ban" in f["path"])
    for option in ("KexAlgorithms", "Ciphers", "MACs"):
        assert not any(weak in options[option] for weak in ("sha1", "umac-64", "cbc")), option


def test_root_authorized_keys_message_names_no_user(load_config):
    doc = user_data(load_config("prod").hosts["hypha"], load_config("prod").admins)
    assert "NONE" not in doc["disable_root_opts"] and "your own admin account" in doc["disable_root_opts"]
    assert doc["disable_root_opts"].startswith("no-port-forwarding,")


def test_runcmd_failures_are_visible_to_cloud_init(load_config):
    cfg = load_config("prod")
    doc = yaml.safe_load(render_user_data(cfg.hosts["hypha"], cfg.admins, "prod"))
    assert doc["runcmd"][0] == "set -ex"  # the first failing command stops the script, each is logged
    assert doc["runcmd"][-1] == cloudinit.RUNCMD_LAST  # and a failed unit fails it
    assert "systemctl --failed" in doc["runcmd"][-1][2]


def test_host_firewall_has_the_cloud_firewalls_rules_and_nft_accepts_it(load_config, tmp_path):
    from components.hosts.hetzner_server import firewall_rules

    cfg = load_config("prod")
    hypha = cfg.hosts["hypha"]
    rules = firewall_rules(hypha.hetzner, hypha.ssh_port)
    doc = user_data(hypha, cfg.admins, parts=list(cloudinit.BOOTSTRAP_PARTS))
    nft = next(f["content"] for f in doc["write_files"] if f["path"] == "/etc/socialcoop/firewall.nft")
    accepted = [line.strip() for line in nft.splitlines() if "dport" in line]
    assert accepted == [
        f'{r["protocol"]} dport {r["port"]} accept comment "{r["description"]}"' for r in rules if "port" in r
    ]
    assert "meta l4proto icmp accept" in nft and "meta l4proto icmpv6 accept" in nft
    assert "table inet socialcoop" in nft and "policy drop" in nft
    (tmp_path / "firewall.nft").write_text(nft)
    result = subprocess.run(
        ["nft", "-c", "-f", str(tmp_path / "firewall.nft")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_bootstrap_digest_changes_exactly_when_the_upload_changes(load_config):
    cfg = load_config("prod")
    host = cfg.hosts["rhizome"]
    conf = render_bootstrap_config(host, cfg.admins)
    digest = bootstrap_digest(conf)
    assert digest == bootstrap_digest(render_bootstrap_config(host, cfg.admins))  # stable
    # not part of what is uploaded: address, provider, price, host key
    moved = host.model_copy(
        update={
            "vps_": host.vps.model_copy(
                update={"ipv4": "192.0.2.99", "provider": "elsewhere", "ssh_host_key": None}
            )
        }
    )
    assert bootstrap_digest(render_bootstrap_config(moved, cfg.admins)) == digest
    new_key = (cfg.admins[0], cfg.admins[1].model_copy(update={"ssh_key": cfg.admins[0].ssh_key}))
    assert bootstrap_digest(render_bootstrap_config(host, new_key)) != digest
    renamed = host.model_copy(update={"fqdn": "rhizome2.social.coop"})
    assert bootstrap_digest(render_bootstrap_config(renamed, cfg.admins)) != digest
    assert bootstrap_digest(conf, script=BOOTSTRAP_SCRIPT.read_text() + "# edit\n") != digest


# bootstrap.sh's behaviour on a real machine (convergence, reloads, firewall, removed admins,
# a second run changing nothing) is tested in tests/target/ (`make test-target`).


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
