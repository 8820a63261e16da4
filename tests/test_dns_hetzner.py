"""Hetzner DNS as a second provider (dns.providers): the same records on both, the loader's
refusals, the adapter's values, the component's options, the policy pack, cost, diagram and zone
file, schema conformance with the locked pulumi-hcloud, and nothing changed without `hetzner`."""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path

import dns.zone
import pulumi
import pulumi_hcloud as hcloud
import pytest
import yaml

from components.core import costs
from components.dns import hetzner_zone as component
from components.dns.providers import hetzner
from components.dns.records import ResolvedRecord
from tests.conftest import DUMPER, key, stack_doc
from tests.provider_zones import RECORD, RRSET, ZONE, cloudflare_zone, hetzner_refusals, hetzner_zone
from tools.adopt import matching
from tools.review import diagram, program, zonefile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "policy"))
import rules  # noqa: E402

BOTH = ["cloudflare", "hetzner"]
ALPHA_ON_HETZNER_CLOUD = "alpha-hetzner"  # alpha's one-line switch to a Hetzner Cloud server


def providers(*names: str):
    def mutate(c: dict) -> None:
        c[key("dns")]["providers"] = list(names)

    return mutate


def plan_copy(tmp_path_factory, stack: str, *mutations) -> program.Plan:
    """The offline plan of a copy of a committed stack file, changed by ``mutations``."""
    name = "alpha" if stack == ALPHA_ON_HETZNER_CLOUD else stack
    doc = stack_doc(name)
    if stack == ALPHA_ON_HETZNER_CLOUD:
        doc["config"][key("hosts")]["alpha"]["kind"] = "hetzner_cloud"
    for mutate in mutations:
        mutate(doc["config"])
    path = tmp_path_factory.mktemp("hetzner") / f"Pulumi.{name}.yaml"
    path.write_text(yaml.dump(doc, Dumper=DUMPER, sort_keys=False))
    return program.plan_stack(name, str(path))


@pytest.fixture(scope="module")
def both(tmp_path_factory) -> dict[str, program.Plan]:
    """prod, alpha and alpha on Hetzner Cloud, each publishing to [cloudflare, hetzner]."""
    return {
        s: plan_copy(tmp_path_factory, s, providers(*BOTH)) for s in ("prod", "alpha", ALPHA_ON_HETZNER_CLOUD)
    }


@pytest.fixture(scope="module")
def today(tmp_path_factory) -> dict[str, program.Plan]:
    return {s: plan_copy(tmp_path_factory, s) for s in ("prod", "alpha", ALPHA_ON_HETZNER_CLOUD)}


def of(plan: program.Plan, rtype: str) -> list[program.PlannedResource]:
    return [r for r in plan.resources if r.type == rtype]


def served(zone_text: str) -> set[tuple[str, str, int, str]]:
    """(name, type, ttl, rdata) of every record but SOA and apex NS, as dnspython reads the zone."""
    z = dns.zone.from_text(zone_text, check_origin=False, relativize=False)
    assert z.origin is not None
    origin = z.origin.to_text()
    return {
        (name.to_text(), dns.rdatatype.to_text(rds.rdtype), rds.ttl, rd.to_text())
        for name, rds in z.iterate_rdatasets()
        if not (
            rds.rdtype == dns.rdatatype.SOA or (rds.rdtype == dns.rdatatype.NS and name.to_text() == origin)
        )
        for rd in rds
    }


# --------------------------------------------------------------------------- the same records on both


@pytest.mark.parametrize("stack", ["prod", "alpha", ALPHA_ON_HETZNER_CLOUD])
def test_both_providers_get_the_same_records(both, stack):
    plan = both[stack]
    cf, hz = (
        served(cloudflare_zone(plan.resources, "social.coop")),
        served(hetzner_zone(plan.resources, "social.coop")),
    )
    assert cf == hz
    assert len(cf) == len(of(plan, RECORD)) >= 4
    assert hetzner_refusals(plan.resources, "social.coop") == []


@pytest.mark.parametrize("stack", ["prod", "alpha", ALPHA_ON_HETZNER_CLOUD])
def test_cloudflare_is_untouched_by_adding_hetzner(both, today, stack):
    def cloudflare(plan):
        return [
            (r.type, r.name, r.parent, r.inputs, r.options)
            for r in plan.resources
            if r.type.startswith("cloudflare:") or r.type == "socialcoop:dns:Zone"
        ]

    assert cloudflare(both[stack]) == cloudflare(today[stack])
    assert of(today[stack], RRSET) == of(today[stack], ZONE) == []
    assert "hetzner_nameservers" not in today[stack].outputs


