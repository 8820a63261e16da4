"""Hosts: HetznerServer, VpsHost, AdminKeys, the host outputs and the host config rules.

Whole-stack checks use the offline plan (real stack files, captured options); the
bootstrap connection is checked on a VpsHost built under the mocks, with its raw
inputs captured by a stack transformation (mocks only see secrets as "[secret]").
"""

from __future__ import annotations

import json

import pulumi
import pytest
import yaml

from components.core.errors import Secret
from components.core.protection import Protection
from components.hosts.cloudinit import bootstrap_digest, render_bootstrap_config
from components.hosts.inventory import render_inventory
from components.hosts.vps_host import VpsHost, VpsHostArgs
from tests.conftest import key, stack_doc

ANY = ["0.0.0.0/0", "::/0"]
SERVER_CHILDREN = ("server", "firewall", "ipv4", "ipv6", "ptr-ipv4", "ptr-ipv6")


def by_name(plan):
    return {r.name: r for r in plan.resources}


def of_type(plan, short):
    return [r for r in plan.resources if r.type.endswith(f":{short}")]


def hetzner_alpha(c):
    c[key("hosts")]["alpha"]["kind"] = "hetzner_cloud"  # the one-line switch


def rules(r):
    return [
        (x["direction"], x["protocol"], x.get("port"), x["sourceIps"], x["description"])
        for x in r.inputs["rules"]
    ]


# --------------------------------------------------------------------------- Hetzner Cloud


def test_firewall_allows_only_ssh_http_https_icmp(plan):
    fw = by_name(plan("prod"))["hypha-firewall"]
    assert rules(fw) == [
        ("in", "tcp", "22", ANY, "SSH"),
        ("in", "tcp", "80", ANY, "HTTP"),
        ("in", "tcp", "443", ANY, "HTTPS"),
        ("in", "icmp", None, ANY, "ICMP (ping, path MTU)"),
    ]
    assert fw.parent == "hypha"


def test_extra_ports_are_added_with_their_reason(plan):
    def mutate(c):
        c[key("hosts")]["hypha"]["hetzner_cloud"]["extra_ports"] = [
            {"port": 2222, "reason": "Forgejo git over SSH"},
            {"port": 3478, "protocol": "udp", "reason": "TURN for calls"},
        ]

    fw = by_name(plan("prod", mutate))["hypha-firewall"]
    assert rules(fw)[4:] == [
        ("in", "tcp", "2222", ANY, "Forgejo git over SSH"),
        ("in", "udp", "3478", ANY, "TURN for calls"),
    ]


def test_server_is_built_from_config_with_its_own_addresses(plan):
    p = plan("prod")
    r = by_name(p)
    server = r["hypha-server"].inputs
    assert (server["serverType"], server["image"], server["location"]) == ("cpx32", "ubuntu-22.04", "fsn1")
    assert server["backups"] is True
    assert server["labels"] == {"stack": "prod", "role": "coopcloud"}
    assert server["userData"].startswith("#cloud-config\n")
    for version in ("ipv4", "ipv6"):
        ip = r[f"hypha-{version}"].inputs
        assert ip["type"] == version
        # issue 13 f: assigneeType without assigneeId makes the hcloud provider warn
        assert ip["autoDelete"] is False and "assigneeType" not in ip and "assigneeId" not in ip
        assert ip["location"] == server["location"]
        assert ip["labels"] == {"stack": "prod", "role": "coopcloud"}
    [net] = server["publicNets"]
    assert net["ipv4Enabled"] and net["ipv6Enabled"]
    # attached by id: the same primary IPs the reverse DNS is set on
    assert net["ipv4"] == r["hypha-ptr-ipv4"].inputs["primaryIpId"]
    assert net["ipv6"] == r["hypha-ptr-ipv6"].inputs["primaryIpId"]
    assert net["ipv4"] != net["ipv6"]
    assert len(server["firewallIds"]) == 1
    assert {x.parent for x in p.resources if x.name.startswith("hypha-")} == {"hypha"}


