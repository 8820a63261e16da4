"""tools.check.dns against the local Knot DNS: a served zone that matches the plan passes;
each kind of difference is reported in one line and makes the exit status 1; checkdmarc's
full domain check, run against the same server, agrees with our SPF and DMARC verdicts."""

from __future__ import annotations

import checkdmarc
import checkdmarc.utils
import dns.nameserver
import pytest

from components.core import boundary
from components.core.config import REPO_ROOT
from components.dns import spf_lookups
from components.dns.records import resolve
from tests.conftest import key
from tests.dns_server import planned_address, social_coop_zone
from tools.check import dns as check_dns
from tools.check.resolver import Resolver, authoritative
from tools.review import stackfile

pytestmark = [pytest.mark.dns_server, pytest.mark.usefixtures("local_dns_only")]
ALPHA = str(REPO_ROOT / "Pulumi.alpha.yaml")


def run(capsys, server, stack: str, *argv: str) -> tuple[int, list[str]]:
    rc = check_dns.main([stack, "--nameserver", "127.0.0.1", "--port", str(server.port), *argv])
    return rc, capsys.readouterr().out.splitlines()


def serve(server, prod_path, serial: int) -> None:
    """What `pulumi up` would do to the zone: serve the zone of this prod stack file (and alpha's)."""
    server.load("social.coop", social_coop_zone("--config", str(prod_path), "--config", ALPHA, serial=serial))


@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_the_served_zone_matches_both_plans(capsys, dns_server, stack):
    address = ["--address", planned_address("hypha")] if stack == "prod" else []
    rc, out = run(capsys, dns_server, stack, *address)
    assert rc == 0, out
    assert out[-1] == "no differences: DNS serves the plan"
    records = resolve(stackfile.read_stack(stack).config())  # counted, so a new record changes nothing here
    names = len({r.name for r in records})
    assert out[0] == f"{stack}: {len(records)} planned records at {names} names"
    if stack == "prod":
        assert (
            "SPF: social.coop: 5 of 10 DNS lookups: mailgun 2 (declared 2), zoho 2 (declared 2), mayfirst 1 (declared 1)"
            in out
        )
        assert (
            f"CAA: {names} name(s) covered by social.coop's set: issue letsencrypt.org; wildcards none" in out
        )
    else:
        assert out[1].startswith("DMARC: _dmarc.alpha.social.coop: p=reject, sp=reject, reports to mailto:")
        assert out[2] == "CAA: 2 name(s) covered by social.coop's set: issue letsencrypt.org; wildcards none"


def test_every_kind_of_difference_is_reported(capsys, fresh_zone, write_stack):
    def drift(c):
        records = c[key("dns")]["records"]
        del records["join"]  # missing
        records["www"][0]["ttl"] = 600  # stale TTL
        records["traefik"] = [{"type": "CNAME", "value": "rhizome.social.coop"}]  # other content
        records["pando"].append({"type": "TXT", "value": "site-verification=0000"})  # undeclared
        c[key("mail")]["dmarc"][0]["p"] = "none"
        c[key("dns")]["imports"].pop("join-cname")

    serve(fresh_zone, write_stack("prod", drift), serial=2)
    rc, out = run(capsys, fresh_zone, "prod", "--gone", "join", "--gone", "pando.social.coop")
    assert rc == 1
    differences = [line.removeprefix("difference: ") for line in out if line.startswith("difference: ")]
    dmarc = "v=DMARC1; p={}; sp=reject; rua=mailto:00000000000000000000000000000000@dmarc-reports.cloudflare.net; adkim=r; aspf=r"
    assert sorted(differences) == sorted(
        [
            "missing: join.social.coop CNAME hypha.social.coop (ttl 3600)",
            "stale TTL: www.social.coop CNAME social.coop: served 600, planned 3600",
            'undeclared: pando.social.coop TXT "site-verification=0000" (ttl 3600)',
            "other content: traefik.social.coop CNAME: served rhizome.social.coop, planned hypha.social.coop",
            f'other content: _dmarc.social.coop TXT: served "{dmarc.format("none")}", planned "{dmarc.format("quarantine")}"',
            "still there: pando.social.coop A 198.51.100.20 (ttl 3600)",
            "still there: pando.social.coop AAAA 2001:db8:20::2 (ttl 3600)",
            'still there: pando.social.coop TXT "v=spf1 -all" (ttl 3600)',
            'still there: pando.social.coop TXT "site-verification=0000" (ttl 3600)',
            f"DMARC: _dmarc.social.coop: served {dmarc.format('none')!r}, planned {dmarc.format('quarantine')!r}",
        ]
    )
    assert out[-1] == f"{len(differences)} difference(s)"


