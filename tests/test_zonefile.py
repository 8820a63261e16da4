"""The zone-file export parses with dnspython and holds exactly the stack's records."""

from __future__ import annotations

import dns.name
import dns.rdatatype
import dns.zone
import pytest

from components.dns.records import resolve
from tests.conftest import key
from tools.check.resolver import Rdata
from tools.review import zonefile

HYPHA = "hypha=203.0.113.30,2001:db8:30::2"


def export(capsys, *argv: str) -> str:
    assert zonefile.main(list(argv)) == 0
    return capsys.readouterr().out


def parse(text: str) -> dns.zone.Zone:
    # check_origin=False: the file has no SOA/NS on purpose (they are the DNS host's)
    # relativize=False: targets stay absolute (hypha.social.coop.), as written
    return dns.zone.from_text(text, origin="social.coop.", relativize=False, check_origin=False)


ORIGIN = dns.name.from_text("social.coop.")


def records_of(zone: dns.zone.Zone) -> set[tuple]:
    """(name, type, ttl, data) for every record, data compared field by field."""
    out = set()
    rd: Rdata  # its fields are its type's
    data: object
    for name, ttl, rd in zone.iterate_rdatas():
        rtype = dns.rdatatype.to_text(rd.rdtype)
        if rtype == "TXT":
            assert all(len(s) <= 255 for s in rd.strings)
            data = b"".join(rd.strings).decode()
        elif rtype in ("A", "AAAA"):
            data = rd.address
        elif rtype == "CNAME":
            data = rd.target.to_text()
        elif rtype == "MX":
            data = (rd.preference, rd.exchange.to_text())
        elif rtype == "CAA":
            data = (rd.flags, rd.tag.decode(), rd.value.decode())
        else:
            data = rd.to_text()
        out.add((name.relativize(ORIGIN).to_text(), rtype, ttl, data))
    return out


def expected(cfg, addresses) -> set[tuple]:
    """The same records computed from resolve(): what the file must hold."""
    out = set()
    data: object
    for r in resolve(cfg):
        if r.host is None:
            content = r.own_content
        else:
            content = addresses[r.host][r.type] if r.type != "CNAME" else cfg.hosts[r.host].fqdn
        if r.type == "CNAME":
            data = content + "."
        elif r.type == "MX":
            data = (r.priority, content + ".")
        elif r.type == "CAA":
            flags, tag, value = content.split(" ", 2)
            data = (int(flags), tag, value.strip('"'))
        else:
            data = content
        out.add((r.name, r.type, r.ttl, data))
    return out


def test_prod_zone_file_holds_every_record(capsys, load_config):
    text = export(capsys, "prod", "--address", HYPHA)
    zone = parse(text)
    addresses = {
        "rhizome": {"A": "203.0.113.10", "AAAA": "2001:db8:10::2"},
        "pando": {"A": "198.51.100.20", "AAAA": "2001:db8:20::2"},
        "hypha": {"A": "203.0.113.30", "AAAA": "2001:db8:30::2"},
    }
    got = records_of(zone)
    assert got == expected(load_config("prod"), addresses)
    assert len(got) == len(resolve(load_config("prod")))
    # the DKIM key is longer than 255 bytes: two character-strings
    dkim = zone.find_rdataset("k1._domainkey.mg.social.coop.", "TXT")[0]
    assert [len(s) for s in dkim.strings][0] == 255 and len(dkim.strings) == 2
    assert "$ORIGIN social.coop.\n$TTL 3600\n" in text


def test_hetzner_cloud_addresses_are_comments_until_given(capsys, load_config):
    text = export(capsys, "prod")
    zone = parse(text)
    hypha = "hypha.social.coop."
    assert zone.get_rdataset(hypha, "A") is None and zone.get_rdataset(hypha, "AAAA") is None
    assert zone.get_rdataset(hypha, "TXT") is not None
    assert "; hypha" in text and "--address hypha=IPV4,IPV6" in text
    # the CNAMEs to hypha only need its name, which is known
    assert zone.find_rdataset("wiki.social.coop.", "CNAME")[0].target.to_text() == "hypha.social.coop."
    assert len(list(zone.iterate_rdatas())) == len(resolve(load_config("prod"))) - 2