def test_writing_the_default_providers_changes_nothing(tmp_path_factory, today):
    for stack in ("prod", "alpha"):
        written = plan_copy(tmp_path_factory, stack, providers("cloudflare"))
        assert [(r.type, r.name, r.inputs, r.options) for r in written.resources] == [
            (r.type, r.name, r.inputs, r.options) for r in today[stack].resources
        ]
        assert written.outputs == today[stack].outputs


def test_hetzner_only_plans_no_cloudflare_record(tmp_path_factory):
    def only_hetzner(c):
        c[key("dns")].update(providers=["hetzner"])
        del c[key("dns")]["zone_id"], c[key("dns")]["imports"]

    plan = plan_copy(tmp_path_factory, "prod", only_hetzner)
    assert not [
        r for r in plan.resources if r.type.startswith("cloudflare:") or r.type == "socialcoop:dns:Zone"
    ]
    assert len(of(plan, RRSET)) == 26 and len(of(plan, ZONE)) == 1  # 30 records, 26 (name, type)


def test_prod_owns_the_zone_and_alpha_only_writes_its_record_sets(both):
    prod, alpha = both["prod"], both["alpha"]
    (zone,) = of(prod, ZONE)
    assert zone.inputs == {
        "name": "social.coop",
        "mode": "primary",
        "ttl": 3600,
        "deleteProtection": True,
        "labels": {"stack": "prod"},
    }
    assert zone.options["protect"] and zone.name == "hetzner-dns-zone"
    assert of(alpha, ZONE) == []
    names = {r.inputs["name"] for r in of(alpha, RRSET)}
    assert names == {"alpha", "_dmarc.alpha"}
    for plan, stack in ((prod, "prod"), (alpha, "alpha")):
        for r in of(plan, RRSET):
            assert r.inputs["zone"] == "social.coop"  # by name in both stacks: one form for good
            assert r.inputs["changeProtection"] is False
            assert r.inputs["labels"] == {"stack": stack}
            assert r.options["delete_before_replace"] is True
            assert r.options["protect"] is (stack == "prod")
            assert (
                r.name
                == f"hetzner-dns-{'apex' if r.inputs['name'] == '@' else r.inputs['name']}-{r.inputs['type'].lower()}"
            )
    assert prod.outputs["hetzner_nameservers"] == component.NOT_ASSIGNED
    assert "hetzner_nameservers" not in alpha.outputs


def test_the_dns_token_is_the_dns_projects_and_secret(both, monkeypatch):
    for plan in both.values():
        (provider,) = of(plan, "pulumi:providers:hcloud")
        assert provider.inputs == {"token": "[secret]"} and provider.parent == "hetzner-dns"
    monkeypatch.delenv(component.TOKEN_ENV, raising=False)
    with pytest.raises(
        pulumi.RunError, match=r"HCLOUD_DNS_TOKEN is not set: .*pass show social.coop/hetzner/dns-token"
    ):
        component.dns_token()


# --------------------------------------------------------------------------- the adapter


def rec(rtype: str, content: str, **kw) -> ResolvedRecord:
    return ResolvedRecord(key="x", name=kw.pop("name", "@"), type=rtype, content=content, **kw)


@pytest.mark.parametrize(
    "record, value",
    [
        (rec("A", "192.0.2.1"), "192.0.2.1"),
        (rec("AAAA", "2001:db8::1"), "2001:db8::1"),
        (rec("CNAME", "mailgun.org"), "mailgun.org."),
        (rec("NS", "ns1.example.net."), "ns1.example.net."),
        (rec("MX", "mxa.mailgun.org", priority=10), "10 mxa.mailgun.org."),
        (rec("SRV", "xmpp.example.org", priority=5, weight=0, port=5269), "5 0 5269 xmpp.example.org."),
        (rec("CAA", '0 issue "letsencrypt.org"'), '0 issue "letsencrypt.org"'),
        (rec("TXT", "v=spf1 -all"), '"v=spf1 -all"'),
        (rec("TXT", 'a"b\\c'), '"a\\"b\\\\c"'),
        (rec("TXT", "x" * 300), f'"{"x" * 255}" "{"x" * 45}"'),
        (rec("TXT", ""), '""'),
    ],
    ids=["a", "aaaa", "cname", "ns", "mx", "srv", "caa", "txt", "txt-escapes", "txt-300", "txt-empty"],
)
def test_values_are_what_hetzner_keeps(record, value):
    assert hetzner.value(record, record.content) == value


