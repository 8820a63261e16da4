"""policy/rules.py without the engine: each rule passes a compliant resource and flags a violating one.
The same rules under the real engine: tests/engine/test_policy_engine.py."""

import json
import sys

import pytest

from components.core import boundary
from tests.conftest import key
from tools.check.engine import REPO
from tools.pipeline import policy_state
from tools.review import program, stackfile

sys.path.insert(0, str(REPO / "policy"))
import rules  # noqa: E402
from rules import Res, Stack  # noqa: E402

PROD = Stack("prod", theirs=boundary.claims("alpha"))
ALPHA = Stack("alpha", theirs=boundary.claims("prod"), declared_ports=frozenset({("udp", 51820)}))
REASON = "social.coop moves to the new provider (MR !123)"
DECOMMISSION = Stack("prod", theirs=boundary.claims("alpha"), decommission=REASON)
ALL_IGNORES = ("userData", "sshKeys", "image")


def flagged(rule, res, stack) -> list[str]:
    return rule(res, stack)


@pytest.mark.parametrize("rtype", rules.PROTECTED_IN_PROD)
def test_prod_must_protect_each_stateful_type(rtype):
    assert flagged(rules.prod_protects_stateful, Res(rtype, "x", {}), PROD)
    assert not flagged(rules.prod_protects_stateful, Res(rtype, "x", {}, protect=True), PROD)
    assert not flagged(rules.prod_protects_stateful, Res(rtype, "x", {}), ALPHA)


def test_prod_protection_leaves_stateless_resources_alone():
    assert not flagged(rules.prod_protects_stateful, Res(rules.FIREWALL, "fw", {}), PROD)


@pytest.mark.parametrize("missing", ALL_IGNORES)
def test_prod_servers_must_ignore_every_rebuild_input(missing):
    ignores = tuple(p for p in ALL_IGNORES if p != missing)
    msgs = flagged(rules.prod_servers_ignore_rebuild_inputs, Res(rules.SERVER, "s", {}, True, ignores), PROD)
    assert msgs and missing in msgs[0]
    full = Res(rules.SERVER, "s", {}, True, ALL_IGNORES)
    assert not flagged(rules.prod_servers_ignore_rebuild_inputs, full, PROD)
    assert not flagged(rules.prod_servers_ignore_rebuild_inputs, Res(rules.SERVER, "s", {}), ALPHA)


@pytest.mark.parametrize(
    "grants",
    [[], [{"bucket": "b", "permission": "fullaccess"}], [{"bucket": "", "permission": "readwrite"}]],
)
def test_spaces_keys_never_get_full_access(grants):
    assert flagged(rules.spaces_keys_never_full_access, Res(rules.SPACES_KEY, "k", {"grants": grants}), ALPHA)


def test_a_spaces_key_with_named_bucket_grants_passes():
    grants = [{"bucket": "b", "permission": "read"}, {"bucket": "c", "permission": "readwrite"}]
    assert not flagged(
        rules.spaces_keys_never_full_access, Res(rules.SPACES_KEY, "k", {"grants": grants}), PROD
    )


@pytest.mark.parametrize(
    "name", ["www.social.coop", "social.coop", "alpha.social.coop.evil.example", "xalpha.social.coop"]
)
def test_alpha_records_stay_under_alpha(name):
    assert flagged(rules.alpha_stays_in_its_lane, Res(rules.RECORD, "r", {"name": name}), ALPHA)


@pytest.mark.parametrize("name", ["alpha.social.coop", "_dmarc.alpha.social.coop", "ALPHA.social.coop."])
def test_alpha_records_under_alpha_pass(name):
    assert not flagged(rules.alpha_stays_in_its_lane, Res(rules.RECORD, "r", {"name": name}), ALPHA)
    assert not flagged(
        rules.alpha_stays_in_its_lane, Res(rules.RECORD, "r", {"name": "www.social.coop"}), PROD
    )


def test_alpha_may_not_touch_prods_bucket_protect_or_reach_prod_with_its_key():
    lane = rules.alpha_stays_in_its_lane
    assert flagged(lane, Res(rules.BUCKET, "b", {"name": "social-coop-media"}), ALPHA)
    assert not flagged(lane, Res(rules.BUCKET, "b", {"name": "alpha-social-coop-media"}), ALPHA)
    assert flagged(lane, Res(rules.BUCKET, "b", {"name": "alpha-social-coop-media"}, protect=True), ALPHA)
    key = {"grants": [{"bucket": "social-coop-media", "permission": "read"}]}
    assert flagged(lane, Res(rules.SPACES_KEY, "k", key), ALPHA)


