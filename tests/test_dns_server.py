"""The zone tools.review.zonefile writes, loaded into a real Knot DNS and asked with dnspython.

Every record both stacks declare (their offline plans' DnsRecord resources) must answer
from the server exactly as planned: type, name, content, TTL, TXT character-strings of at
most 255 bytes. A zone the server refuses fails with the server's own message.
"""

from __future__ import annotations

import re

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.dns_server import NAMESERVERS, ZoneRefused, social_coop_zone
from tools.check.resolver import Resolver

pytestmark = [pytest.mark.dns_server, pytest.mark.usefixtures("local_dns_only")]

QUOTED = re.compile(r'"([^"]*)"')


def planned(plan) -> dict[tuple[str, str], set]:
    """(name, type) -> {(ttl, data)} from the plan's cloudflare DnsRecord inputs."""
    out: dict[tuple[str, str], set] = {}
    for r in plan.resources:
        if r.type != "cloudflare:index/dnsRecord:DnsRecord":
            continue
        i = r.inputs
        if i["type"] == "TXT":
            content = i["content"]
            data = tuple(QUOTED.findall(content)) if content.startswith('"') else (content,)
        elif i["type"] == "MX":
            data = (int(i["priority"]), i["content"])
        elif i["type"] == "CAA":
            data = (int(i["data"]["flags"]), i["data"]["tag"], i["data"]["value"])
        else:
            data = i["content"]
        out.setdefault((i["name"], i["type"]), set()).add((int(i["ttl"]), data))
    return out


def served(resolver: Resolver, name: str, rtype: str) -> set:
    out = set()
    for ttl, rd in resolver.query(name, rtype).of(rtype):
        if rtype == "TXT":
            data = tuple(s.decode() for s in rd.strings)
        elif rtype == "MX":
            data = (rd.preference, rd.exchange.to_text().rstrip("."))
        elif rtype == "CAA":
            data = (rd.flags, rd.tag.decode(), rd.value.decode())
        elif rtype == "CNAME":
            data = rd.target.to_text().rstrip(".")
        else:
            data = rd.address
        out.add((ttl, data))
    return out


@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_every_planned_record_answers_from_the_server_as_planned(dns_server, plan, stack):
    resolver = Resolver(["127.0.0.1"], port=dns_server.port)
    expected = planned(plan(stack))
    assert len(expected) > (15 if stack == "prod" else 3)
    for (name, rtype), records in expected.items():
        assert served(resolver, name, rtype) == records, (name, rtype)
    if stack == "prod":  # the 2048-bit DKIM key: two strings, the first 255 bytes
        (_, dkim), *_ = served(resolver, "k1._domainkey.mg.social.coop", "TXT")
        assert [len(s) for s in dkim][0] == 255 and len(dkim) == 2


def test_the_zone_has_its_soa_and_name_servers(dns_server):
    resolver = Resolver(["127.0.0.1"], port=dns_server.port)
    ns = {rd.target.to_text() for _, rd in resolver.query("social.coop", "NS").of("NS")}
    assert ns == {f"{n}." for n in NAMESERVERS}
    (_, soa), *_ = resolver.query("social.coop", "SOA").of("SOA")
    assert (soa.mname.to_text(), soa.rname.to_text(), soa.serial) == (
        "ns1.example.net.",
        "hostmaster.social.coop.",
        1,
    )
    # authoritative: the answer has the AA flag, and a name that does not exist is NXDOMAIN
    r = dns.query.udp(
        dns.message.make_query("nosuch.social.coop", "A"), "127.0.0.1", port=dns_server.port, timeout=2
    )
    assert r.flags & dns.flags.AA and dns.rcode.to_text(r.rcode()) == "NXDOMAIN"


def test_a_zone_the_server_refuses_fails_with_its_message(fresh_zone):
    # a CNAME beside other data: components/dns/checks.py refuses it in a stack file, so break the text
    text = social_coop_zone(serial=2) + "mg 300 IN CNAME mailgun.org.\n"
    with pytest.raises(ZoneRefused) as info:
        fresh_zone.load("social.coop", text)
    message = str(info.value)
    assert "[social.coop.]" in message and "mg.social.coop." in message and "CNAME" in message
    # the server keeps serving the last good zone
    resolver = Resolver(["127.0.0.1"], port=fresh_zone.port)
    assert not resolver.query("mg.social.coop", "CNAME").of("CNAME")
    assert resolver.query("mg.social.coop", "MX").of("MX")


def test_the_complete_zone_can_come_from_the_stack_file(capsys, write_stack):
    from tools.review import zonefile

    def self_host(c):
        c["socialcoop-infra:dns"]["self_hosting"] = {
            "nameservers": ["ns1.example.net", "ns2.example.org."],
            "hostmaster": "tech.team@social.coop",
        }

    path = write_stack("prod", self_host)
    assert (
        zonefile.main(["prod", "--config", str(path), "--serial", "7", "--address", "hypha=203.0.113.30"])
        == 0
    )
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert lines[4:7] == [
        "@ 3600 IN SOA ns1.example.net. tech\\.team.social.coop. 7 3600 900 1209600 300",
        "@ 3600 IN NS ns1.example.net.",
        "@ 3600 IN NS ns2.example.org.",
    ]