def test_reverse_dns_for_both_addresses_points_at_the_fqdn(plan):
    p = plan("prod")
    ptrs = {r.name: r.inputs for r in of_type(p, "Rdns")}
    hosts = p.outputs["hosts"]
    assert ptrs == {
        "hypha-ptr-ipv4": {
            "dnsPtr": "hypha.social.coop",
            "ipAddress": hosts["hypha"]["ipv4"],
            "primaryIpId": ptrs["hypha-ptr-ipv4"]["primaryIpId"],
        },
        "hypha-ptr-ipv6": {
            "dnsPtr": "hypha.social.coop",
            "ipAddress": hosts["hypha"]["ipv6"],
            "primaryIpId": ptrs["hypha-ptr-ipv6"]["primaryIpId"],
        },
    }
    # the server's IPv6 is the first address of its /64, not the network address
    assert hosts["hypha"]["ipv6"].endswith("::1")
    assert ptrs["hypha-ptr-ipv4"]["primaryIpId"] != ptrs["hypha-ptr-ipv6"]["primaryIpId"]


def test_same_admin_keys_in_hetzner_and_cloud_init(plan):
    p = plan("prod")
    keys = of_type(p, "SshKey")
    admins = p.stack.values["admins"]
    assert sorted(k.inputs["publicKey"] for k in keys) == sorted(a["ssh_key"] for a in admins)
    assert {k.parent for k in keys} == {"admin-keys"}
    user_data = yaml.safe_load(by_name(p)["hypha-server"].inputs["userData"])
    installed = [k for u in user_data["users"] for k in u["ssh_authorized_keys"]]
    assert sorted(installed) == sorted(k.inputs["publicKey"] for k in keys)
    assert len(by_name(p)["hypha-server"].inputs["sshKeys"]) == len(keys)


def test_admin_keys_only_with_a_hetzner_host(plan):
    assert of_type(plan("alpha"), "SshKey") == []
    assert len(of_type(plan("alpha", hetzner_alpha), "SshKey")) == 2


def test_prod_protects_server_addresses_and_volume(plan):
    def with_volume(c):
        c[key("hosts")]["hypha"]["hetzner_cloud"]["volume"] = {"size_gb": 50}
        c[key("adopting")] = False  # after adoption; while adopting: tests/test_adopting.py

    r = by_name(plan("prod", with_volume))
    server = r["hypha-server"]
    assert server.inputs["deleteProtection"] is True and server.inputs["rebuildProtection"] is True
    assert server.options["protect"] is True
    # + publicNets: the provider never reads it back, and updating it powers the server off
    assert set(server.options["ignore_changes"]) == {"userData", "image", "sshKeys", "publicNets"}
    for name in ("hypha-ipv4", "hypha-ipv6", "hypha-volume"):
        assert r[name].inputs["deleteProtection"] is True, name
        assert r[name].options["protect"] is True, name
    assert r["hypha-volume"].inputs["size"] == 50
    assert r["hypha-volume-attachment"].inputs["automount"] is True


def test_alpha_server_has_no_protection(plan):
    p = plan("alpha", hetzner_alpha)
    r = by_name(p)
    assert {f"alpha-{c}" for c in SERVER_CHILDREN} <= set(r)
    for res in p.resources:
        assert not res.options["protect"], res.name
        assert not res.options["retain_on_delete"], res.name
        assert not res.options["ignore_changes"], res.name
        assert res.inputs.get("deleteProtection") in (None, False), res.name
    assert r["alpha-server"].inputs["rebuildProtection"] is False
    assert r["alpha-server"].inputs["serverType"] == "cx23"