@pytest.mark.parametrize(
    ("rule", "bad"),
    [
        ({"direction": "in", "protocol": "tcp", "port": "3306"}, True),
        ({"direction": "in", "protocol": "tcp", "port": "1-65535"}, True),
        ({"direction": "in", "protocol": "udp", "port": "443"}, True),
        ({"direction": "in", "protocol": "tcp", "port": "51820"}, True),
        ({"direction": "in", "protocol": "udp", "port": "51820"}, False),
        ({"direction": "in", "protocol": "tcp", "port": "443"}, False),
        ({"direction": "in", "protocol": "icmp"}, False),
        ({"direction": "out", "protocol": "tcp", "port": "25"}, False),
    ],
)
def test_firewalls_open_only_base_and_declared_ports(rule, bad):
    res = Res(rules.FIREWALL, "fw", {"rules": [rule]})
    assert bool(flagged(rules.firewalls_open_only_declared_ports, res, ALPHA)) is bad


def test_every_rule_is_in_the_pack():
    checks = {check for check, _, _ in rules.RULES.values()}
    public = {
        getattr(rules, n)
        for n in dir(rules)
        if callable(getattr(rules, n)) and "_" in n and not n.startswith("_")
    }
    helpers = {Res, Stack, rules.committed_config, rules.stack_of_urn}  # the facts, not rules
    assert public - helpers == checks


def test_without_the_engines_environment_the_facts_come_from_the_urn_and_the_committed_file():
    """Through a Python language host (the official CLI) the pack gets no $PULUMI_STACK or
    $PULUMI_CONFIG: the stack's name is in every URN, its config in its committed file."""
    assert (
        rules.stack_of_urn("urn:pulumi:alpha::socialcoop-infra::cloudflare:index/dnsRecord:DnsRecord::x")
        == "alpha"
    )
    assert rules.stack_of_urn("not-a-urn") == ""
    for stack in boundary.STACKS:
        config = rules.committed_config(stack)
        assert config[f"{rules.PROJECT}:environment"] == stack
        assert not any("secure" in v for v in config.values() if v.startswith("{"))
        s = rules.facts(config, stack)
        assert s.environment == stack and s.problem is None
    assert rules.committed_config("test") == {}
    assert rules.facts(rules.committed_config("test"), "test").problem  # an unknown stack still fails


def test_facts_come_from_the_stack_name_the_engines_config_and_the_other_committed_file():
    config = {
        "socialcoop-infra:environment": "alpha",
        "socialcoop-infra:hosts": json.dumps(
            {"a": {"ssh_port": 2222, "hetzner_cloud": {"extra_ports": [{"port": 51820, "protocol": "udp"}]}}}
        ),
        "other:environment": "prod",
    }
    s = rules.facts(config, "organization/socialcoop-infra/alpha")
    assert s.environment == "alpha" and s.problem is None
    assert s.declared_ports == {("tcp", 2222), ("udp", 51820)}
    assert s.theirs == boundary.claims("prod")
    assert "social-coop-media" in s.theirs.buckets and "alpha-social-coop-media" not in s.theirs.buckets


# --------------------------------------------------------------------------- the stack itself


@pytest.mark.parametrize(
    ("stack", "environment", "fragment"),
    [
        ("staging", "alpha", "the stacks are prod and alpha"),
        ("alpha", "prod", "its config says environment: 'prod'"),
        ("prod", "alpha", "its config says environment: 'alpha'"),
        ("org/proj/prod2", "prod", "not 'prod2'"),
    ],
)
def test_the_stack_must_be_prod_or_alpha_and_its_config_must_agree(stack, environment, fragment):
    s = rules.facts({"socialcoop-infra:environment": environment}, stack)
    found = rules.stack_is_prod_or_alpha(Res(rules.RECORD, "r", {"name": "alpha.social.coop"}), s)
    assert found and fragment in found[0]
    assert rules.RULES["stack-is-prod-or-alpha"][2] == "mandatory"


def test_the_stack_name_decides_not_the_config():
    """A stack file saying environment: prod in the alpha stack doesn't make alpha's rules prod's."""
    s = rules.facts({"socialcoop-infra:environment": "prod"}, "alpha")
    assert s.environment == "alpha" and s.problem


# --------------------------------------------------------------------------- prod: volumes, decommission


@pytest.mark.parametrize(
    "rtype", ["hcloud:index/volume:Volume", "hcloud:index/volumeAttachment:VolumeAttachment"]
)
def test_prod_must_protect_hetzner_volumes_and_their_attachments(rtype):
    assert rules.prod_protects_stateful(Res(rtype, "hypha-volume", {}), PROD)
    assert not rules.prod_protects_stateful(Res(rtype, "hypha-volume", {}, protect=True), PROD)


def test_a_decommission_passes_the_mandatory_rules_and_is_announced_with_its_reason():
    unprotected = [Res(t, f"r{i}", {}) for i, t in enumerate(rules.PROTECTED_IN_PROD)]
    server = Res(rules.SERVER, "hypha-server", {})  # no protect, no ignore_changes
    for r in [*unprotected, server]:
        assert rules.prod_protects_stateful(r, DECOMMISSION) == []
        assert rules.prod_servers_ignore_rebuild_inputs(r, DECOMMISSION) == []
        loud = rules.prod_decommission_is_announced(r, DECOMMISSION)
        assert loud and all(REASON in m and r.name in m for m in loud)
    assert len(rules.prod_decommission_is_announced(server, DECOMMISSION)) == 2  # unprotected, no ignores
    assert rules.RULES["prod-decommission-is-announced"][2] == "advisory"
    # nothing to announce when nothing is unguarded, and nothing without a decommission
    assert rules.prod_decommission_is_announced(Res(rules.RECORD, "r", {}, protect=True), DECOMMISSION) == []
    assert rules.prod_decommission_is_announced(Res(rules.RECORD, "r", {}), PROD) == []


