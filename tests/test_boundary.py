"""The boundary between the stacks (components/core/boundary.py), generally: whatever one committed
stack file declares (each bucket, host name, host fqdn, machine, DNS name), the other stack's
file may not claim it, and the loader and the policy pack refuse it alike. The boundary itself
can't be moved from a stack file, the other committed file is read robustly, and a stack file
holds no provider setting (an endpoint would send the stack's token elsewhere).

The claims are listed here from the committed files independently of components/core/boundary.py
(its own reading of them is what is under test).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import sys
from typing import Any

import pulumi
import pytest
import yaml

from components.core import boundary, config
from components.core.config import ConfigError
from components.core.stack import PROVIDER_SETTINGS, RETIRED
from components.core.types import fqdn_ok
from components.dns.records import fqdn, resolve
from tests.conftest import DUMPER, key, stack_doc
from tools.check.engine import REPO
from tools.review import plan as plan_tool
from tools.review import program, stackfile

sys.path.insert(0, str(REPO / "policy"))
import rules  # noqa: E402

ZONE = "social.coop"
OWN_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGYHwLX5ToFkpCSfVHZJPOq9swvRuO8EmxxXdwqqpHPe"  # fake
OWN_MACHINE = {"ipv4": "192.0.2.44", "ipv6": "2001:db8:44::2", "ssh_host_key": OWN_HOST_KEY}
SECRET = {"secure": "v1:AAAAfakeCiphertextNotReal000="}


def declared(stack: str) -> dict:
    """What a committed stack file declares, read here without components/core/boundary.py."""
    cfg = stack_doc(stack)["config"]
    hosts = cfg.get(key("hosts")) or {}
    loaded = stackfile.read_stack(stack).config()
    names = {fqdn(r.name, ZONE) for r in resolve(loaded)} | {h.fqdn for h in loaded.hosts.values()}
    names.add(loaded.instance_domain)
    vps = [h["vps"] for h in hosts.values() if h.get("vps")]
    return {
        "buckets": sorted((cfg.get(key("storage")) or {}).get("buckets") or {}),
        "hosts": sorted(hosts),
        "names": sorted(names),
        "addresses": sorted(v[k] for v in vps for k in ("ipv4", "ipv6") if v.get(k)),
        "host_keys": sorted(v["ssh_host_key"] for v in vps if v.get("ssh_host_key")),
        "shared": sorted(  # the addresses of the prod machines alpha may run on
            h["vps"][k]
            for name, h in hosts.items()
            if name in boundary.ALPHA_RUNS_ON and h.get("vps")
            for k in ("ipv4", "ipv6")
            if h["vps"].get(k)
        ),
    }


PROD, ALPHA = declared("prod"), declared("alpha")


def relative(name: str) -> str:
    return "@" if name == ZONE else name.removesuffix(f".{ZONE}")


def refused(config_error, stack, mutate, path=None):
    e = config_error(stack, mutate)
    assert boundary.HERE in e.allowed, str(e)
    if path is not None:
        assert e.path == path, str(e)
    return e


# --------------------------------------------------------------------------- alpha claiming prod's


def alpha_host(c) -> dict:
    return c[key("hosts")]["alpha"]


def alpha_bucket_renamed(name):
    def mutate(c):
        buckets = c[key("storage")]["buckets"]
        buckets[name] = buckets.pop("alpha-social-coop-media")

    return mutate


@pytest.mark.parametrize("bucket", PROD["buckets"])
def test_alpha_may_not_declare_a_bucket_prod_declares(config_error, bucket):
    refused(config_error, "alpha", alpha_bucket_renamed(bucket), f"storage.buckets.{bucket}")
    second = lambda c: c[key("storage")]["buckets"].update({bucket: {}})  # noqa: E731
    refused(config_error, "alpha", second, f"storage.buckets.{bucket}")


@pytest.mark.parametrize("host", PROD["hosts"])
def test_alpha_may_not_name_a_host_as_prod_does(config_error, load_config, host):
    def rename(c, to):
        c[key("hosts")][to] = {**c[key("hosts")].pop("alpha"), "fqdn": f"{to}.alpha.social.coop"}
        for record in c[key("dns")]["records"]["alpha"]:
            record["host"] = to

    refused(config_error, "alpha", lambda c: rename(c, host), f"hosts.{host}")
    assert "staging" in load_config("alpha", lambda c: rename(c, "staging")).hosts  # a name of its own


@pytest.mark.parametrize("name", PROD["names"])
def test_alpha_may_not_give_a_name_prod_has(config_error, name):
    """As any record; and when it is a host name, as a host's fqdn, its instance, a bucket alias."""
    if fqdn_ok(name):
        refused(config_error, "alpha", lambda c: alpha_host(c).update(fqdn=name), "hosts.alpha.fqdn")
        refused(config_error, "alpha", lambda c: c.update({key("instance_domain"): name}), "instance_domain")
        alias = lambda c: c[key("storage")]["buckets"]["alpha-social-coop-media"].update(alias_host=name)  # noqa: E731
        refused(config_error, "alpha", alias, "storage.buckets.alpha-social-coop-media.alias_host")
    txt = {"type": "TXT", "value": "claimed"}
    e = refused(config_error, "alpha", lambda c: c[key("dns")]["records"].update({relative(name): [txt]}))
    assert e.value == name


