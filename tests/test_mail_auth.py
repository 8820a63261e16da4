"""Mail authentication builders: exact output strings, the SPF lookup limit, and every SPF
and DMARC the two stacks produce parsed by checkdmarc (with a stub resolver: no network)."""

from __future__ import annotations

import checkdmarc.utils
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import pytest
from checkdmarc.dmarc import parse_dmarc_record
from checkdmarc.mta_sts import parse_mta_sts_record
from checkdmarc.smtp_tls_reporting import parse_smtp_tls_reporting_record
from checkdmarc.spf import parse_spf_record

from components.core.errors import ConfigError
from components.dns import mail_auth
from components.dns.mail_models import Sender
from components.dns.records import fqdn, resolve
from tests.conftest import key

MAILGUN = Sender(mechanism="include:mailgun.org", lookups=2).named("mailgun")
ZOHO = Sender(mechanism="include:zoho.eu", lookups=2).named("zoho")
MAYFIRST = Sender(mechanism="include:spf.mayfirst.org", lookups=1).named("mayfirst")
OFFICE = Sender(mechanism="ip4:192.0.2.0/24", lookups=0).named("office")
CF_RUA = "mailto:00000000000000000000000000000000@dmarc-reports.cloudflare.net"


# --------------------------------------------------------------------------- SPF


def test_spf_lists_each_sender_in_order_then_all():
    assert (
        mail_auth.spf([MAILGUN, ZOHO, MAYFIRST])
        == "v=spf1 include:mailgun.org include:zoho.eu include:spf.mayfirst.org -all"
    )
    assert mail_auth.spf([MAILGUN], "~all") == "v=spf1 include:mailgun.org ~all"
    assert mail_auth.spf([OFFICE, MAILGUN]) == "v=spf1 ip4:192.0.2.0/24 include:mailgun.org -all"
    assert mail_auth.spf([]) == mail_auth.NO_MAIL_SPF == "v=spf1 -all"


def test_lookups_counts_querying_mechanisms_only():
    assert mail_auth.lookups(OFFICE) == 0
    assert mail_auth.lookups(Sender(mechanism="ip6:2001:db8::/32", lookups=0).named("six")) == 0
    assert mail_auth.lookups(MAILGUN) == 2
    # a, mx, exists, ptr cost at least one even if misconfigured as 0
    for mech in ("a", "mx", "a:mail.example.org", "mx:example.org", "exists:%{i}.example.org", "ptr"):
        assert mail_auth.lookups(Sender(mechanism=mech, lookups=1).named("x")) == 1, mech


def test_spf_allows_exactly_ten_lookups():
    senders = [Sender(mechanism=f"include:s{i}.example.org", lookups=2).named(f"s{i}") for i in range(5)]
    assert mail_auth.spf(senders).count("include:") == 5


def test_spf_refuses_more_than_ten_lookups():
    senders = [Sender(mechanism=f"include:s{i}.example.org", lookups=2).named(f"s{i}") for i in range(5)]
    senders.append(Sender(mechanism="a:mail.example.org", lookups=1).named("extra"))
    with pytest.raises(ConfigError) as info:
        mail_auth.spf(senders, source="Pulumi.prod.yaml", path="mail.spf[0]")
    e = info.value
    assert e.path == "mail.spf[0].senders"
    assert "needs 11 DNS lookups" in str(e)
    assert "extra 1" in str(e) and "RFC 7208 section 4.6.4" in str(e) and "at most 10" in str(e)


def test_stack_refuses_spf_over_the_limit(config_error):
    def mutate(c):
        c[key("mail")]["senders"]["bulk"] = {"mechanism": "include:bulk.example.org", "lookups": 6}
        c[key("mail")]["spf"][0]["senders"].append("bulk")

    e = config_error("prod", mutate)
    assert str(e).split(": ", 1)[1].startswith("socialcoop-infra:mail.spf[0].senders = ")
    assert '"bulk"' in str(e) and "needs 11 DNS lookups" in str(e)


# --------------------------------------------------------------------------- DMARC