def test_adopted_ids_are_imported_and_retained(plan):
    ids = {"server": "1111", "firewall": "2222", "ipv4": "3333", "ipv6": "4444"}

    newcomer = {"name": "newcomer", "ssh_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + "N" * 43}  # a fake

    def mutate(c):  # whoever the committed admins are: the first adopted, one more not yet in the project
        c[key("hosts")]["hypha"]["hetzner_cloud"]["import"] = ids
        c[key("admins")][0]["hcloud_import"] = "5555"
        c[key("admins")][1:] = [newcomer]

    first = stack_doc("prod")["config"][key("admins")][0]["name"]
    r = by_name(plan("prod", mutate))
    for child, rid in ids.items():
        assert r[f"hypha-{child}"].options["import"] == rid
        assert r[f"hypha-{child}"].options["retain_on_delete"] is True
    assert r[f"admin-keys-{first}"].options["import"] == "5555"
    assert r["admin-keys-newcomer"].options["import"] is None


def test_both_kinds_plan_for_alpha(plan):
    vps, cloud = plan("alpha"), plan("alpha", hetzner_alpha)
    assert by_name(vps)["alpha"].type == "socialcoop:ssh:VpsHost"
    assert by_name(cloud)["alpha"].type == "socialcoop:hetzner:Server"
    assert vps.outputs["hosts"]["alpha"]["ipv4"] == "198.51.100.20"  # pando
    assert cloud.outputs["hosts"]["alpha"]["ipv4"] == by_name(cloud)["alpha-ptr-ipv4"].inputs["ipAddress"]
    assert of_type(vps, "Server") == []


# --------------------------------------------------------------------------- outputs


def test_host_outputs_and_inventory(plan):
    p = plan("prod")
    assert p.outputs["hosts"]["rhizome"] == {
        "fqdn": "rhizome.social.coop",
        "ipv4": "203.0.113.10",
        "ipv6": "2001:db8:10::2",
        "ssh": "ssh -p 22 <admin>@rhizome.social.coop",
    }
    inventory = yaml.safe_load(p.outputs["ansible_inventory"])
    groups = inventory["all"]["children"]
    assert {g: sorted(v["hosts"]) for g, v in groups.items()} == {
        "coopcloud": ["hypha"],
        "mastodon": ["rhizome"],
        "mastodon_staging": ["pando"],
    }
    assert groups["coopcloud"]["hosts"]["hypha"] == {
        "ansible_host": p.outputs["hosts"]["hypha"]["ipv4"],
        "ansible_port": 22,
        "fqdn": "hypha.social.coop",
    }
    assert "ansible_inventory" not in p.secret_outputs


def test_inventory_lists_a_host_in_each_of_its_roles(load_config):
    cfg = load_config("prod")
    host = cfg.hosts["rhizome"].model_copy(update={"roles": ("mastodon", "coopcloud"), "ssh_port": 2222})
    text = render_inventory({"rhizome": host}, {"rhizome": "192.0.2.1"})
    groups = yaml.safe_load(text)["all"]["children"]
    entry = {"ansible_host": "192.0.2.1", "ansible_port": 2222, "fqdn": "rhizome.social.coop"}
    assert groups == {"coopcloud": {"hosts": {"rhizome": entry}}, "mastodon": {"hosts": {"rhizome": entry}}}


# --------------------------------------------------------------------------- VPS bootstrap


def with_bootstrap(c):
    c[key("hosts")]["rhizome"]["vps"]["bootstrap"] = True
    c[key("bootstrap_ssh_key")] = {"secure": "v1:not-a-real-ciphertext"}


def test_vps_hosts_have_no_children_without_bootstrap(plan):
    p = plan("prod")
    assert [r.name for r in p.resources if r.parent in ("rhizome", "pando")] == []
    assert by_name(p)["rhizome"].type == "socialcoop:ssh:VpsHost"


def test_bootstrap_copies_then_runs_keyed_on_the_rendered_content(plan, load_config):
    p = plan("prod", with_bootstrap)
    r = by_name(p)
    cfg = load_config("prod", with_bootstrap)
    digest = bootstrap_digest(render_bootstrap_config(cfg.hosts["rhizome"], cfg.admins))
    names = ("rhizome-bootstrap-script", "rhizome-bootstrap-config", "rhizome-bootstrap")
    for name in names:
        assert r[name].parent == "rhizome"
        assert r[name].inputs["triggers"] == [digest]
        assert r[name].inputs["connection"] == "[secret]"
    assert r["rhizome-bootstrap-config"].inputs["remotePath"] == "/root/socialcoop-bootstrap/bootstrap.conf"
    assert r["rhizome-bootstrap"].inputs["create"] == (
        "bash /root/socialcoop-bootstrap/bootstrap.sh /root/socialcoop-bootstrap/bootstrap.conf"
    )


def test_bootstrap_trigger_follows_content_not_connection(plan):
    def trigger(mutate):
        return by_name(plan("prod", mutate))["rhizome-bootstrap"].inputs["triggers"]

    base = trigger(with_bootstrap)

    def moved(c):  # a new address or price uploads nothing new: no re-run
        with_bootstrap(c)
        c[key("hosts")]["rhizome"]["vps"].update(
            ipv4="192.0.2.77", monthly_price={"amount": 40, "currency": "EUR"}
        )

    def new_admin_key(c):  # content changes: re-run
        with_bootstrap(c)
        new_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMVnMQMojfqCshyOobpbupyrYQD8DhRAsEu/fuMPKNBz bob@new"
        c[key("admins")][1]["ssh_key"] = new_key

    assert trigger(moved) == base
    assert trigger(new_admin_key) != base


FAKE_PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nFAKE-KEY-FOR-TESTS\n-----END OPENSSH PRIVATE KEY-----\n"
)