def bootstrap(**machine):
    def mutate(c):
        c[key("bootstrap_ssh_key")] = SECRET
        alpha_host(c)["vps"].update({**OWN_MACHINE, **machine, "bootstrap": True})

    return mutate


def spellings(address: str) -> list[str]:
    a = ipaddress.ip_address(address)
    return [address] if a.version == 4 else [address, a.exploded, address.upper()]


@pytest.mark.parametrize("address", PROD["addresses"])
def test_alpha_may_not_bootstrap_a_machine_at_an_address_prod_declares(config_error, load_config, address):
    field = "ipv4" if ipaddress.ip_address(address).version == 4 else "ipv6"
    for spelling in spellings(address):
        refused(config_error, "alpha", bootstrap(**{field: spelling}), f"hosts.alpha.vps.{field}")
    # alpha may run on pando (pointing its names and playbook at it), no other prod machine;
    # and it may bootstrap a machine of its own
    runs_here = lambda c: alpha_host(c)["vps"].update({field: address})  # noqa: E731
    if address in PROD["shared"]:
        assert load_config("alpha", runs_here).hosts["alpha"]
    else:
        e = refused(config_error, "alpha", runs_here, f"hosts.alpha.vps.{field}")
        assert "alpha runs only on pando" in e.allowed
    assert load_config("alpha", bootstrap()).hosts["alpha"].vps.bootstrap


@pytest.mark.parametrize("host_key", PROD["host_keys"])
def test_alpha_may_not_bootstrap_a_machine_with_a_host_key_prod_declares(config_error, host_key):
    """The same machine at an address prod doesn't list: its host key gives it away."""
    refused(
        config_error, "alpha", bootstrap(ssh_host_key=f"{host_key} pasted"), "hosts.alpha.vps.ssh_host_key"
    )


@pytest.mark.parametrize("host_key", PROD["host_keys"])
def test_alpha_may_not_bootstrap_a_prod_machine_from_the_block_of_the_kind_not_in_use(config_error, host_key):
    def mutate(c):
        bootstrap(ssh_host_key=host_key)(c)
        alpha_host(c)["kind"] = "hetzner_cloud"  # the vps block stays, one line away from use

    refused(config_error, "alpha", mutate, "hosts.alpha.vps.ssh_host_key")


# --------------------------------------------------------------------------- prod claiming alpha's


@pytest.mark.parametrize("bucket", ALPHA["buckets"])
def test_prod_may_not_declare_a_bucket_alpha_declares(config_error, bucket):
    refused(
        config_error,
        "prod",
        lambda c: c[key("storage")]["buckets"].update({bucket: {}}),
        f"storage.buckets.{bucket}",
    )


@pytest.mark.parametrize("host", ALPHA["hosts"])
def test_prod_may_not_name_a_host_as_alpha_does(config_error, host):
    machine: dict[str, Any] = {"kind": "vps", "roles": ["mastodon"], "fqdn": f"{host}-host.social.coop"}
    machine["vps"] = {"provider": "example", "ipv4": "192.0.2.55"}
    refused(config_error, "prod", lambda c: c[key("hosts")].update({host: machine}), f"hosts.{host}")


