"""SPF lookups measured through a real DNS server, as receivers count them (RFC 7208 §4.6.4).

The local Knot DNS serves social.coop (tools.review.zonefile) and stub zones for the senders'
domains (tests/data/dns). The ``lookups:`` numbers in the stack file are claims: the
measurement must agree with them, and say which sender is wrong and by how much when not.
"""

from __future__ import annotations

import pytest

from components.dns import spf_lookups
from tests.conftest import key
from tools.check.resolver import Resolver
from tools.review import plan as plan_tool

pytestmark = [pytest.mark.dns_server, pytest.mark.usefixtures("local_dns_only")]

BULK = {"mechanism": "include:bulk-mail.example", "lookups": 5, "comment": "claims 5; its chain costs 6"}


@pytest.fixture
def resolver(dns_server) -> Resolver:
    return Resolver(["127.0.0.1"], port=dns_server.port)


def add_bulk(c):
    c[key("mail")]["senders"]["bulk"] = dict(BULK)
    c[key("mail")]["spf"][0]["senders"].append("bulk")


def test_prod_spf_measures_as_declared(load_config, resolver):
    reports = spf_lookups.check_stack(load_config("prod"), resolver)
    assert [(r.name, r.tree.lookups, r.problems) for r in reports] == [
        ("social.coop", 5, []),
        ("mg.social.coop", 2, []),
    ]
    apex = reports[0]
    assert [(s.sender.name, s.declared, s.measured, s.chain) for s in apex.senders] == [
        ("mailgun", 2, 2, "mailgun.org > _spf.mailgun.org"),
        ("zoho", 2, 2, "zoho.eu > spf.zoho.eu"),
        ("mayfirst", 1, 1, "spf.mayfirst.org"),
    ]
    assert (
        apex.line()
        == "social.coop: 5 of 10 DNS lookups: mailgun 2 (declared 2), zoho 2 (declared 2), mayfirst 1 (declared 1)"
    )
    assert resolver.queries >= 5  # really asked: one TXT per record in the tree


@pytest.mark.parametrize(("claim", "how"), [(1, "1 more than declared"), (3, "1 fewer than declared")])
def test_a_wrong_claim_names_the_sender_and_the_difference(load_config, resolver, claim, how):
    cfg = load_config("prod", lambda c: c[key("mail")]["senders"]["mailgun"].update(lookups=claim))
    problems = [p for r in spf_lookups.check_stack(cfg, resolver) for p in r.problems]
    expected = f"{cfg.source}: socialcoop-infra:mail.senders.mailgun.lookups = {claim}: measured 2 (mailgun.org > _spf.mailgun.org), {how}"
    assert problems == [expected, expected]  # in social.coop's record and in mg's


def test_a_chain_that_pushes_the_total_over_ten_fails_naming_it(load_config, resolver):
    cfg = load_config("prod", add_bulk)  # declared: 2 + 2 + 1 + 5 = 10, which the loader accepts
    apex = spf_lookups.check_stack(cfg, resolver)[0]
    assert apex.tree.lookups == 11
    chain = "bulk-mail.example > _spf1.bulk-mail.example > _spf2.bulk-mail.example > _spf3.bulk-mail.example"
    assert apex.problems == [
        f"{cfg.source}: socialcoop-infra:mail.senders.bulk.lookups = 5: measured 6 ({chain}), 1 more than declared",
        "social.coop: the SPF record (mail.spf[0]) needs 11 DNS lookups, measured (mailgun 2, zoho 2, "
        "mayfirst 1, bulk 6); RFC 7208 section 4.6.4 allows at most 10; the longest chain: bulk 6 "
        f"({chain})",
    ]


def test_an_include_without_an_spf_record_is_a_permerror(resolver):
    tree = spf_lookups.measure(
        "social.coop", resolver, "v=spf1 include:forwarding.example a:nosuch.social.coop -all"
    )
    assert tree.lookups == 2 and tree.void == 1
    assert tree.errors() == ["forwarding.example: no SPF record: permerror"]


def test_redirect_counts_and_an_include_loop_stops(resolver):
    tree = spf_lookups.measure("redirect.bulk-mail.example", resolver)
    assert (tree.lookups, tree.errors()) == (1, [])
    assert tree.terms[0].chain() == "_spf3.bulk-mail.example"
    tree = spf_lookups.measure("loop.bulk-mail.example", resolver)
    assert tree.errors() == ["loop.bulk-mail.example: include loop"]
    assert tree.lookups == 2  # loop -> loop2 -> loop (not followed again)


def test_plan_shows_measured_lookups(capsys, dns_server):
    assert plan_tool.main(["prod", "--nameserver", "127.0.0.1", "--port", str(dns_server.port)]) == 0
    out = capsys.readouterr().out
    section = out[out.index("SPF lookups (measured through 127.0.0.1:") :].splitlines()
    assert section[1:] == [
        "  social.coop: 5 of 10 DNS lookups: mailgun 2 (declared 2), zoho 2 (declared 2), mayfirst 1 (declared 1)",
        "  mg.social.coop: 2 of 10 DNS lookups: mailgun 2 (declared 2)",
    ]


def test_plan_fails_at_eleven_measured_lookups(capsys, dns_server, write_stack):
    path = write_stack("prod", add_bulk)
    argv = ["prod", "--config", str(path), "--nameserver", "127.0.0.1", "--port", str(dns_server.port)]
    assert plan_tool.main(argv) == 1
    out, err = capsys.readouterr()
    assert (
        "  social.coop: 11 of 10 DNS lookups: mailgun 2 (declared 2), zoho 2 (declared 2), mayfirst 1 (declared 1), bulk 6 (declared 5)"
        in out
    )
    assert "error: social.coop: the SPF record (mail.spf[0]) needs 11 DNS lookups" in err
    assert "socialcoop-infra:mail.senders.bulk.lookups = 5: measured 6" in err
