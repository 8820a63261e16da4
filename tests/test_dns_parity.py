"""Parity on real DNS servers: the zone as Cloudflare would serve it and as Hetzner would serve
it, each rendered from the offline plans' resource inputs (tests/provider_zones.py), loaded into
two Knot DNS servers on 127.0.0.1 and asked for every (name, type) of both. Any difference in
an answer set or a TTL fails, and so does whatever the Hetzner API would refuse that Knot lets
through (a TXT string over 255 bytes: Knot splits it silently). Broken renderings prove the
check can fail: a missing trailing dot, an unescaped quote, a 300-byte TXT string."""

from __future__ import annotations

import copy
import dataclasses

import dns.message
import dns.query
import dns.rdatatype
import pytest
import yaml

from tests.conftest import DUMPER, key, stack_doc
from tests.dns_server import Knot, ZoneRefused
from tests.provider_zones import RECORD, RRSET, cloudflare_zone, hetzner_refusals, hetzner_zone
from tools.check.dns import QUERY_TYPES
from tools.review import program

pytestmark = [pytest.mark.dns_server, pytest.mark.usefixtures("local_dns_only")]
DOMAIN = "social.coop"
LONG = "google-site-verification=" + "x" * 275  # 300 bytes: two strings at Hetzner


def hetzner_too(extra_record: bool):
    def mutate(c: dict) -> None:
        c[key("dns")]["providers"] = ["cloudflare", "hetzner"]
        if extra_record:  # a TXT longer than one string, an SRV, a delegation, a wildcard
            c[key("dns")]["records"]["verify"] = [{"type": "TXT", "value": LONG}]
            c[key("dns")]["records"]["_xmpp-server._tcp"] = [
                {"type": "SRV", "priority": 5, "weight": 0, "port": 5269, "value": "xmpp.example.org"}
            ]
            c[key("dns")]["records"]["lists"] = [
                {"type": "NS", "value": "ns1.example.net", "id": "ns1"},
                {"type": "NS", "value": "ns2.example.org", "id": "ns2"},
            ]
            c[key("dns")]["records"]["*.apps"] = [{"type": "CNAME", "value": "hypha.social.coop"}]

    return mutate


@pytest.fixture(scope="module")
def resources(tmp_path_factory) -> list[program.PlannedResource]:
    """Both stacks' planned resources (the whole zone), each stack file a copy publishing to both."""
    out = []
    for stack in ("prod", "alpha"):
        doc = stack_doc(stack)
        hetzner_too(stack == "prod")(doc["config"])
        path = tmp_path_factory.mktemp("parity") / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.dump(doc, Dumper=DUMPER, sort_keys=False))
        out += program.plan_stack(stack, str(path)).resources
    return out


@pytest.fixture(scope="module")
def servers(tmp_path_factory, resources):
    """Two Knot servers: Cloudflare's rendering on one, Hetzner's on the other; stopped by PID."""
    cf = Knot(tmp_path_factory.mktemp("knot-cloudflare"), {DOMAIN: cloudflare_zone(resources, DOMAIN)})
    hz = Knot(tmp_path_factory.mktemp("knot-hetzner"), {DOMAIN: hetzner_zone(resources, DOMAIN)})
    try:
        cf.start()
        hz.start()
        yield cf, hz
    finally:
        cf.stop()
        hz.stop()


def ask(server: Knot, name: str, rtype: str) -> tuple[frozenset[str], set[int]]:
    query = dns.message.make_query(name, rtype)
    response = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=2)
    sections = [*response.answer, *response.authority]  # a delegation's NS set comes as a referral
    rrsets = [r for r in sections if r.name.to_text() == name and r.rdtype == dns.rdatatype.from_text(rtype)]
    return frozenset(rd.to_text() for r in rrsets for rd in r), {r.ttl for r in rrsets}


def names_of(resources) -> list[str]:
    """Every owner name either provider's inputs hold, absolute."""
    names = {f"{r.inputs['name']}." for r in resources if r.type == RECORD}
    for r in resources:
        if r.type == RRSET:
            names.add(f"{DOMAIN}." if r.inputs["name"] == "@" else f"{r.inputs['name']}.{DOMAIN}.")
    return sorted(names)


def parity(servers, resources) -> tuple[list[str], int]:
    """(problems, answers compared): Hetzner's rendering loaded (a refusal is a problem), every
    (name, type) asked from both servers, and the API's refusals Knot can't see."""
    cf, hz = servers
    problems = [f"Hetzner API: {p}" for p in hetzner_refusals(resources, DOMAIN)]
    try:
        hz.load(DOMAIN, hetzner_zone(resources, DOMAIN))
    except ZoneRefused as e:
        return problems + [f"Knot refused the Hetzner rendering: {e}"], 0
    compared = 0
    for name in names_of(resources):
        for rtype in QUERY_TYPES:
            if rtype == "NS" and name == f"{DOMAIN}.":
                continue  # each provider's own
            a, b = ask(cf, name, rtype), ask(hz, name, rtype)
            compared += bool(a[0] or b[0])
            if a != b:
                problems.append(
                    f"{name} {rtype}: Cloudflare {sorted(a[0])} ttl {a[1]}, Hetzner {sorted(b[0])} ttl {b[1]}"
                )
    return problems, compared