@pytest.mark.parametrize("name", ALPHA["names"])
def test_prod_may_not_give_a_name_alpha_has(config_error, name):
    if fqdn_ok(name):
        rename = lambda c: c[key("hosts")]["rhizome"].update(fqdn=name)  # noqa: E731
        refused(config_error, "prod", rename, "hosts.rhizome.fqdn")
        refused(config_error, "prod", lambda c: c.update({key("instance_domain"): name}), "instance_domain")
    txt = {"type": "TXT", "value": "claimed"}
    e = refused(config_error, "prod", lambda c: c[key("dns")]["records"].update({relative(name): [txt]}))
    assert e.value == name


@pytest.fixture
def repo_root(tmp_path, monkeypatch):
    """A stand-in for the repository root whose committed stack files a test may change."""
    root = tmp_path / "root"
    root.mkdir()
    for stack in boundary.STACKS:
        shutil.copy(REPO / f"Pulumi.{stack}.yaml", root / f"Pulumi.{stack}.yaml")
    monkeypatch.setattr(boundary, "REPO_ROOT", root)
    return root


def committed(root, stack, mutate):
    doc = stack_doc(stack)
    mutate(doc["config"])
    (root / f"Pulumi.{stack}.yaml").write_text(yaml.dump(doc, Dumper=DUMPER, sort_keys=False))


def test_prod_may_not_bootstrap_alphas_own_machine_but_manages_a_shared_one(
    repo_root, config_error, load_config
):
    """A machine both files declare is prod's (alpha runs on pando); one only alpha declares is alpha's."""
    committed(repo_root, "alpha", lambda c: alpha_host(c)["vps"].update(OWN_MACHINE))

    def prod_bootstraps(**machine):
        def mutate(c):
            c[key("bootstrap_ssh_key")] = SECRET
            c[key("hosts")]["pando"]["vps"].update({**machine, "bootstrap": True})

        return mutate

    for field in ("ipv4", "ipv6", "ssh_host_key"):
        refused(
            config_error, "prod", prod_bootstraps(**{field: OWN_MACHINE[field]}), f"hosts.pando.vps.{field}"
        )
    assert load_config("prod", prod_bootstraps()).hosts["pando"].vps.bootstrap  # pando itself


def test_the_cross_check_reads_the_other_committed_file_not_a_rule_in_code(
    repo_root, config_error, load_config
):
    """A bucket name that passes the fixed prefix rule is still refused when the other file has it."""
    committed(repo_root, "alpha", alpha_bucket_renamed("alpha-media-archive"))
    refused(config_error, "prod", lambda c: c[key("storage")]["buckets"].update({"alpha-media-archive": {}}))
    committed(repo_root, "prod", lambda c: c[key("storage")]["buckets"].update({"alpha-old-dumps": {}}))
    e = refused(
        config_error, "alpha", alpha_bucket_renamed("alpha-old-dumps"), "storage.buckets.alpha-old-dumps"
    )
    assert "Pulumi.prod.yaml declares this bucket" in e.allowed


# --------------------------------------------------------------------------- the same in the policy pack


def facts(stack):
    return rules.facts(stackfile.read_stack(stack).pulumi_config(), stack)


def flagged(stack, rtype, props, name="r") -> list[str]:
    s = facts(stack)
    r = rules.Res(rtype, name, props)
    return rules.alpha_stays_in_its_lane(r, s) + rules.prod_stays_out_of_alpha(r, s)


def claims_of(theirs: dict) -> list[tuple[str, dict]]:
    """Each claim on the other stack's things, as the resources the program would declare."""
    out = []
    for b in theirs["buckets"]:
        out += [
            (rules.BUCKET, {"name": b}),
            (rules.BUCKET_CORS, {"bucket": b}),
            (rules.SPACES_KEY, {"grants": [{"bucket": b, "permission": "readwrite"}]}),
        ]
    for h in theirs["hosts"]:
        out += [(rules.SERVER, {"name": h}), (rules.FIREWALL, {"name": h})]
    for n in theirs["names"]:
        out += [(rules.RECORD, {"name": n}), (rules.RDNS, {"dnsPtr": n})]
    return out


@pytest.mark.parametrize(("rtype", "props"), claims_of(PROD), ids=str)
def test_the_policy_refuses_alpha_claiming_what_prod_declares(rtype, props):
    found = flagged("alpha", rtype, props)
    assert found and all(boundary.HERE in m for m in found), found