@pytest.mark.parametrize(
    ("settings", "decommission"),
    [
        ({"protect": "false", "decommission": REASON}, REASON),  # the documented escape
        ({"protect": "true", "decommission": REASON}, None),  # protected: no escape in effect
        ({"protect": "false"}, None),  # no reason: the mandatory rules refuse
    ],
)
def test_facts_read_a_decommission_only_from_prod_with_protect_false(settings, decommission):
    config = {f"socialcoop-infra:{k}": v for k, v in {"environment": "prod", **settings}.items()}
    assert rules.facts(config, "prod").decommission == decommission
    alpha = {**config, "socialcoop-infra:environment": "alpha"}
    assert rules.facts(alpha, "alpha").decommission is None


def test_the_documented_decommission_example_passes_the_mandatory_rules():
    """docs/examples/prod-decommission.yaml through the facts the engine would hand the pack."""
    flat = stackfile.read_stack("prod", str(REPO / "docs/examples/prod-decommission.yaml")).pulumi_config()
    s = rules.facts(flat, "prod")
    assert s.decommission and s.decommission == json.loads(json.dumps(flat[key("decommission")]))
    bucket = Res(rules.BUCKET, "social-coop-media-bucket", {"name": "social-coop-media"})
    mandatory = [check for check, _, level in rules.RULES.values() if level == "mandatory"]
    assert [m for check in mandatory for m in check(bucket, s)] == []
    assert rules.prod_decommission_is_announced(bucket, s)


# --------------------------------------------------------------------------- the state before a destroy


def state_of(stack: str, extra=()) -> dict:
    """A `pulumi stack export` of what the offline plan declares, plus ``extra`` resources."""
    plan = program.run_program(stackfile.read_stack(stack))
    resources = [
        {
            "urn": f"urn:pulumi:{stack}::socialcoop-infra::{r.type}::{r.name}",
            "custom": r.custom,
            "type": r.type,
            "inputs": r.inputs,
            "protect": r.options["protect"],
        }
        for r in plan.resources
    ]
    return {"version": 3, "deployment": {"resources": resources + list(extra)}}


def secret(value) -> dict:
    return {policy_state.SECRET_SIG[0]: policy_state.SECRET_SIG[1], "plaintext": json.dumps(value)}


def exported(rtype: str, name: str, inputs: dict) -> dict:
    return {
        "urn": f"urn:pulumi:alpha::socialcoop-infra::{rtype}::{name}",
        "custom": True,
        "type": rtype,
        "inputs": inputs,
    }


def run_state_check(monkeypatch, capsys, stack: str, text: str) -> tuple[int, str]:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    rc = policy_state.main([stack])
    out = capsys.readouterr()
    return rc, out.out + out.err


def test_alphas_state_holds_nothing_of_prods(monkeypatch, capsys):
    rc, out = run_state_check(monkeypatch, capsys, "alpha", json.dumps(state_of("alpha")))
    assert rc == 0 and "0 policy violation(s)" in out


@pytest.mark.parametrize(
    ("rtype", "inputs", "fragment"),
    [
        (rules.BUCKET, {"name": "social-coop-media", "forceDestroy": True}, "'social-coop-media'"),
        (rules.RECORD, {"name": "social.coop", "type": "A"}, "'social.coop'"),
        (
            "command:remote:Command",
            {"connection": secret({"host": "198.51.100.20", "user": "root"})},
            "198.51.100.20",
        ),
    ],
)
def test_a_prod_resource_in_alphas_state_stops_the_destroy(monkeypatch, capsys, rtype, inputs, fragment):
    state = state_of("alpha", [exported(rtype, "intruder", inputs)])
    rc, out = run_state_check(monkeypatch, capsys, "alpha", json.dumps(state))
    assert rc == 1 and "policy violation: alpha-stays-in-its-lane: intruder:" in out and fragment in out


def test_a_state_exported_without_secrets_or_not_at_all_is_handled(monkeypatch, capsys):
    hidden = {policy_state.SECRET_SIG[0]: policy_state.SECRET_SIG[1], "ciphertext": "v1:AAAA"}
    state = state_of("alpha", [exported("command:remote:Command", "b", {"connection": hidden})])
    assert run_state_check(monkeypatch, capsys, "alpha", json.dumps(state))[0] == 0
    for text in ("", "Error: no stack named 'alpha' found", "[]"):
        rc, out = run_state_check(monkeypatch, capsys, "alpha", text)
        assert rc == 1 and out.startswith("error: ")