def test_dmarc_tags_in_canonical_order():
    assert (
        mail_auth.dmarc("quarantine", "reject", rua=[CF_RUA])
        == f"v=DMARC1; p=quarantine; sp=reject; rua={CF_RUA}; adkim=r; aspf=r"
    )
    assert mail_auth.dmarc("reject") == "v=DMARC1; p=reject; adkim=r; aspf=r"
    assert (
        mail_auth.dmarc(
            "none",
            "quarantine",
            50,
            ["mailto:a@example.org", "mailto:b@example.org"],
            ["mailto:f@example.org"],
            "s",
            "s",
        )
        == "v=DMARC1; p=none; sp=quarantine; pct=50; rua=mailto:a@example.org,mailto:b@example.org; "
        "ruf=mailto:f@example.org; adkim=s; aspf=s"
    )


# --------------------------------------------------------------------------- DKIM, CAA, MTA-STS


def test_dkim_record_and_names():
    assert mail_auth.dkim("MIIBIjAN") == "v=DKIM1; k=rsa; p=MIIBIjAN"
    assert mail_auth.dkim("11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", "ed25519") == (
        "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    )
    assert mail_auth.dkim_name("mg", "k1") == "k1._domainkey.mg"
    assert mail_auth.dkim_name("@", "zoho") == "zoho._domainkey"
    assert mail_auth.dmarc_name("@") == "_dmarc"
    assert mail_auth.dmarc_name("alpha") == "_dmarc.alpha"


def test_caa_only_lets_encrypt_no_wildcards_with_iodef():
    pairs = mail_auth.caa(["letsencrypt.org"], "mailto:tech@social.coop")
    assert [mail_auth.caa_content(t, v) for t, v in pairs] == [
        '0 issue "letsencrypt.org"',
        '0 issuewild ";"',
        '0 iodef "mailto:tech@social.coop"',
    ]
    assert mail_auth.caa(["letsencrypt.org"], "mailto:tech@social.coop", wildcard=True) == [
        ("issue", "letsencrypt.org"),
        ("iodef", "mailto:tech@social.coop"),
    ]


def test_mta_sts_and_tls_rpt_parse_with_checkdmarc():
    sts = mail_auth.mta_sts("20240101")
    rpt = mail_auth.tls_rpt(["mailto:tls-reports@social.coop", "https://reports.example.org/tls"])
    assert sts == "v=STSv1; id=20240101"
    assert rpt == "v=TLSRPTv1; rua=mailto:tls-reports@social.coop,https://reports.example.org/tls"
    assert parse_mta_sts_record(sts) == {"tags": {"v": "STSv1", "id": "20240101"}, "warnings": []}
    parsed = parse_smtp_tls_reporting_record(rpt)
    assert parsed["warnings"] == []
    assert parsed["tags"]["rua"]["value"] == [
        "mailto:tls-reports@social.coop",
        "https://reports.example.org/tls",
    ]


# --------------------------------------------------------------------------- checkdmarc


class StubResolver(dns.resolver.Resolver):
    """Answers from a dict, NXDOMAIN for everything else: checkdmarc never reaches the network."""

    def __init__(self, records: dict[tuple[str, str], list[str]]):
        super().__init__(configure=False)
        self.nameservers = ["192.0.2.53"]
        self.records = records

    def resolve(self, qname, rdtype="A", *args, **kwargs):
        name, rtype = str(qname).rstrip(".").lower(), str(rdtype).upper()
        if (name, rtype) not in self.records:
            raise dns.resolver.NXDOMAIN(qnames=[dns.name.from_text(name)])
        rdtype_ = dns.rdatatype.from_text(rtype)
        return [dns.rdata.from_text(dns.rdataclass.IN, rdtype_, t) for t in self.records[(name, rtype)]]


def sender_zone(senders) -> dict[tuple[str, str], list[str]]:
    """For each include:, a chain of SPF records costing exactly the configured lookups, so
    checkdmarc's own count can be compared with ours."""
    records: dict[tuple[str, str], list[str]] = {}
    for s in senders:
        if not s.mechanism.startswith("include:"):
            continue
        target = s.mechanism.removeprefix("include:")
        for depth in range(s.lookups):
            nested = f"n{depth + 1}.{target}"
            last = depth == s.lookups - 1
            body = "ip4:192.0.2.0/24 ~all" if last else f"include:{nested} ~all"
            records[(target if depth == 0 else f"n{depth}.{target}", "TXT")] = [f'"v=spf1 {body}"']
    return records


REPORTS = {
    ("*._report._dmarc.dmarc-reports.cloudflare.net", "TXT"): ['"v=DMARC1"'],
    ("dmarc-reports.cloudflare.net", "MX"): ["10 mx.dmarc-reports.example."],
}


@pytest.fixture(autouse=True)
def fresh_dns_cache():
    checkdmarc.utils.DNS_CACHE.clear()
    yield
    checkdmarc.utils.DNS_CACHE.clear()


@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_every_spf_and_dmarc_of_the_stacks_passes_checkdmarc(load_config, stack):
    cfg = load_config(stack)
    senders = cfg.mail.senders.values() if cfg.mail else []
    resolver = StubResolver({**sender_zone(senders), **REPORTS})
    spf = [r for r in resolve(cfg) if r.type == "TXT" and r.own_content.startswith("v=spf1")]
    dmarc = [r for r in resolve(cfg) if r.type == "TXT" and r.own_content.startswith("v=DMARC1")]
    assert spf and dmarc
    expected_lookups = {
        s.name: sum(mail_auth.lookups(cfg.mail.senders[n]) for n in s.senders) for s in cfg.mail.spf
    }
    for r in spf:
        parsed = parse_spf_record(
            r.content, fqdn(r.name, cfg.domain), resolver=resolver, timeout=0.5, retries=0
        )
        assert parsed["warnings"] == [], (r.key, parsed["warnings"])
        assert parsed["dns_lookups"] == expected_lookups.get(r.name, 0), r.key
    for r in dmarc:
        domain = fqdn(r.name, cfg.domain).removeprefix("_dmarc.")
        parsed = parse_dmarc_record(r.content, domain, resolver=resolver, timeout=0.5, retries=0)
        assert parsed["warnings"] == [], (r.key, parsed["warnings"])
        assert parsed["tags"]["p"]["value"] in ("quarantine", "reject")
        assert parsed["tags"]["rua"]["value"][0]["address"].endswith("@dmarc-reports.cloudflare.net")


def test_prod_spf_costs_five_lookups_by_checkdmarcs_count(load_config):
    """The apex SPF as checkdmarc counts it: mailgun 2 + zoho 2 + mayfirst 1."""
    cfg = load_config("prod")
    apex = next(r for r in resolve(cfg) if r.key == "apex-txt-spf")
    resolver = StubResolver(sender_zone(cfg.mail.senders.values()))
    assert (
        parse_spf_record(apex.content, "social.coop", resolver=resolver, timeout=0.5, retries=0)[
            "dns_lookups"
        ]
        == 5
    )


def test_checkdmarc_agrees_that_eleven_lookups_is_too_many():
    """Our limit is RFC 7208's, the same checkdmarc applies."""
    senders = [Sender(mechanism=f"include:s{i}.example.org", lookups=2).named(f"s{i}") for i in range(5)]
    senders.append(Sender(mechanism="include:extra.example.org", lookups=1).named("extra"))
    record = " ".join(["v=spf1", *(s.mechanism for s in senders), "-all"])
    with pytest.raises(checkdmarc.spf.SPFTooManyDNSLookups):
        parse_spf_record(
            record, "social.coop", resolver=StubResolver(sender_zone(senders)), timeout=0.5, retries=0
        )
    with pytest.raises(ConfigError):
        mail_auth.spf(senders)


def test_plan_without_dns_shows_the_declared_counts(capsys):
    """Offline, the plan lists the claims (tests/test_spf_lookups.py measures them)."""
    from tools.review import plan as plan_tool

    assert plan_tool.main(["prod"]) == 0
    assert "  social.coop: 5 of 10: mailgun 2, zoho 2, mayfirst 1\n" in capsys.readouterr().out