def test_a_comment_is_sent_only_when_there_is_one():
    assert hetzner.record(rec("A", "192.0.2.1"), "192.0.2.1") == {"value": "192.0.2.1"}
    assert hetzner.record(rec("A", "192.0.2.1", comment=""), "192.0.2.1") == {"value": "192.0.2.1"}
    assert hetzner.record(rec("A", "192.0.2.1", comment="web"), "192.0.2.1") == {
        "value": "192.0.2.1",
        "comment": "web",
    }


def test_record_sets_group_by_name_and_type_and_refuse_two_ttls():
    records = [
        rec("MX", "a.example", priority=10),
        rec("A", "192.0.2.1"),
        rec("MX", "b.example", priority=20),
    ]
    sets = hetzner.rrsets(records)
    assert [(s.key, s.name, s.type, len(s.records)) for s in sets] == [
        ("apex-mx", "@", "MX", 2),
        ("apex-a", "@", "A", 1),
    ]
    assert hetzner.import_id("social.coop", sets[0]) == "social.coop/@/MX"
    with pytest.raises(ValueError, match="one TTL per record set"):
        hetzner.rrsets([rec("A", "192.0.2.1"), rec("A", "192.0.2.2", ttl=300)])
    with pytest.raises(ValueError, match="twice"):
        hetzner.distinct([{"value": "192.0.2.1"}, {"value": "192.0.2.1"}], "@ A")


# --------------------------------------------------------------------------- the loader


def dns_(**kw):
    return lambda c: c[key("dns")].update(**kw)


def record_at(name: str, **fields):
    return lambda c: c[key("dns")]["records"].setdefault(name, []).append(fields)


def with_both(*mutations):
    def mutate(c):
        c[key("dns")]["providers"] = BOTH
        for m in mutations:
            m(c)

    return mutate


@pytest.mark.parametrize(
    "stack, mutate, path, fragment",
    [
        ("prod", dns_(providers=["cloudflare", "cloudflare"]), "dns.providers", "cloudflare is listed twice"),
        ("prod", dns_(providers=[]), "dns.providers", "at least one of cloudflare, hetzner"),
        ("prod", dns_(providers=["bunny"]), "dns.providers[0]", "allowed: cloudflare, hetzner"),
        (
            "prod",
            dns_(providers=["hetzner"], retiring=["cloudflare"]),
            "dns.retiring",
            "cloudflare is not in providers",
        ),
        (
            "prod",
            dns_(providers=BOTH, retiring=BOTH),
            "dns.retiring",
            "at least one provider of providers must stay",
        ),
        (
            "prod",
            lambda c: c[key("dns")].pop("zone_id"),
            "dns.zone_id",
            "required while cloudflare is in providers",
        ),
        (
            "prod",
            lambda c: (c[key("dns")].pop("zone_id"), c[key("dns")].update(providers=["hetzner"])),
            "dns.imports.apex-a",
            "a Cloudflare import ID, but there is no dns.zone_id",
        ),
        (
            "prod",
            with_both(dns_(default_ttl=1)),
            "dns.default_ttl",
            "at least 60 while hetzner is in dns.providers",
        ),
        (
            "prod",
            with_both(lambda c: c.update({key("migration"): {"ttl": 1, "records": ["@ A"]}})),
            "migration.ttl",
            "at least 60 while hetzner",
        ),
        (
            "prod",
            with_both(record_at("files", type="CNAME", value="cdn.example.org", proxied=True)),
            "dns.records.files[0].proxied",
            "Hetzner has no proxy",
        ),
        (
            "prod",
            with_both(record_at("files", type="CNAME", value="cdn.example.org", ttl=1)),
            "dns.records.files[0].ttl",
            "at least 60 while hetzner",
        ),
        (
            "prod",
            with_both(lambda c: c[key("dns")]["records"]["mg"][1].update(ttl=300)),
            "dns.records.mg[1]",
            "Hetzner keeps one TTL per name and type, and mg.social.coop MX from dns.records.mg[0] has 3600",
        ),
        (
            "prod",
            with_both(record_at("@", type="NS", value="ns1.example.net")),
            "dns.records.@[4]",
            "the apex NS records are Cloudflare's and Hetzner's; NS is only for delegating a subdomain",
        ),
        ("alpha", with_both(dns_(hetzner={"adopt": True})), "dns.hetzner.adopt", "only prod imports"),
    ],
    ids=[
        "twice",
        "none",
        "unknown",
        "retiring-unlisted",
        "retiring-all",
        "zone-id",
        "imports-without-zone-id",
        "default-ttl",
        "migration-ttl",
        "proxied",
        "ttl-auto",
        "two-ttls",
        "apex-ns",
        "alpha-adopts",
    ],
)
def test_the_loader_refuses_what_a_provider_cannot_hold(config_error, stack, mutate, path, fragment):
    err = config_error(stack, mutate)
    assert err.path == path, str(err)
    assert fragment in err.allowed, str(err)
    assert "\n" not in str(err)