@pulumi.runtime.test
def test_bootstrap_connection_pins_host_key_and_keeps_key_secret(pulumi_mocks, load_config):
    props: dict[str, dict] = {}

    def capture(args: pulumi.ResourceTransformationArgs):
        props[args.name] = dict(args.props)
        return None

    pulumi.runtime.register_stack_transformation(capture)
    cfg = load_config("prod", with_bootstrap)
    host = cfg.hosts["rhizome"]
    host = host.model_copy(update={"vps_": host.vps.model_copy(update={"bootstrap_user": "twg-bootstrap"})})
    vps = VpsHost(
        "rhizome", VpsHostArgs(host, cfg.admins, Protection(protect=True), Secret(FAKE_PRIVATE_KEY))
    )
    assert props["rhizome-bootstrap"]["create"].startswith("sudo -n bash /home/twg-bootstrap/")
    assert vps.addresses.ipv4 == "203.0.113.10"
    connection = props["rhizome-bootstrap"]["connection"]  # the SDK makes it all secret

    def check(args):
        conn, is_secret = args
        assert is_secret
        assert (conn.host, conn.port, conn.user) == ("203.0.113.10", 22, "twg-bootstrap")
        assert conn.host_key == host.vps.ssh_host_key  # pinned
        assert conn.private_key == FAKE_PRIVATE_KEY  # the secret is the whole connection
        sent = json.dumps([r.inputs for r in pulumi_mocks.resources.values()], default=str)
        assert "FAKE-KEY-FOR-TESTS" not in sent  # what the engine (state, previews, logs) gets

    return pulumi.Output.all(connection, connection.is_secret()).apply(check)


# --------------------------------------------------------------------------- config rules


def hetzner(c, **changes):
    c[key("hosts")]["hypha"]["hetzner_cloud"].update(changes)


@pytest.mark.parametrize(
    "mutate, path, words",
    [
        (lambda c: hetzner(c, server_type="cx999"), "hosts.hypha.hetzner_cloud.server_type", "cpx32"),
        (lambda c: hetzner(c, location="mars1"), "hosts.hypha.hetzner_cloud.location", "fsn1"),
        (lambda c: c.pop(key("admins")), "admins", "at least one admin"),
        (lambda c: c[key("admins")][1].pop("ssh_key"), "admins[1].ssh_key", "required"),
        (
            lambda c: hetzner(c, extra_ports=[{"port": 8448}]),
            "hosts.hypha.hetzner_cloud.extra_ports[0].reason",
            "required",
        ),
        (
            lambda c: hetzner(c, extra_ports=[{"port": 8448, "reason": "  "}]),
            "hosts.hypha.hetzner_cloud.extra_ports[0].reason",
            "say why",
        ),
        (
            lambda c: c[key("hosts")]["pando"].update(fqdn="rhizome.social.coop"),
            "hosts.pando.fqdn",
            "already used by host rhizome",
        ),
        (
            lambda c: c[key("hosts")]["pando"]["vps"].update(ipv4="203.0.113.10"),
            "hosts.pando.vps.ipv4",
            "already used by host rhizome",
        ),
    ],
    ids=[
        "server-type",
        "location",
        "no-admins",
        "admin-no-key",
        "port-no-reason",
        "port-blank-reason",
        "dup-fqdn",
        "dup-ip",
    ],
)
def test_bad_host_config_is_a_clean_error(config_error, mutate, path, words):
    err = config_error("prod", mutate)
    message = str(err)
    assert message.startswith(f"{err.source}: socialcoop-infra:") and err.source.endswith("Pulumi.prod.yaml")
    assert f"socialcoop-infra:{path} =" in message
    assert words in message
    assert "Traceback" not in message
