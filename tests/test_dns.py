"""DNS records as data: stable logical keys, every validation rule (a failing example and its
message), ownership between the stacks, migrations in place, and the Zone component."""

from __future__ import annotations

import pulumi
import pytest

from components.dns.providers.cloudflare import cloudflare_fields
from components.dns.records import quoted, resolve, txt_strings
from components.dns.zone import Zone, ZoneArgs
from components.hosts.addresses import HostAddresses
from tests.conftest import key
from tools.review.plan import to_json
from tools.review.program import plan_stack

CLOUDFLARE = "cloudflare:index/dnsRecord:DnsRecord"
ZONE_ID = "00000000000000000000000000000000"


def records(c) -> dict:
    return c[key("dns")]["records"]


def add(name: str, *new: dict):
    """mutate: append records at a name."""
    return lambda c: records(c).setdefault(name, []).extend(new)


def message(e) -> str:
    """The part of a ConfigError after the (temporary) file name."""
    return str(e).split(": ", 1)[1]


# --------------------------------------------------------------------------- resolve


def test_prod_resolves_declared_and_generated_records_with_stable_keys(load_config):
    by_key = {r.key: r for r in resolve(load_config("prod"))}
    assert list(by_key)[:5] == ["apex-a", "apex-aaaa", "apex-mx-mx1", "apex-mx-mx2", "www-cname"]
    generated = {k: r.own_content for k, r in by_key.items() if r.path.startswith("mail.")}
    assert generated == {
        "apex-txt-spf": "v=spf1 include:mailgun.org include:zoho.eu include:spf.mayfirst.org -all",
        "mg-txt-spf": "v=spf1 include:mailgun.org -all",
        "rhizome-txt-spf": "v=spf1 -all",
        "hypha-txt-spf": "v=spf1 -all",
        "pando-txt-spf": "v=spf1 -all",
        "_dmarc-txt-dmarc": "v=DMARC1; p=quarantine; sp=reject; "
        "rua=mailto:00000000000000000000000000000000@dmarc-reports.cloudflare.net; adkim=r; aspf=r",
        "k1._domainkey.mg-txt-dkim": by_key["k1._domainkey.mg-txt-dkim"].content,
        "apex-caa-issue-letsencrypt-org": '0 issue "letsencrypt.org"',
        "apex-caa-issuewild": '0 issuewild ";"',
        "apex-caa-iodef": '0 iodef "mailto:tech@social.coop"',
    }
    assert generated["k1._domainkey.mg-txt-dkim"].startswith("v=DKIM1; k=rsa; p=MIIBIjAN")
    apex = by_key["apex-a"]
    assert (apex.name, apex.type, apex.content, apex.host, apex.ttl) == ("@", "A", None, "rhizome", 3600)
    assert by_key["wiki-cname"].host == "hypha"


def test_alpha_resolves_its_own_names_only(load_config):
    assert [(r.key, r.content) for r in resolve(load_config("alpha"))] == [
        ("alpha-a", None),
        ("alpha-aaaa", None),
        ("alpha-txt-spf", "v=spf1 -all"),
        (
            "_dmarc.alpha-txt-dmarc",
            "v=DMARC1; p=reject; sp=reject; "
            "rua=mailto:00000000000000000000000000000000@dmarc-reports.cloudflare.net; adkim=r; aspf=r",
        ),
    ]


def test_keys_do_not_depend_on_content_host_or_order(load_config):
    before = {r.key for r in resolve(load_config("prod"))}

    def change(c):
        recs = records(c)
        recs["@"][0]["host"] = "pando"
        recs["mg"][0]["value"] = "mxc.mailgun.org"
        recs["www"][0]["value"] = "rhizome.social.coop"
        c[key("dns")]["records"] = dict(reversed(list(recs.items())))
        c[key("mail")]["spf"][0]["senders"] = ["mailgun"]

    assert {r.key for r in resolve(load_config("prod", change))} == before