def test_a_type_hetzner_lacks_is_refused(config_error, monkeypatch):
    monkeypatch.setattr(hetzner, "TYPES", tuple(t for t in hetzner.TYPES if t != "CAA"))
    err = config_error("prod", providers(*BOTH))
    assert (err.path, err.value) == ("mail.caa", "CAA")
    assert err.allowed.startswith("Hetzner DNS holds A, AAAA, CNAME") and err.allowed.endswith("; not CAA")


def test_cloudflare_alone_keeps_its_own_words_and_limits(config_error, load_config):
    err = config_error("prod", record_at("@", type="NS", value="ns1.example.net"))
    assert err.allowed == "the apex NS records are Cloudflare's; NS is only for delegating a subdomain"
    cfg = load_config("prod", record_at("files", type="CNAME", value="cdn.example.org", proxied=True))
    assert cfg.dns.providers == ("cloudflare",)


# --------------------------------------------------------------------------- adopting, retiring


def test_adopting_the_zone_imports_it_by_name_and_each_record_set_by_zone_name_type(tmp_path_factory):
    plan = plan_copy(tmp_path_factory, "prod", providers(*BOTH), dns_(hetzner={"adopt": True}))
    (zone,) = of(plan, ZONE)
    assert zone.options["import"] == "social.coop" and zone.options["retain_on_delete"]
    assert zone.options["ignore_changes"] == list(component.ZONE_CONVERGE)  # prod is still adopting
    assert matching.undecided(plan.resources, matching.load_new_in_prod()) == []  # all adopted
    for r in of(plan, RRSET):
        assert r.options["import"] == f"social.coop/{r.inputs['name']}/{r.inputs['type']}"
        assert r.options["ignore_changes"] == list(component.RRSET_CONVERGE)
        assert r.options["protect"] and r.options["retain_on_delete"]


@pytest.mark.parametrize("leaving, kept", [("cloudflare", "hetzner"), ("hetzner", "cloudflare")])
def test_a_retiring_provider_is_unprotected_and_retained_the_other_untouched(
    tmp_path_factory, both, leaving, kept
):
    plan = plan_copy(tmp_path_factory, "prod", providers(*BOTH), dns_(retiring=[leaving]))
    types = {"cloudflare": (RECORD,), "hetzner": (ZONE, RRSET)}
    for r in plan.resources:
        if r.type in types[leaving]:
            assert (r.options["protect"], r.options["retain_on_delete"]) == (False, True), r.name
            assert rules.prod_protects_stateful(rules.Res(r.type, r.name, r.inputs, False), facts(plan)) == []
    before = {r.name: r for r in both["prod"].resources}
    for r in plan.resources:
        if r.type in types[kept]:
            assert (r.inputs, r.options) == (before[r.name].inputs, before[r.name].options)


def facts(plan: program.Plan) -> rules.Stack:
    return rules.facts(plan.stack.pulumi_config(), plan.stack.stack)


def test_a_new_zone_in_prod_is_decided_by_one_entry_for_its_component(both):
    resources = both["prod"].resources
    listed = matching.load_new_in_prod()
    undecided = matching.undecided(resources, listed)
    assert "hetzner-dns-zone" in undecided and "hetzner-dns-apex-mx" in undecided
    entry = {"hetzner-dns": {"name": "hetzner-dns", "type": "socialcoop:dns:HetznerZone", "reason": "new"}}
    assert matching.undecided(resources, {**listed, **entry}) == []


