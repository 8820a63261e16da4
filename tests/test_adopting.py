"""Two-phase adoption (`adopting`, docs/adoption.md), read from the offline plan's options.

Phase 1 (`adopting: true`, the committed prod stack): every imported resource ignores its
convergeable properties, so the import takes the real values; created resources ignore
nothing extra. Phase 2 (`adopting: false`): nothing extra is ignored, so the preview shows
the in-place updates. Properties that identify a resource are never ignored.
"""

from __future__ import annotations

import re

import pulumi_cloudflare as cloudflare
import pulumi_digitalocean as digitalocean
import pulumi_hcloud as hcloud
import pytest
import yaml

from components.core.protection import Protection, child_opts
from tests.conftest import key, stack_doc
from tools.review import plan as plan_tool
from tools.review import program, stackfile

DNS = "cloudflare:index/dnsRecord:DnsRecord"
SERVER = "hcloud:index/server:Server"
PRIMARY_IP = "hcloud:index/primaryIp:PrimaryIp"
FIREWALL = "hcloud:index/firewall:Firewall"
SSH_KEY = "hcloud:index/sshKey:SshKey"
VOLUME = "hcloud:index/volume:Volume"
BUCKET = "digitalocean:index/spacesBucket:SpacesBucket"
CORS = "digitalocean:index/spacesBucketCorsConfiguration:SpacesBucketCorsConfiguration"

# The spec, written out independently of the components' lists: what each imported type
# keeps as it is while adopting (all changed in place by its provider later) ...
CONVERGE = {
    SSH_KEY: {"name", "labels"},
    PRIMARY_IP: {"name", "labels", "autoDelete", "deleteProtection"},
    FIREWALL: {"name", "labels", "rules"},
    # keepDisk, shutdownBeforeDeletion, ignoreRemoteFirewallIds: provider-side settings the
    # provider's read doesn't return, so an import would see null against their defaults
    SERVER: {"name", "labels", "backups", "firewallIds", "deleteProtection", "rebuildProtection"}
    | {"keepDisk", "shutdownBeforeDeletion", "ignoreRemoteFirewallIds"},
    VOLUME: {"name", "labels", "deleteProtection"},
    DNS: {"ttl", "proxied", "comment"},
    BUCKET: {"acl", "lifecycleRules", "versioning", "forceDestroy"},
    CORS: {"corsRules"},  # the live rules stay until phase 2 shows their replacement
}
# TXT records made in Cloudflare's dashboard since late 2024 hold their text quoted: the import
# takes it as it is, and tools.adopt.import_ids has already compared it, quotes stripped, with ours.
TXT_CONVERGE = {"content"}
# What an imported server ignores in both phases: the provider never reads public_net back
# (hetznercloud/terraform-provider-hcloud#1381), and an update of it powers the server off and
# unassigns its primary IP.
IMPORTED_ALWAYS = {SERVER: {"publicNets"}}
# ... what prod always ignores (creation-time only: a change would replace the server) ...
CREATION_ONLY = {SERVER: {"userData", "image", "sshKeys"}}
# ... and what must match reality when importing, never ignored (a change replaces).
IDENTITY = {
    DNS: {"zoneId", "name", "type", "content"},
    SERVER: {"location", "serverType"},
    PRIMARY_IP: {"type", "location", "assigneeType"},
    SSH_KEY: {"publicKey"},
    VOLUME: {"location", "size", "format"},
    BUCKET: {"name", "region"},
    CORS: {"bucket", "region"},
}
ARGS = {
    DNS: cloudflare.DnsRecordArgs,
    SERVER: hcloud.ServerArgs,
    PRIMARY_IP: hcloud.PrimaryIpArgs,
    FIREWALL: hcloud.FirewallArgs,
    SSH_KEY: hcloud.SshKeyArgs,
    VOLUME: hcloud.VolumeArgs,
    BUCKET: digitalocean.SpacesBucketArgs,
    CORS: digitalocean.SpacesBucketCorsConfigurationArgs,
}
CAROL_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + "C" * 43 + " carol@placeholder"  # a fake
NEW = {"admin-keys-carol", "social-coop-files-cname"}  # created by extend()


def extend(c: dict) -> None:
    """prod plus an imported volume, and a new admin key and DNS record (created, not imported)."""
    hetzner = c[key("hosts")]["hypha"]["hetzner_cloud"]
    hetzner["volume"] = {"size_gb": 50}
    hetzner["import"]["volume"] = "0000000007"
    c[key("admins")].append({"name": "carol", "ssh_key": CAROL_KEY})
    c[key("dns")]["records"]["files"] = [{"type": "CNAME", "value": "cdn.example.org"}]


def plan_of(tmp_path_factory, *mutations) -> program.Plan:
    doc = stack_doc("prod")
    for mutate in mutations:
        mutate(doc["config"])
    path = tmp_path_factory.mktemp("adopting") / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return program.plan_stack("prod", str(path))


def converged(c: dict) -> None:
    c[key("adopting")] = False


@pytest.fixture(scope="module")
def adopting(tmp_path_factory) -> program.Plan:
    return plan_of(tmp_path_factory, extend)


@pytest.fixture(scope="module")
def after(tmp_path_factory) -> program.Plan:
    return plan_of(tmp_path_factory, extend, converged)