def test_migration_lowers_only_the_named_records(load_config):
    def migrate(c):
        c[key("migration")] = {"ttl": 300, "records": ["@ A", "@ AAAA"]}

    ttls = {r.key: r.ttl for r in resolve(load_config("prod", migrate))}
    assert ttls["apex-a"] == ttls["apex-aaaa"] == 300
    assert {k: t for k, t in ttls.items() if k not in ("apex-a", "apex-aaaa")} == dict.fromkeys(
        set(ttls) - {"apex-a", "apex-aaaa"}, 3600
    )


def test_imports_by_logical_key_reach_generated_records(load_config):
    rid = f"{ZONE_ID}/{'a' * 32}"
    cfg = load_config("prod", lambda c: c[key("dns")].update(imports={"apex-txt-spf": rid}))
    assert {r.key: r.import_id for r in resolve(cfg) if r.import_id} == {"apex-txt-spf": rid}


# --------------------------------------------------------------------------- Cloudflare fields


def test_cloudflare_fields_per_type(load_config):
    by_key = {r.key: r for r in resolve(load_config("prod"))}
    assert cloudflare_fields(by_key["apex-a"], "social.coop") == {
        "name": "social.coop",
        "type": "A",
        "ttl": 3600,
        "proxied": False,
    }  # content: the Zone fills in the host's address
    assert cloudflare_fields(by_key["mg-mx-mxa"], "social.coop") == {
        "name": "mg.social.coop",
        "type": "MX",
        "ttl": 3600,
        "proxied": False,
        "content": "mxa.mailgun.org",
        "priority": 10,
    }
    assert cloudflare_fields(by_key["apex-caa-iodef"], "social.coop")["data"] == {
        "flags": 0,
        "tag": "iodef",
        "value": "mailto:tech@social.coop",
    }
    assert (
        cloudflare_fields(by_key["apex-txt-spf"], "social.coop")["content"] == by_key["apex-txt-spf"].content
    )


def test_srv_goes_to_cloudflare_as_data(load_config):
    srv = {"type": "SRV", "priority": 10, "weight": 5, "port": 993, "value": "mail.example.org"}
    cfg = load_config("prod", add("_imaps._tcp", srv))
    r = next(r for r in resolve(cfg) if r.type == "SRV")
    assert r.key == "_imaps._tcp-srv"
    assert cloudflare_fields(r, "social.coop") == {
        "name": "_imaps._tcp.social.coop",
        "type": "SRV",
        "ttl": 3600,
        "proxied": False,
        "priority": 10,
        "data": {"priority": 10, "weight": 5, "port": 993, "target": "mail.example.org"},
    }


def test_long_txt_is_split_into_255_byte_strings():
    text = "v=DKIM1; k=rsa; p=" + "A" * 582  # 600 bytes
    assert [len(s) for s in txt_strings(text)] == [255, 255, 90]
    assert "".join(txt_strings(text)) == text
    assert quoted(text) == " ".join(f'"{s}"' for s in (text[:255], text[255:510], text[510:]))
    assert txt_strings("v=spf1 -all") == ["v=spf1 -all"]


def test_txt_content_for_cloudflare_is_quoted_only_when_long(load_config):
    by_key = {r.key: r for r in resolve(load_config("prod"))}
    dkim = by_key["k1._domainkey.mg-txt-dkim"]
    assert len(dkim.own_content) > 255
    content = cloudflare_fields(dkim, "social.coop")["content"]
    assert content == quoted(dkim.own_content) and content.count('" "') == 1
    assert cloudflare_fields(by_key["rhizome-txt-spf"], "social.coop")["content"] == "v=spf1 -all"


def test_proxied_record_gets_automatic_ttl(load_config):
    cfg = load_config("prod", lambda c: records(c)["wiki"][0].update(proxied=True))
    wiki = next(r for r in resolve(cfg) if r.key == "wiki-cname")
    assert (wiki.proxied, wiki.ttl) == (True, 1)