# --------------------------------------------------------------------------- the policy pack


def res(rtype, name, props, protect=False):
    return rules.Res(rtype, name, props, protect)


def test_the_policy_pack_knows_the_new_types(both):
    prod, alpha = facts(both["prod"]), facts(both["alpha"])
    zone = {"name": "social.coop", "mode": "primary", "labels": {"stack": "prod"}}
    rrset = {"zone": "social.coop", "name": "www", "type": "CNAME", "labels": {"stack": "prod"}}
    # prod protects both
    assert rules.prod_protects_stateful(res(ZONE, "z", zone), prod) == [
        "z (hcloud:index/zone:Zone) must be protected in prod (protect: true)"
    ]
    assert rules.prod_protects_stateful(res(RRSET, "r", rrset), prod)
    assert rules.prod_protects_stateful(res(RRSET, "r", rrset, protect=True), prod) == []
    assert rules.prod_stays_out_of_alpha(res(ZONE, "z", zone, True), prod) == []
    assert rules.prod_stays_out_of_alpha(res(RRSET, "r", rrset, True), prod) == []
    # prod writes nothing of alpha's, nor into another zone
    inside = rules.prod_stays_out_of_alpha(res(RRSET, "r", {**rrset, "name": "x.alpha"}, True), prod)
    assert inside and "the alpha stack's" in inside[0]
    other_zone = rules.prod_stays_out_of_alpha(res(RRSET, "r", {**rrset, "zone": "1234567"}, True), prod)
    assert other_zone == [
        "r: '1234567': record sets go into the zone social.coop, named so (components/core/boundary.py)"
    ]
    # alpha: never a zone, only its names, its labels
    alpha_zone = rules.alpha_stays_in_its_lane(res(ZONE, "z", {**zone, "labels": {"stack": "alpha"}}), alpha)
    assert alpha_zone and "the zone social.coop is the prod stack's" in alpha_zone[0]
    ok = {"zone": "social.coop", "name": "_dmarc.alpha", "type": "TXT", "labels": {"stack": "alpha"}}
    assert rules.alpha_stays_in_its_lane(res(RRSET, "r", ok), alpha) == []
    apex = rules.alpha_stays_in_its_lane(res(RRSET, "r", {**ok, "name": "@"}), alpha)
    assert apex and "the alpha stack owns only alpha.social.coop" in apex[0]
    label = rules.alpha_stays_in_its_lane(res(RRSET, "r", {**ok, "labels": {"stack": "prod"}}), alpha)
    assert label and "this stack's objects carry stack: alpha" in label[0]


def test_every_planned_dns_resource_passes_the_policy_pack(both):
    for plan in both.values():
        stack = facts(plan)
        for r in plan.resources:
            if r.type in (ZONE, RRSET, RECORD):
                found = [
                    m
                    for rule, _, _ in rules.RULES.values()
                    for m in rule(res(r.type, r.name, r.inputs, r.options["protect"]), stack)
                ]
                assert found == [], r.name


# --------------------------------------------------------------------------- cost, diagram, zone file


def test_the_hetzner_zone_is_a_free_line_of_prods_cost_only_when_listed(load_config):
    prices = costs.load_prices()
    report = costs.estimate(load_config("prod", providers(*BOTH)), prices)
    (line,) = [x for x in report.lines if x.resource == "dns-hetzner"]
    assert (line.amount, line.currency, line.what) == (0.0, "EUR", "Hetzner DNS zone social.coop")
    assert report.checked["hetzner_dns"] == "2026-12-06"
    assert "hetzner.com" in prices["hetzner_dns"]["source"]
    alpha = costs.estimate(load_config("alpha", providers(*BOTH)), prices)
    assert not [x for x in alpha.lines if x.resource.startswith("dns-")]  # alpha's sets are in prod's zone
    plain = costs.estimate(load_config("prod"), prices)
    assert "hetzner_dns" not in plain.checked and not [
        x for x in plain.lines if x.resource.startswith("dns-")
    ]