def test_it_needs_to_be_told_where_to_ask(capsys):
    with pytest.raises(SystemExit):
        check_dns.main(["prod"])
    assert "--live (public DNS) or --nameserver" in capsys.readouterr().err


def test_a_server_that_does_not_serve_the_zone_is_an_error_not_a_pass(capsys, dns_server, monkeypatch):
    monkeypatch.setattr(boundary, "ZONE", "social.invalid")  # a zone the server doesn't serve
    monkeypatch.setattr(boundary, "ALPHA_DOMAIN", "alpha.social.invalid")
    path = REPO_ROOT / "Pulumi.alpha.yaml"
    rc = check_dns.main(
        ["alpha", "--config", str(path), "--nameserver", "127.0.0.1", "--port", str(dns_server.port)]
    )
    assert rc == 2
    assert capsys.readouterr().err.startswith("error: alpha.social.invalid A: no answer (127.0.0.1: REFUSED)")


def test_live_finds_the_zones_own_name_servers_and_asks_them_without_recursion(dns_server):
    via = Resolver(["127.0.0.1"], port=dns_server.port)  # --live uses the machine's resolvers here
    zone = authoritative("social.coop", via, port=dns_server.port)
    assert (
        zone.nameservers == ["127.0.0.1", "127.0.0.1"] and zone.recursion is False
    )  # ns1.example.net, ns2.example.org
    assert [ttl for ttl, _ in zone.query("social.coop", "A").of("A")] == [3600]


# --------------------------------------------------------------------------- checkdmarc


def checkdmarc_of(server, domain: str) -> dict:
    checkdmarc.utils.DNS_CACHE.clear()
    return checkdmarc.check_domains(
        [domain], nameservers=[dns.nameserver.Do53Nameserver("127.0.0.1", server.port)], timeout=2, retries=0
    )


@pytest.mark.parametrize("domain", ["social.coop", "mg.social.coop", "alpha.social.coop"])
def test_checkdmarcs_full_check_passes_and_agrees_with_ours(dns_server, load_config, domain):
    result = checkdmarc_of(dns_server, domain)
    spf, dmarc = result["spf"], result["dmarc"]
    assert spf["valid"] and dmarc["valid"], (spf, dmarc)
    assert spf["warnings"] == [] and dmarc["warnings"] == []
    assert result["soa"]["values"]["primary_nameserver"] == "ns1.example.net"
    assert result["ns"]["hostnames"] == (
        [] if domain != "social.coop" else ["ns1.example.net", "ns2.example.org"]
    )
    # SPF: the same lookup count as our measurement
    resolver = Resolver(["127.0.0.1"], port=dns_server.port)
    ours = spf_lookups.measure(domain, resolver)
    assert spf["dns_lookups"] == ours.lookups and spf["void_dns_lookups"] == ours.void == 0
    # DMARC: the policy that applies (checkdmarc looks up the organisational domain too)
    cfg = load_config("alpha" if domain.startswith("alpha") else "prod")
    lines, problems = check_dns.dmarc_verdicts(cfg, resolver)
    assert problems == []
    where = dmarc["location"]
    ours_line = next(line for line in lines if line.startswith(f"DMARC: _dmarc.{where}:"))
    theirs = f"p={dmarc['tags']['p']['value']}, sp={dmarc['tags']['sp']['value']}"
    assert ours_line.startswith(f"DMARC: _dmarc.{where}: {theirs}, reports to ")


def test_checkdmarc_and_we_both_fail_the_eleven_lookup_record(fresh_zone, load_config, write_stack):
    def add_bulk(c):
        c[key("mail")]["senders"]["bulk"] = {"mechanism": "include:bulk-mail.example", "lookups": 5}
        c[key("mail")]["spf"][0]["senders"].append("bulk")

    serve(fresh_zone, write_stack("prod", add_bulk), serial=2)
    spf = checkdmarc_of(fresh_zone, "social.coop")["spf"]
    assert spf["valid"] is False and "DNS lookups" in spf["error"], spf
    ours = spf_lookups.check_stack(
        load_config("prod", add_bulk), Resolver(["127.0.0.1"], port=fresh_zone.port)
    )
    assert ours[0].tree.lookups == 11 and any("needs 11 DNS lookups" in p for p in ours[0].problems)