# --------------------------------------------------------------------------- rules

RULES = [
    # (id, stack, mutate, key path, value, message fragment)
    (
        "unknown host",
        "prod",
        add("files", {"type": "A", "host": "nosuch"}),
        "dns.records.files[0].host",
        "nosuch",
        "not a host in hosts; known: rhizome, hypha, pando",
    ),
    (
        "name outside the zone (written in full)",
        "prod",
        add("files.social.coop", {"type": "A", "value": "192.0.2.1"}),
        "dns.records.files.social.coop[0]",
        "files.social.coop",
        "names are relative to the zone social.coop: write 'files' instead",
    ),
    (
        "CNAME at the apex",
        "prod",
        lambda c: records(c).update({"@": [{"type": "CNAME", "host": "rhizome"}]}),
        "dns.records.@[0]",
        "@",
        "no CNAME at the apex",
    ),
    (
        "CNAME not alone (declared)",
        "prod",
        add("www", {"type": "TXT", "value": "hello"}),
        "dns.records.www[0]",
        "social.coop",
        "a CNAME must be the only record at its name (RFC 1034 §3.6.2), but www.social.coop also has TXT from dns.records.www[1]",
    ),
    (
        "CNAME not alone (generated SPF)",
        "prod",
        lambda c: records(c).update({"pando": [{"type": "CNAME", "host": "hypha"}]}),
        "dns.records.pando[0]",
        "host:hypha",
        "also has TXT from mail.no_mail_hosts",
    ),
    (
        "duplicate record",
        "prod",
        add("mg", {"type": "MX", "priority": 10, "value": "MXA.mailgun.org.", "id": "mxc"}),
        "dns.records.mg[2]",
        "mxa.mailgun.org",
        "the same MX record at mg.social.coop is already declared (dns.records.mg[0]); remove one",
    ),
    (
        "duplicate logical key",
        "prod",
        add(
            "lists",
            {"type": "MX", "priority": 10, "value": "a.example.org"},
            {"type": "MX", "priority": 20, "value": "b.example.org"},
        ),
        "dns.records.lists[1]",
        "b.example.org",
        "lists.social.coop has two MX records with the logical name 'lists-mx' (the other: dns.records.lists[0]); give each a different id:",
    ),
    (
        "logical key taken by a generated record",
        "prod",
        add("@", {"type": "TXT", "value": "google-site-verification=abc", "id": "spf"}),
        "mail.spf[0]",
        "v=spf1 include:mailgun.org include:zoho.eu include:spf.mayfirst.org -all",
        "two TXT records with the logical name 'apex-txt-spf'",
    ),
    (
        "TTL below 60",
        "prod",
        lambda c: records(c)["www"][0].update(ttl=30),
        "dns.records.www[0].ttl",
        30,
        "1 (automatic) or 60 to 86400 seconds",
    ),
    (
        "TTL above a day",
        "prod",
        lambda c: records(c)["www"][0].update(ttl=86401),
        "dns.records.www[0].ttl",
        86401,
        "1 (automatic) or 60 to 86400 seconds",
    ),
    (
        "default TTL",
        "alpha",
        lambda c: c[key("dns")].update(default_ttl=59),
        "dns.default_ttl",
        59,
        "1 (automatic) or 60 to 86400 seconds",
    ),
    (
        "proxied MX",
        "prod",
        lambda c: records(c)["mg"][0].update(proxied=True),
        "dns.records.mg[0].proxied",
        True,
        "proxied is only for A, AAAA and CNAME records",
    ),
    (
        "proxied SSH name",
        "prod",
        lambda c: records(c)["rhizome"][0].update(proxied=True),
        "dns.records.rhizome[0].proxied",
        True,
        "rhizome.social.coop is a host name used for SSH",
    ),
    (
        "proxied mail name (apex: MX, SPF, DMARC)",
        "prod",
        lambda c: records(c)["@"][0].update(proxied=True),
        "dns.records.@[0].proxied",
        True,
        "social.coop is used for mail (MX, SPF, DKIM or DMARC)",
    ),
    (
        "proxied MX target inside the zone",
        "prod",
        lambda c: (
            records(c)["mg"].append(
                {"type": "MX", "priority": 30, "value": "inbound.social.coop", "id": "own"}
            ),
            records(c).update(inbound=[{"type": "A", "value": "192.0.2.25", "proxied": True}]),
        ),
        "dns.records.inbound[0].proxied",
        True,
        "inbound.social.coop is used for mail",
    ),
    (
        "proxied with a TTL",
        "prod",
        lambda c: records(c)["wiki"][0].update(proxied=True, ttl=300),
        "dns.records.wiki[0].ttl",
        300,
        "a proxied record's TTL is automatic",
    ),
    (
        "MX without priority",
        "prod",
        add("lists", {"type": "MX", "value": "mx.example.org"}),
        "dns.records.lists[0].priority",
        None,
        "required for MX records",
    ),
    (
        "SRV without weight",
        "prod",
        add("_imaps._tcp", {"type": "SRV", "priority": 0, "port": 993, "value": "mail.example.org"}),
        "dns.records._imaps._tcp[0].weight",
        None,
        "required for SRV records",
    ),
    (
        "priority on an A record",
        "prod",
        add("files", {"type": "A", "value": "192.0.2.1", "priority": 10}),
        "dns.records.files[0].priority",
        10,
        "priority is only for MX and SRV records",
    ),
    (
        "SRV name",
        "prod",
        add("imaps", {"type": "SRV", "priority": 0, "weight": 0, "port": 993, "value": "mail.example.org"}),
        "dns.records.imaps[0]",
        "imaps",
        "an SRV name starts with _service._proto",
    ),
    (
        "IPv4 syntax",
        "prod",
        add("files", {"type": "A", "value": "203.0.113.300"}),
        "dns.records.files[0].value",
        "203.0.113.300",
        "an A record: expected an IPv4 address, e.g. 203.0.113.10",
    ),
    (
        "IPv6 syntax (an IPv4 address in AAAA)",
        "prod",
        add("files", {"type": "AAAA", "value": "192.0.2.1"}),
        "dns.records.files[0].value",
        "192.0.2.1",
        "an AAAA record: expected an IPv6 address, e.g. 2001:db8::1",
    ),
    (
        "AAAA on a host without IPv6",
        "prod",
        lambda c: c[key("hosts")]["rhizome"]["vps"].pop("ipv6"),
        "dns.records.@[1].host",
        "rhizome",
        "host rhizome has no IPv6 address",
    ),
    (
        "CNAME target is a domain name",
        "prod",
        add("files", {"type": "CNAME", "value": "not a name"}),
        "dns.records.files[0].value",
        "not a name",
        "a CNAME record points at a full domain name",
    ),
    (
        "TXT with quotes",
        "prod",
        add("@", {"type": "TXT", "value": '"v=verify" "abc"', "id": "verify"}),
        "dns.records.@[4].value",
        '"v=verify" "abc"',
        "TXT text is printable ASCII without quotes or backslashes",
    ),
    (
        "CAA value",
        "prod",
        add("files", {"type": "CAA", "value": "issue letsencrypt.org"}),
        "dns.records.files[0].value",
        "issue letsencrypt.org",
        'a CAA value like 0 issue "letsencrypt.org"',
    ),
    (
        "NS at the apex",
        "prod",
        add("@", {"type": "NS", "value": "ns1.example.org", "id": "ns1"}),
        "dns.records.@[4]",
        "@",
        "the apex NS records are Cloudflare's",
    ),
    (
        "a second SPF at a name",
        "prod",
        add("@", {"type": "TXT", "value": "v=spf1 include:example.org -all", "id": "old-spf"}),
        "mail.spf[0]",
        "v=spf1 include:mailgun.org include:zoho.eu include:spf.mayfirst.org -all",
        "social.coop already has an SPF (RFC 7208 §4.5) record from dns.records.@[4]",
    ),
    (
        "a name without mail and without DMARC",
        "alpha",
        lambda c: c[key("mail")].pop("dmarc"),
        "mail.no_mail[0]",
        "alpha",
        "a name that sends no mail needs a DMARC policy as well",
    ),
    (
        "migration of a record that does not exist",
        "prod",
        lambda c: c.update({key("migration"): {"ttl": 300, "records": ["@ A", "www A"]}}),
        "migration.records[1]",
        "www A",
        "names no record of this stack",
    ),
    (
        "migration TTL",
        "prod",
        lambda c: c.update({key("migration"): {"ttl": 30, "records": ["@ A"]}}),
        "migration.ttl",
        30,
        "1 (automatic) or 60 to 86400 seconds",
    ),
    (
        "import key that names no record",
        "prod",
        lambda c: c[key("dns")].update(imports={"apex-txt": f"{ZONE_ID}/{'b' * 32}"}),
        "dns.imports.apex-txt",
        f"{ZONE_ID}/{'b' * 32}",
        "no record has the logical key 'apex-txt'",
    ),
    (
        "import ID of another zone",
        "prod",
        lambda c: records(c)["www"][0].update(import_id=f"{'1' * 32}/{'b' * 32}"),
        "dns.records.www[0].import_id",
        f"{'1' * 32}/{'b' * 32}",
        f"must start with this zone's ID: {ZONE_ID}/",
    ),
]