def test_the_diagram_and_the_zone_file_name_the_providers(load_config):
    both_cfg = load_config("prod", providers(*BOTH))
    assert 'subgraph dns["DNS names in social.coop (Cloudflare, Hetzner)"]' in diagram.render_mermaid(
        both_cfg
    )
    assert 'subgraph dns["DNS names in social.coop (Cloudflare)"]' in diagram.render_mermaid(
        load_config("prod")
    )
    addresses = zonefile.host_addresses(both_cfg)
    header = zonefile.render(both_cfg, addresses).splitlines()[1]
    assert header.endswith("SOA and apex NS are each DNS provider's own (Cloudflare, Hetzner).")
    assert (
        zonefile.render(load_config("prod"), addresses)
        .splitlines()[1]
        .endswith("SOA and apex NS are the DNS host's.")
    )


# --------------------------------------------------------------------------- schema conformance

ARGS = {ZONE: hcloud.ZoneArgs, RRSET: hcloud.ZoneRrsetArgs, "pulumi:providers:hcloud": hcloud.ProviderArgs}


def sdk_inputs(args_class: type) -> dict[str, tuple[typing.Any, bool]]:
    """camelCase input name -> (annotation, required) of a pulumi_hcloud input type (the locked schema)."""
    signature = inspect.signature(args_class)
    out = {}
    for python_name, prop in vars(args_class).items():
        if isinstance(prop, property):
            camel = getattr(prop.fget, "_pulumi_name", python_name)
            param = signature.parameters[python_name]
            out[camel] = (param.annotation, param.default is inspect.Parameter.empty)
    return out


def _base(annotation: typing.Any) -> typing.Any:
    """The plain type inside pulumi.Input[...] (Union with Awaitable and Output, maybe Optional)."""
    for arg in typing.get_args(annotation) or (annotation,):
        origin = typing.get_origin(arg)
        if arg is type(None) or isinstance(arg, typing.ForwardRef) and "Output" in arg.__forward_arg__:
            continue
        if origin is not None and issubclass(origin, Awaitable):
            continue
        return arg
    raise AssertionError(annotation)


def conformance(value: typing.Any, annotation: typing.Any, where: str) -> list[str]:
    base = _base(annotation)
    origin = typing.get_origin(base)
    if isinstance(base, typing.ForwardRef):  # a nested input type of the SDK: ZoneRrsetRecordArgs
        return conforms_to(value, getattr(hcloud, base.__forward_arg__), where)
    if origin is not None and issubclass(origin, Mapping):
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not a mapping"]
        return [p for k, v in value.items() for p in conformance(v, typing.get_args(base)[1], f"{where}.{k}")]
    if origin is not None and issubclass(origin, Sequence):
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        return [
            p for i, v in enumerate(value) for p in conformance(v, typing.get_args(base)[0], f"{where}[{i}]")
        ]
    if base is int:  # numbers come back from the engine as floats
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
    else:
        ok = isinstance(value, base) or value == "[secret]"
    return [] if ok else [f"{where}: {value!r} is not {base.__name__}"]


def conforms_to(inputs: dict, args_class: type, where: str) -> list[str]:
    known = sdk_inputs(args_class)
    problems = [f"{where}.{k}: not an input of {args_class.__name__}" for k in inputs if k not in known]
    problems += [
        f"{where}.{k}: required, missing" for k, (_, req) in known.items() if req and k not in inputs
    ]
    for k, v in inputs.items():
        if k in known:
            problems += conformance(v, known[k][0], f"{where}.{k}")
    return problems


def test_every_planned_hetzner_input_matches_the_locked_provider_schema(both):
    checked = set()
    for plan in both.values():
        for r in plan.resources:
            if r.type in ARGS:
                assert conforms_to(r.inputs, ARGS[r.type], r.name) == []
                checked.add(r.type)
    assert checked == set(ARGS)
    # name is optional in the SDK only because the bridge autonames it: always passed
    assert all("name" in r.inputs for p in both.values() for r in p.resources if r.type in (ZONE, RRSET))