@pytest.mark.parametrize(("rtype", "props"), claims_of(ALPHA), ids=str)
def test_the_policy_refuses_prod_claiming_what_alpha_declares(rtype, props):
    found = flagged("prod", rtype, props)
    assert found and all(boundary.HERE in m for m in found), found


@pytest.mark.parametrize("machine", PROD["addresses"] + PROD["host_keys"])
@pytest.mark.parametrize("rtype", rules.REMOTE)
def test_the_policy_refuses_alpha_bootstrapping_a_prod_machine(rtype, machine):
    field = "hostKey" if machine.startswith("ssh-") else "host"
    found = flagged("alpha", rtype, {"connection": {field: machine, "user": "root"}})
    assert found and boundary.HERE in found[0]
    assert flagged("alpha", rtype, {"connection": {"host": "192.0.2.44", "hostKey": OWN_HOST_KEY}}) == []


@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_the_policy_refuses_the_other_stacks_key_name_and_labels(stack):
    theirs = boundary.other(stack)
    assert flagged(stack, rules.SPACES_KEY, {"name": f"socialcoop-infra-{theirs}", "grants": []})
    assert not flagged(stack, rules.SPACES_KEY, {"name": f"socialcoop-infra-{stack}", "grants": []})
    for rtype in (rules.SERVER, rules.FIREWALL, rules.PRIMARY_IP, rules.VOLUME, "hcloud:index/sshKey:SshKey"):
        assert flagged(stack, rtype, {"labels": {"stack": theirs}}), rtype
        assert not flagged(stack, rtype, {"labels": {"stack": stack, "role": "mastodon"}}), rtype


def test_the_loader_and_the_policy_say_the_same():
    e = boundary.bucket_problem("alpha", "social-coop-media", boundary.claims("prod"))
    assert flagged("alpha", rules.BUCKET, {"name": "social-coop-media"}) == [f"r: 'social-coop-media': {e}"]


def hetzner_alpha(tmp_path):
    doc = stack_doc("alpha")
    alpha_host(doc["config"])["kind"] = "hetzner_cloud"
    path = tmp_path / "Pulumi.alpha.yaml"
    path.write_text(yaml.dump(doc, Dumper=DUMPER, sort_keys=False))
    return str(path)


@pytest.mark.parametrize(
    ("stack", "file"),
    [
        ("prod", None),
        ("alpha", None),
        ("alpha", "hetzner_cloud"),
        ("prod", "docs/examples/prod-complete.yaml"),
        ("alpha", "docs/examples/alpha-small.yaml"),
    ],
)
def test_legitimate_plans_pass_every_mandatory_rule(tmp_path, stack, file):
    """The real program's resources, with the options the engine would show the pack."""
    path = hetzner_alpha(tmp_path) if file == "hetzner_cloud" else file and str(REPO / file)
    sf = stackfile.read_stack(stack, path)
    s = rules.facts(sf.pulumi_config(), stack)
    found = []
    for r in program.run_program(sf).resources:
        if not r.custom:
            continue
        res = rules.Res(r.type, r.name, r.inputs, r.options["protect"], tuple(r.options["ignore_changes"]))
        for name, (check, _, level) in rules.RULES.items():
            found += [f"{name}: {m}" for m in check(res, s)] if level == "mandatory" else []
    assert found == []


# --------------------------------------------------------------------------- the boundary can't move


@pytest.mark.parametrize("stack", ["prod", "alpha"])
@pytest.mark.parametrize("path", list(RETIRED))
@pytest.mark.parametrize("value", ["social.coop", "alpha", "", [], {}, ["alpha"]], ids=repr)
def test_the_keys_that_used_to_move_the_boundary_are_refused(config_error, stack, path, value):
    def mutate(c):
        section, _, field = path.rpartition(".")
        (c[key(section)] if section else c).update({field if section else key(field): value})

    e = config_error(stack, mutate)
    assert e.path == path and e.allowed == RETIRED[path] and boundary.HERE in e.allowed


def test_the_retired_keys_are_refused_under_the_engine_too(engine_config_error):
    error = engine_config_error(
        {**stackfile.read_stack("prod").pulumi_config(), key("domain"): "alpha.social.coop"}
    )
    assert error.path == "domain" and boundary.HERE in error.allowed