@pytest.mark.parametrize(
    "stack,mutate,path,value,fragment", [r[1:] for r in RULES], ids=[r[0] for r in RULES]
)
def test_rule(config_error, stack, mutate, path, value, fragment):
    e = config_error(stack, mutate)
    assert (e.path, e.value) == (path, value), message(e)
    assert fragment in e.allowed, message(e)
    assert message(e).startswith(f"socialcoop-infra:{path} = ")


# --------------------------------------------------------------------------- ownership

OWNERSHIP = [
    (
        "alpha declares a prod name",
        "alpha",
        add("www", {"type": "CNAME", "host": "alpha"}),
        "dns.records.www[0]",
        "www.social.coop",
        "the alpha stack owns only alpha.social.coop and names under it (components/core/boundary.py)",
    ),
    (
        "alpha generates a mail record outside its subdomain",
        "alpha",
        lambda c: c[key("mail")]["no_mail"].append("beta"),
        "mail.no_mail[1]",
        "beta.social.coop",
        "the alpha stack owns only alpha.social.coop",
    ),
    (
        "alpha's CAA would be at the apex",
        "alpha",
        lambda c: c[key("mail")].update(caa={"iodef": "mailto:tech@social.coop"}),
        "mail.caa",
        "social.coop",
        "the alpha stack owns only alpha.social.coop",
    ),
    (
        "prod declares alpha",
        "prod",
        add("alpha", {"type": "A", "host": "pando"}),
        "dns.records.alpha[0]",
        "alpha.social.coop",
        "alpha.social.coop and the names under it are the alpha stack's (components/core/boundary.py)",
    ),
    (
        "prod declares a name under alpha",
        "prod",
        add("files.alpha", {"type": "CNAME", "value": "example.org"}),
        "dns.records.files.alpha[0]",
        "files.alpha.social.coop",
        "are the alpha stack's",
    ),
    (
        "prod generates a mail record under alpha",
        "prod",
        lambda c: c[key("mail")].update(dmarc=[*c[key("mail")]["dmarc"], {"name": "alpha", "p": "reject"}]),
        "mail.dmarc[1]",
        "_dmarc.alpha.social.coop",
        "are the alpha stack's",
    ),
]