def custom(plan: program.Plan) -> list[program.PlannedResource]:
    return [r for r in plan.resources if r.custom]


def ignored(r: program.PlannedResource) -> set[str]:
    assert len(r.options["ignore_changes"]) == len(set(r.options["ignore_changes"])), r.name
    return set(r.options["ignore_changes"])


def test_committed_prod_stack_is_before_its_first_adoption():
    assert stack_doc("prod")["config"][key("adopting")] is True
    assert stackfile.read_stack("prod").config().adopting is True
    assert stackfile.read_stack("alpha").config().adopting is False  # the default


def test_while_adopting_imported_resources_ignore_their_convergeable_properties(adopting):
    imported = [r for r in custom(adopting) if r.options["import"]]
    assert len(imported) >= 30 and set(CONVERGE) == {r.type for r in imported}  # every type, not vacuous
    for r in imported:
        txt = TXT_CONVERGE if r.type == DNS and r.inputs.get("type") == "TXT" else set()
        want = CONVERGE[r.type] | CREATION_ONLY.get(r.type, set()) | IMPORTED_ALWAYS.get(r.type, set()) | txt
        assert ignored(r) == want, r.name


def test_while_adopting_created_resources_ignore_nothing_extra(adopting):
    created = [r for r in custom(adopting) if not r.options["import"]]
    assert {r.name for r in created} >= NEW
    for r in created:
        assert ignored(r) == CREATION_ONLY.get(r.type, set()), r.name


def test_after_adoption_only_the_creation_time_properties_are_ignored(after, adopting):
    assert [r.options["import"] for r in custom(after)] == [r.options["import"] for r in custom(adopting)]
    assert any(r.type == SERVER for r in custom(after))
    for r in custom(after):
        always = IMPORTED_ALWAYS.get(r.type, set()) if r.options["import"] else set()
        assert ignored(r) == CREATION_ONLY.get(r.type, set()) | always, r.name
        assert r.options["retain_on_delete"] == bool(r.options["import"]), r.name


@pytest.mark.parametrize("which", ["adopting", "after"])
def test_identity_properties_are_never_ignored(which, request):
    plan = request.getfixturevalue(which)
    checked = set()
    for r in custom(plan):
        identity = IDENTITY.get(r.type, set()) - (TXT_CONVERGE if r.inputs.get("type") == "TXT" else set())
        assert not ignored(r) & identity, r.name
        checked.add(r.type)
    assert set(IDENTITY) <= checked


def test_convergeable_properties_are_real_inputs_of_their_type():
    for rtype, props in {**CONVERGE, **IDENTITY}.items():
        for prop in props:
            snake = re.sub(r"(?<!^)([A-Z])", r"_\1", prop).lower()
            assert isinstance(getattr(ARGS[rtype], snake, None), property), (rtype, prop)


def test_adopting_outside_prod_is_a_config_error(config_error, load_config):
    err = config_error("alpha", lambda c: c.update({key("adopting"): True}))
    assert err.path == "adopting"
    assert "socialcoop-infra:adopting = true: allowed only when environment is prod" in str(err)
    assert load_config("alpha", lambda c: c.update({key("adopting"): False})).adopting is False
    assert load_config("prod", lambda c: c.update({key("adopting"): "false"})).adopting is False


def test_plan_tree_shows_the_ignore_lists(adopting, after):
    def line(plan, name):
        (found,) = [s for s in plan_tool.render_tree(plan).splitlines() if f"─ {name}  (" in s]
        return found

    assert "ignore ttl,proxied,comment]" in line(adopting, "social-coop-apex-a")
    assert "ignore name,labels,autoDelete,deleteProtection]" in line(adopting, "hypha-ipv4")
    assert "ignore" not in line(after, "social-coop-apex-a")
    assert "ignore userData,image,sshKeys,publicNets]" in line(after, "hypha-server")


@pytest.mark.parametrize(
    "policy, import_id, expected",
    [
        (Protection(protect=True, adopting=True), "42", ["userData", "name", "labels"]),
        (Protection(protect=True, adopting=True), None, ["userData", "name"]),
        (Protection(protect=True, adopting=False), "42", ["userData", "name"]),
        (Protection(protect=False, adopting=True), "42", ["userData", "name", "labels"]),
    ],
    ids=["imported", "created", "converged", "unprotected"],
)
def test_child_opts_merges_adopt_ignore_without_duplicates(policy, import_id, expected):
    opts = child_opts(
        policy,
        None,
        stateful=True,
        import_id=import_id,
        adopt_ignore=("name", "labels"),
        ignore_changes=["userData", "name"],
    )
    assert opts.ignore_changes == expected
    assert (opts.protect, opts.retain_on_delete) == (policy.protect, policy.protect and import_id is not None)
    assert child_opts(policy, None, stateful=False, import_id=None).ignore_changes is None


def test_protection_comes_from_the_stack_config(load_config):
    assert Protection.of(load_config("prod")) == Protection(protect=True, adopting=True)
    assert Protection.of(load_config("alpha")) == Protection(protect=False, adopting=False)
    with pytest.raises(AttributeError):
        Protection(protect=True).protect = False  # type: ignore[misc]  # frozen, as the checker says too: no component can change the policy