@pytest.mark.parametrize("stack", ["staging", "prod2", "Prod"])
def test_under_the_engine_the_stacks_are_prod_and_alpha(stack):
    pulumi.runtime.set_mocks(program.make_mocks(), project="socialcoop-infra", stack=stack, preview=False)
    pulumi.runtime.set_all_config(stackfile.read_stack("alpha").pulumi_config(), [])
    try:
        with pytest.raises(ConfigError) as info:
            config.load_from_pulumi()
    finally:
        pulumi.runtime.set_all_config({}, [])
    assert "the stacks are prod and alpha" in str(info.value)


# --------------------------------------------------------------------------- reading the other file


UNREADABLE = {
    "missing": None,
    "not yaml": b"config: {socialcoop-infra:hosts: [\n",
    "not utf-8": b"\xff\xfe\x00garbage",
    "config is a list": b"config: [1, 2]\n",
    "deep": b"config:\n  socialcoop-infra:hosts: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "empty": b"",
    "keys of other types": b"config:\n  1: 2\n",
}
# Readable, with junk around the one claim the reader must still find: bucket alpha-kept.
MALFORMED = {
    "sections of the wrong type": b"config:\n  socialcoop-infra:hosts: [a, b]\n  socialcoop-infra:dns: 3\n"
    b"  socialcoop-infra:storage: {buckets: {alpha-kept: 1}}\n",
    "entries of the wrong type": b"config:\n  socialcoop-infra:hosts: {a: 1, b: {vps: 2, fqdn: 3}, c: {vps: {ipv4: 7}}}\n"
    b"  socialcoop-infra:dns: {records: {'@': 5, www: [1, {type: A}], x: {type: A, value: [1]}}}\n"
    b"  socialcoop-infra:storage: {buckets: {b: 1, c: {alias_host: 9}, alpha-kept: {}}}\n",
}


@pytest.mark.parametrize("case", UNREADABLE)
def test_an_unreadable_other_file_fails_closed_in_one_line(repo_root, case):
    path = repo_root / "Pulumi.prod.yaml"
    if UNREADABLE[case] is None:
        path.unlink()
    else:
        path.write_bytes(UNREADABLE[case])
    with pytest.raises(ConfigError) as info:
        stackfile.read_stack("alpha").config()
    message = str(info.value)
    assert message.startswith("Pulumi.prod.yaml: the prod stack's committed file, which the other stack")
    assert "\n" not in message
    found = flagged("alpha", rules.RECORD, {"name": "alpha.social.coop"})
    assert found and "Pulumi.prod.yaml" in found[0]  # the pack refuses too


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_other_file_is_read_for_what_it_holds(repo_root, config_error, load_config, case):
    (repo_root / "Pulumi.prod.yaml").write_bytes(MALFORMED[case])
    assert load_config("alpha").environment == "alpha"
    e = refused(config_error, "alpha", alpha_bucket_renamed("alpha-kept"), "storage.buckets.alpha-kept")
    assert "Pulumi.prod.yaml declares this bucket" in e.allowed


def test_the_other_file_is_read_once_per_version(repo_root):
    boundary._read.cache_clear()
    for _ in range(50):
        stackfile.read_stack("alpha").config()
    info = boundary._read.cache_info()
    assert info.misses == 1 and info.hits >= 50  # alpha's loader asked for prod's claims every time
    path = repo_root / "Pulumi.prod.yaml"
    committed(repo_root, "prod", lambda c: c[key("storage")]["buckets"].update({"fresh-bucket": {}}))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert "fresh-bucket" in boundary.claims("prod").buckets


def test_with_config_elsewhere_the_other_file_is_the_one_at_the_repository_root(tmp_path, capsys):
    here = tmp_path / "elsewhere"
    here.mkdir()
    (here / "Pulumi.prod.yaml").write_text("config:\n  socialcoop-infra:environment: prod\n")  # no hosts
    doc = stack_doc("alpha")
    doc["config"][key("hosts")]["rhizome"] = doc["config"][key("hosts")].pop("alpha")
    doc["config"][key("hosts")]["rhizome"]["fqdn"] = "rhizome.alpha.social.coop"
    for record in doc["config"][key("dns")]["records"]["alpha"]:
        record["host"] = "rhizome"
    (here / "Pulumi.alpha.yaml").write_text(yaml.dump(doc, Dumper=DUMPER, sort_keys=False))
    assert plan_tool.main(["alpha", "--config", str(here / "Pulumi.alpha.yaml")]) == 2
    assert "Pulumi.prod.yaml declares a host of this name" in capsys.readouterr().err