@pytest.mark.parametrize(
    "stack,mutate,path,value,fragment", [r[1:] for r in OWNERSHIP], ids=[r[0] for r in OWNERSHIP]
)
def test_ownership(config_error, stack, mutate, path, value, fragment):
    e = config_error(stack, mutate)
    assert (e.path, e.value) == (path, value), message(e)
    assert fragment in e.allowed, message(e)


def test_prod_names_that_only_look_like_alpha_are_prod_s(load_config):
    names = {r.name for r in resolve(load_config("prod"))}
    assert "wiki-alpha" in names  # wiki-alpha.social.coop is not under alpha.social.coop


# --------------------------------------------------------------------------- the plan


def dns_resources(plan):
    return {r.name: r for r in plan.resources if r.type == CLOUDFLARE}


@pytest.fixture(scope="module")
def committed():
    """The offline plans of the committed stack files, made once for this module."""
    return {stack: plan_stack(stack) for stack in ("prod", "alpha")}


@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_plan_has_one_record_per_resolved_record(committed, load_config, stack):
    result = committed[stack]
    assert result.invokes == []  # the zone ID is config: no lookups
    planned = dns_resources(result)
    expected = {f"social-coop-{r.key}": r for r in resolve(load_config(stack))}
    assert set(planned) == set(expected)
    for name, res in planned.items():
        r = expected[name]
        assert res.parent == "social-coop"
        assert res.inputs["zoneId"] == ZONE_ID
        assert res.inputs["name"] == ("social.coop" if r.name == "@" else f"{r.name}.social.coop")
        assert res.options["protect"] is (stack == "prod")
    zone = next(r for r in result.resources if r.name == "social-coop")
    assert zone.type == "socialcoop:dns:Zone"