def test_the_conformance_check_catches_a_wrong_input():
    good = {"zone": "social.coop", "name": "@", "type": "A", "ttl": 300, "records": [{"value": "192.0.2.1"}]}
    assert conforms_to(good, hcloud.ZoneRrsetArgs, "r") == []
    assert conforms_to({**good, "ttl": "300"}, hcloud.ZoneRrsetArgs, "r") == ["r.ttl: '300' is not int"]
    assert (
        conforms_to({**good, "record": good["records"]}, hcloud.ZoneRrsetArgs, "r")[0]
        == "r.record: not an input of ZoneRrsetArgs"
    )
    missing = {k: v for k, v in good.items() if k != "zone"}
    assert conforms_to(missing, hcloud.ZoneRrsetArgs, "r") == ["r.zone: required, missing"]
    bad_record = {**good, "records": [{"value": "192.0.2.1", "priority": 10}]}
    assert conforms_to(bad_record, hcloud.ZoneRrsetArgs, "r") == [
        "r.records[0].priority: not an input of ZoneRrsetRecordArgs"
    ]


def test_the_convergeable_properties_are_real_inputs():
    for rtype, props in ((ZONE, component.ZONE_CONVERGE), (RRSET, component.RRSET_CONVERGE)):
        assert set(props) <= set(sdk_inputs(ARGS[rtype]))
        assert not set(props) & {"name", "mode", "zone", "type"}  # identity: replaces


def test_one_address_written_twice_at_a_name_is_a_duplicate(config_error):
    """Hetzner wants the values of a record set distinct (Cloudflare refuses identical records):
    a `host:` reference and the same address written out are one record twice."""
    err = config_error("prod", record_at("rhizome", type="A", value="203.0.113.10"))
    assert err.path == "dns.records.rhizome[2]"
    assert (
        err.allowed
        == "the same A record at rhizome.social.coop is already declared (dns.records.rhizome[0]); remove one"
    )


def test_a_hetzner_cloud_address_written_out_as_well_stops_the_apply_in_one_line():
    """hypha's address is known only once the server exists, so a record written with it and one
    with `host: hypha` meet only in the record set's values: the component says so (RunError: no
    traceback) rather than the API's 422."""
    entries = [{"value": "198.51.100.125"}, {"value": "198.51.100.125"}]
    with pytest.raises(pulumi.RunError) as e:
        component._distinct(entries, "hypha A")
    assert str(e.value) == "hypha A: the value '198.51.100.125' twice; Hetzner keeps each value once"
    assert component._distinct(entries[:1], "hypha A") == entries[:1]


def test_the_component_outputs_the_assigned_name_servers_without_dots_and_depends_on_the_zone(
    pulumi_mocks, captured_options, load_config
):
    """With the zone's real output (the API's names end with a dot), the registrar's form; every
    record set waits for the zone (they name it, so no Output links them)."""
    answer = pulumi_mocks.new_resource
    assigned = ["hydrogen.ns.hetzner.com.", "oxygen.ns.hetzner.com.", "helium.ns.hetzner.de."]

    def new_resource(args):
        rid, state = answer(args)
        if args.typ == ZONE:
            state["authoritativeNameservers"] = {"assigneds": assigned}
        return rid, state

    pulumi_mocks.new_resource = new_resource
    cfg = load_config("prod", providers(*BOTH))
    addresses = {n: component.HostAddresses(h.fqdn, "192.0.2.9", "2001:db8::9") for n, h in cfg.hosts.items()}

    @pulumi.runtime.test
    def run():
        hz = component.HetznerZone("dns", component.HetznerZoneArgs(cfg, addresses, "fake-token"))

        def check(names):
            assert names == ["hydrogen.ns.hetzner.com", "oxygen.ns.hetzner.com", "helium.ns.hetzner.de"]
            assert len(hz.rrsets) == 26
            for key_ in hz.rrsets:
                opts = captured_options[f"dns-{key_}"]
                assert len(opts.depends_on) == 1 and opts.delete_before_replace and opts.provider is not None
            assert not captured_options["dns-zone"].depends_on  # the zone waits for nothing
            assert captured_options["dns-zone"].protect and captured_options["dns-provider"].parent is hz

        assert hz.nameservers is not None
        return hz.nameservers.apply(check)

    return run()


def test_import_ids_refuses_a_stack_that_does_not_publish_to_cloudflare(write_stack, capsys):
    from tools.adopt import import_ids

    def only_hetzner(c):
        c[key("dns")].update(providers=["hetzner"])
        del c[key("dns")]["zone_id"], c[key("dns")]["imports"]

    path = write_stack("prod", only_hetzner)
    assert import_ids.main(["--stack", "prod", "--config", str(path), "--from-json", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"error: {path}: dns.providers has no cloudflare: there is nothing to import from Cloudflare\n"
    )