# --------------------------------------------------------------------------- provider settings


ENDPOINTS = [
    "hcloud:endpoint",
    "cloudflare:baseUrl",
    "digitalocean:apiEndpoint",
    "digitalocean:spacesEndpoint",
]
SETTINGS = [*ENDPOINTS, "hcloud:pollInterval", "pulumi:disable-default-providers", "command:anything"]
EVIL = "https://evil.example/collect"


@pytest.mark.parametrize("secure", [False, True], ids=["plain", "secure"])
@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_a_stack_file_holds_no_provider_setting(write_stack, stack, setting, secure):
    path = write_stack(stack, lambda c: c.update({setting: SECRET if secure else EVIL}))
    with pytest.raises(ConfigError) as info:
        stackfile.read_stack(stack, str(path))
    message = str(info.value)
    assert f"{setting}: provider settings are not taken from a stack file" in message
    assert "evil.example" not in message and "Allowed: none" in message


@pytest.mark.parametrize("setting", [*SETTINGS, "aws:region", "random:seed"])
@pytest.mark.parametrize("via", ["config", "PULUMI_CONFIG"])
def test_under_the_engine_no_other_namespace_reaches_the_program(
    engine_config_error, monkeypatch, setting, via
):
    flat = stackfile.read_stack("prod").pulumi_config()
    if via == "config":
        flat[setting] = EVIL
    else:
        monkeypatch.setenv("PULUMI_CONFIG", json.dumps({setting: EVIL}))
    message = str(engine_config_error(flat))
    assert f"{setting}: provider settings are not taken from a stack file" in message
    assert "evil.example" not in message


def test_an_allowed_provider_setting_is_shown_in_the_plan(write_stack, monkeypatch):
    monkeypatch.setitem(PROVIDER_SETTINGS, "hcloud:pollInterval", "a test's reason")
    path = write_stack("alpha", lambda c: c.update({"hcloud:pollInterval": "2s"}))
    sf = stackfile.read_stack("alpha", str(path))
    assert sf.other == {"hcloud:pollInterval": "2s"}
    tree = plan_tool.render_tree(program.run_program(sf))
    assert "  hcloud:pollInterval = 2s  (a test's reason)" in tree.splitlines()[2:5]


@pytest.mark.parametrize("setting", ENDPOINTS)
def test_the_schema_refuses_provider_settings(setting):
    import jsonschema

    schema = json.loads((REPO / "schema" / "stack.schema.json").read_text())
    doc = stack_doc("alpha")
    doc["config"][setting] = EVIL
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(json.loads(json.dumps(doc))))


# --------------------------------------------------------------------------- the docs say where it is


def test_the_docs_say_where_the_boundary_is_and_what_it_holds():
    """Changing components/core/boundary.py means changing what the docs say in the same merge request."""
    config_md = (REPO / "docs" / "config.md").read_text()
    section = config_md.split("## The boundary between the stacks", 1)[1].split("\n## ", 1)[0]
    facts = (boundary.ZONE, boundary.ALPHA_DOMAIN, boundary.ALPHA_BUCKET_PREFIX, *boundary.STACKS)
    for fact in (*facts, *boundary.ALPHA_RUNS_ON):
        assert f"`{fact}`" in section, fact
    assert "`components/core/boundary.py`" in section
    for retired in RETIRED:
        assert f"`{retired}`" in section, retired
    ci_md = (REPO / "docs" / "ci.md").read_text()
    section = ci_md.split("## The boundary between the stacks", 1)[1].split("\n## ", 1)[0]
    for fact in (boundary.ZONE, boundary.ALPHA_DOMAIN, boundary.ALPHA_BUCKET_PREFIX, *boundary.ALPHA_RUNS_ON):
        assert f"`{fact}`" in section, fact
    assert "`components/core/boundary.py`" in section