def test_plan_fills_host_references(committed):
    planned = dns_resources(committed["prod"])
    assert planned["social-coop-apex-a"].inputs["content"] == "203.0.113.10"
    assert planned["social-coop-apex-aaaa"].inputs["content"] == "2001:db8:10::2"
    assert planned["social-coop-wiki-cname"].inputs["content"] == "hypha.social.coop"
    # hypha is a Hetzner Cloud server: its address comes from the server resource
    hypha = planned["social-coop-hypha-a"].inputs["content"]
    assert hypha.startswith("198.51.100.")


def test_switching_the_apex_host_changes_only_the_apex_content(plan, committed):
    """The migration property: one line (`host: pando`) updates two records in place."""

    def switch(c):
        for r in records(c)["@"]:
            if r.get("host") == "rhizome":
                r["host"] = "pando"

    before = {r["name"]: r for r in to_json(committed["prod"])}
    after = {r["name"]: r for r in to_json(plan("prod", switch))}
    assert list(before) == list(after)  # same resources, same names, same order
    changed = {}
    for name in before:
        b, a = before[name], after[name]
        assert (b["type"], b["parent"], b["options"]) == (a["type"], a["parent"], a["options"]), name
        diff = {k for k in set(b["inputs"]) | set(a["inputs"]) if b["inputs"].get(k) != a["inputs"].get(k)}
        if diff:
            changed[name] = diff
    assert changed == {"social-coop-apex-a": {"content"}, "social-coop-apex-aaaa": {"content"}}
    assert after["social-coop-apex-a"]["inputs"]["content"] == "198.51.100.20"
    assert after["social-coop-apex-aaaa"]["inputs"]["content"] == "2001:db8:20::2"


def test_plan_applies_migration_ttl(plan):
    def migrate(c):
        c[key("migration")] = {"ttl": 300, "records": ["@ A", "@ AAAA"]}

    planned = dns_resources(plan("prod", migrate))
    assert {n: r.inputs["ttl"] for n, r in planned.items() if r.inputs["ttl"] != 3600} == {
        "social-coop-apex-a": 300,
        "social-coop-apex-aaaa": 300,
    }


# --------------------------------------------------------------------------- the component


@pytest.fixture
def alpha_cfg(load_config):
    # protection as prod has it, on alpha's small zone (the loader refuses protect in alpha)
    return load_config("alpha").model_copy(update={"protect": True})