@pytest.fixture
def hetzner_reset(servers, resources):
    """Put the good Hetzner rendering back after a test that loads a broken one."""
    yield
    servers[1].load(DOMAIN, hetzner_zone(resources, DOMAIN))


def broken(resources, name: str, rtype: str, edit) -> list[program.PlannedResource]:
    """The resources with one record set's values changed by ``edit(values)``."""
    out = []
    for r in resources:
        if r.type == RRSET and (r.inputs["name"], r.inputs["type"]) == (name, rtype):
            inputs = copy.deepcopy(r.inputs)
            inputs["records"] = [
                {**rec, "value": v}
                for rec, v in zip(
                    inputs["records"], edit([x["value"] for x in inputs["records"]]), strict=True
                )
            ]
            r = dataclasses.replace(r, inputs=inputs)
        out.append(r)
    return out


def test_both_providers_serve_the_same_zone(servers, resources):
    problems, compared = parity(servers, resources)
    assert problems == []
    # every record set of both stacks answered: prod 26 + 4 extra, alpha 4 (A, AAAA, 2 TXT)
    assert compared == len([r for r in resources if r.type == RRSET]) == 34


def test_a_missing_trailing_dot_is_caught(servers, resources, hetzner_reset):
    bad = broken(resources, "email.mg", "CNAME", lambda vs: [v.rstrip(".") for v in vs])
    problems, _ = parity(servers, bad)
    assert problems == [
        "email.mg.social.coop. CNAME: Cloudflare ['mailgun.org.'] ttl {3600}, "
        "Hetzner ['mailgun.org.social.coop.'] ttl {3600}"
    ]


def test_a_delegation_without_trailing_dots_is_caught(servers, resources, hetzner_reset):
    bad = broken(resources, "lists", "NS", lambda vs: [v.rstrip(".") for v in vs])
    problems, _ = parity(servers, bad)
    assert problems == [
        "lists.social.coop. NS: Cloudflare ['ns1.example.net.', 'ns2.example.org.'] ttl {3600}, "
        "Hetzner ['ns1.example.net.social.coop.', 'ns2.example.org.social.coop.'] ttl {3600}"
    ]


def test_an_unescaped_quote_is_caught(servers, resources, hetzner_reset):
    bad = broken(
        resources, "_dmarc", "TXT", lambda vs: [v.replace("p=quarantine", 'p="quarantine') for v in vs]
    )
    problems, compared = parity(servers, bad)
    assert len(problems) == 1 and problems[0].startswith("Knot refused the Hetzner rendering: ")
    assert compared == 0


def test_a_300_byte_txt_string_is_caught_though_knot_serves_it(servers, resources, hetzner_reset):
    bad = broken(resources, "verify", "TXT", lambda vs: [f'"{LONG}"' for _ in vs])
    problems, _ = parity(servers, bad)
    # Knot splits the string 255 + 45 as Cloudflare does: the answers agree; the API would refuse it
    assert problems == [
        "Hetzner API: hetzner-dns-verify-txt (verify TXT): a TXT string of 300 bytes; the API takes at most 255"
    ]


def test_a_name_written_with_the_zones_suffix_and_a_wrong_ttl_are_caught(servers, resources, hetzner_reset):
    bad = []
    for r in resources:
        if r.type == RRSET and (r.inputs["name"], r.inputs["type"]) == ("www", "CNAME"):
            r = dataclasses.replace(r, inputs={**r.inputs, "name": "www.social.coop"})
        if r.type == RRSET and (r.inputs["name"], r.inputs["type"]) == ("join", "CNAME"):
            r = dataclasses.replace(r, inputs={**r.inputs, "ttl": 600.0})
        bad.append(r)
    problems, _ = parity(servers, bad)
    assert (
        "Hetzner API: hetzner-dns-www-cname (www.social.coop CNAME): the name must be '@' or relative, lower case, without a dot at the end"
        in problems
    )
    assert "www.social.coop. CNAME: Cloudflare ['social.coop.'] ttl {3600}, Hetzner [] ttl set()" in problems
    assert (
        "join.social.coop. CNAME: Cloudflare ['hypha.social.coop.'] ttl {3600}, Hetzner ['hypha.social.coop.'] ttl {600}"
        in problems
    )
