"""policy/rules.py without the engine: each rule passes a compliant resource and flags a violating one.
The same rules under the real engine: tests/engine/test_policy_engine.py."""

import sys

import pytest

from tools.engine import REPO

sys.path.insert(0, str(REPO / "policy"))
import rules  # noqa: E402
from rules import Res, Stack  # noqa: E402

PROD = Stack("prod", prod_buckets=frozenset({"social-coop-media"}))
ALPHA = Stack(
    "alpha", prod_buckets=frozenset({"social-coop-media"}), declared_ports=frozenset({("udp", 51820)})
)
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
    checks = {check for check, _ in rules.RULES.values()}
    public = {
        getattr(rules, n)
        for n in dir(rules)
        if callable(getattr(rules, n)) and "_" in n and not n.startswith("_")
    }
    assert public - {Res, Stack} == checks


def test_facts_come_from_the_engines_config_and_prods_stack_file():
    import json

    import yaml

    config = {
        "socialcoop-infra:environment": "alpha",
        "socialcoop-infra:hosts": json.dumps(
            {"a": {"ssh_port": 2222, "hetzner_cloud": {"extra_ports": [{"port": 51820, "protocol": "udp"}]}}}
        ),
        "other:environment": "prod",
    }
    prod = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())
    s = rules.facts(config, prod)
    assert s.environment == "alpha" and s.alpha_domain == "alpha.social.coop"
    assert s.declared_ports == {("tcp", 2222), ("udp", 51820)}
    assert "social-coop-media" in s.prod_buckets and "alpha-social-coop-media" not in s.prod_buckets