def test_zone_component_registers_records_with_options(pulumi_mocks, captured_options, alpha_cfg):
    addresses = {
        "alpha": HostAddresses("alpha.social.coop", "192.0.2.7", pulumi.Output.from_input("2001:db8::7"))
    }

    @pulumi.runtime.test
    def run():
        zone = Zone("dns", ZoneArgs(alpha_cfg, addresses))
        recs = zone.records

        def check(values):
            a, aaaa, spf = values
            assert (a, aaaa, spf) == ("192.0.2.7", "2001:db8::7", "v=spf1 -all")
            assert set(recs) == {"alpha-a", "alpha-aaaa", "alpha-txt-spf", "_dmarc.alpha-txt-dmarc"}
            assert zone.names == ["_dmarc.alpha.social.coop", "alpha.social.coop"]
            opts = captured_options["dns-alpha-a"]
            assert opts.protect is True and opts.parent is zone and not opts.retain_on_delete

        return pulumi.Output.all(
            recs["alpha-a"].content, recs["alpha-aaaa"].content, recs["alpha-txt-spf"].content
        ).apply(check)

    return run()


def test_zone_component_imports_and_retains_adopted_records(pulumi_mocks, captured_options, load_config):
    rid = f"{ZONE_ID}/{'c' * 32}"
    alpha = load_config("alpha")  # prod's options on alpha's small zone (the loader refuses both in alpha)
    cfg = alpha.model_copy(
        update={"protect": True, "dns": alpha.dns.model_copy(update={"imports": {"alpha-txt-spf": rid}})}
    )
    addresses = {"alpha": HostAddresses("alpha.social.coop", "192.0.2.7", "2001:db8::7")}

    @pulumi.runtime.test
    def run():
        zone = Zone("dns", ZoneArgs(cfg, addresses))

        def check(_):
            opts = captured_options["dns-alpha-txt-spf"]
            assert (opts.import_, opts.retain_on_delete, opts.protect) == (rid, True, True)
            assert captured_options["dns-alpha-a"].import_ is None

        return zone.records["alpha-txt-spf"].id.apply(check)

    return run()


def test_zone_refuses_aaaa_for_a_host_without_ipv6(pulumi_mocks, alpha_cfg):
    addresses = {"alpha": HostAddresses("alpha.social.coop", "192.0.2.7", None)}
    with pytest.raises(pulumi.RunError, match="host alpha has no IPv6 address"):
        Zone("dns", ZoneArgs(alpha_cfg, addresses))


def test_optional_mail_records_from_config(load_config):
    def mutate(c):
        mail = c[key("mail")]
        mail["mta_sts"] = {"policy_id": "20240101", "tlsrpt_rua": ["mailto:tls-reports@social.coop"]}
        mail["caa"]["wildcard"] = True
        c[key("dns")]["imports"].pop("apex-caa-issuewild")  # the record it imported goes away

    by_key = {r.key: r for r in resolve(load_config("prod", mutate))}
    assert by_key["_mta-sts-txt-mta-sts"].content == "v=STSv1; id=20240101"
    assert by_key["_smtp._tls-txt-tls-rpt"].content == "v=TLSRPTv1; rua=mailto:tls-reports@social.coop"
    assert "apex-caa-issuewild" not in by_key and "apex-caa-iodef" in by_key


def test_plan_imports_and_retains_a_record_with_import_id(plan):
    rid = f"{ZONE_ID}/{'d' * 32}"

    def mutate(c):
        c[key("dns")].pop("imports")  # prod's own import IDs: this test gives one inline
        records(c)["www"][0].update(import_id=rid)

    planned = dns_resources(plan("prod", mutate))
    www = planned["social-coop-www-cname"].options
    assert (www["import"], www["retain_on_delete"], www["protect"]) == (rid, True, True)
    assert planned["social-coop-wiki-cname"].options["import"] is None