def test_alpha_zone_file_holds_only_alpha_names(capsys, load_config):
    zone = parse(export(capsys, "alpha"))
    names = {n.to_text() for n in zone.nodes}
    assert names == {"alpha.social.coop.", "_dmarc.alpha.social.coop."}
    addresses = {"alpha": {"A": "198.51.100.20", "AAAA": "2001:db8:20::2"}}
    assert records_of(zone) == expected(load_config("alpha"), addresses)


def test_zone_file_reflects_migration_ttl_and_other_config(capsys, write_stack):
    def migrate(c):
        c[key("migration")] = {"ttl": 300, "records": ["@ A"]}

    path = write_stack("prod", migrate)
    zone = parse(export(capsys, "prod", "--config", str(path), "--address", HYPHA))
    assert zone.find_rdataset("social.coop.", "A").ttl == 300
    assert zone.find_rdataset("social.coop.", "AAAA").ttl == 3600


def test_zone_file_refuses_bad_addresses_and_unknown_hosts(capsys):
    with pytest.raises(SystemExit):
        zonefile.main(["prod", "--address", "hypha=203.0.113.300"])
    with pytest.raises(SystemExit):
        zonefile.main(["prod", "--address", "nosuch=203.0.113.3"])
    assert "not a host of this stack" in capsys.readouterr().err


def test_zone_file_reports_config_errors_cleanly(capsys, write_stack):
    path = write_stack(
        "alpha", lambda c: c[key("dns")]["records"].update(www=[{"type": "A", "host": "alpha"}])
    )
    assert zonefile.main(["alpha", "--config", str(path)]) == 2
    assert "error:" in capsys.readouterr().err


def test_self_hosting_setting_is_checked(config_error):
    def setting(**value):
        return lambda c: c[key("dns")].update(self_hosting=value)

    e = config_error("prod", setting(nameservers=["ns1"], hostmaster="hostmaster@social.coop"))
    assert e.path == "dns.self_hosting.nameservers[0]" and "a name server's full name" in str(e)
    e = config_error("prod", setting(nameservers=["ns1.example.net"], hostmaster="hostmaster"))
    assert e.path == "dns.self_hosting.hostmaster" and "an email address" in str(e)
    e = config_error("prod", setting(nameservers=[], hostmaster="hostmaster@social.coop"))
    assert e.path == "dns.self_hosting.nameservers" and "at least one name server" in str(e)
    e = config_error("alpha", setting(nameservers=["ns1.example.net"], hostmaster="hostmaster@social.coop"))
    assert e.path == "dns.self_hosting" and "belong to the stack that owns the apex (prod)" in str(e)


def test_complete_zone_options_are_checked(capsys):
    with pytest.raises(SystemExit):
        zonefile.main(["prod", "--ns", "ns1"])
    assert "--ns ns1: expected a name server's full name" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        zonefile.main(["prod", "--hostmaster", "tech@social.coop"])
    assert "--hostmaster needs --ns" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        zonefile.main(["prod", "alpha", "--config", "Pulumi.prod.yaml"])
    assert "give --config once per stack (2)" in capsys.readouterr().err


def test_both_stacks_make_one_zone(capsys):
    text = export(capsys, "prod", "alpha", "--ns", "ns1.example.net", "--serial", "3", "--address", HYPHA)
    zone = dns.zone.from_text(text, origin="social.coop.", relativize=False)  # checks SOA and NS
    assert zone.get_soa().serial == 3 and zone.get_soa().rname.to_text() == "hostmaster.social.coop."
    assert zone.get_rdataset("alpha.social.coop.", "A") is not None
    assert zone.get_rdataset("social.coop.", "A") is not None
    assert text.splitlines()[:2] == [
        "; social.coop: the records of the prod and alpha stacks (Pulumi.prod.yaml, Pulumi.alpha.yaml).",
        "; Made by `python -m tools.zonefile prod alpha`.",
    ]
