"""Adopting today's social.coop into prod: every resource imported or listed as new, the
protections read from the plan's options, zone-file adoption (tools.adopt.zone) and the
Cloudflare record IDs (tools.adopt.import_ids) against saved responses and a local API."""

from __future__ import annotations

import copy
import http.server
import ipaddress
import json
import threading
import urllib.parse
from pathlib import Path

import pytest
import yaml

from components.dns.records import resolve
from tests.conftest import key, stack_doc
from tests.fakehttp import serving
from tools.adopt import cloudflare_api, import_ids, matching, zone_read
from tools.adopt import zone as adopt_zone
from tools.check import prepare
from tools.review import program, stackfile, zonefile

DATA = Path(__file__).parent / "data"
SAMPLE_ZONE = DATA / "social.coop.zone"
RECORDS_JSON = DATA / "cloudflare-dns-records.json"
HYPHA = "hypha=203.0.113.30,2001:db8:30::2"
ZONE_ID = "0" * 32
TOKEN = "test-token-not-real-0123456789"
CAROL_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + "C" * 43 + " carol@placeholder"  # a fake
STATEFUL = {
    "hcloud:index/server:Server",
    "hcloud:index/primaryIp:PrimaryIp",
    "hcloud:index/volume:Volume",
    "digitalocean:index/spacesBucket:SpacesBucket",
    "cloudflare:index/dnsRecord:DnsRecord",
}
DOC_NETS = [
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
]


@pytest.fixture(scope="module")
def prod_plan():
    return program.plan_stack("prod")


@pytest.fixture(scope="module")
def prod_cfg():
    return stackfile.read_stack("prod").config()


def with_hypha(cfg) -> dict:
    addresses = zonefile.host_addresses(cfg)
    addresses["hypha"] = ("203.0.113.30", "2001:db8:30::2")
    return addresses


def custom(plan):
    return [r for r in plan.resources if r.custom]


def saved_records() -> list[dict]:
    return json.loads(RECORDS_JSON.read_text())["result"]


# --------------------------------------------------------------------------- imported or new


def test_every_prod_resource_is_imported_or_listed_as_new(prod_plan):
    new = matching.load_new_in_prod()
    undecided = matching.undecided(prod_plan.resources, new)
    assert undecided == [], prepare.undecided_problem(undecided)  # names the file and the command
    created = [r for r in custom(prod_plan) if not r.options["import"]]
    assert len(created) >= len(new)  # an entry names one resource, or a component and all under it


def test_new_in_prod_entries_name_real_resources_with_a_reason(prod_plan):
    by_name = {r.name: r for r in prod_plan.resources}  # a component's entry covers its children
    for name, entry in matching.load_new_in_prod().items():
        assert set(entry) == {"name", "type", "reason"}, name
        assert name in by_name, prepare.stale_problem([name])
        assert by_name[name].type == entry["type"], f"{name}: data/new-in-prod.yaml says {entry['type']}"
        assert by_name[name].options["import"] is None, prepare.stale_problem([name])
        assert len(entry["reason"].split()) >= 8, name


@pytest.mark.parametrize(
    "mutate, names",
    [
        (
            lambda c: c[key("dns")]["records"].update(files=[{"type": "CNAME", "value": "cdn.example.org"}]),
            ["social-coop-files-cname"],
        ),
        (
            lambda c: c[key("admins")].append({"name": "carol", "ssh_key": CAROL_KEY}),
            ["admin-keys-carol"],
        ),
        (lambda c: c[key("hosts")]["hypha"]["hetzner_cloud"]["import"].pop("firewall"), ["hypha-firewall"]),
    ],
    ids=["dns record", "admin key", "lost import id"],
)
def test_a_resource_without_a_decision_is_caught(plan, mutate, names):
    assert matching.undecided(plan("prod", mutate).resources, matching.load_new_in_prod()) == names


def test_no_two_resources_import_the_same_object(prod_plan):
    seen: dict[tuple[str, str], str] = {}
    for r in custom(prod_plan):
        if r.options["import"]:
            assert (r.type, r.options["import"]) not in seen, (
                r.name,
                seen.get((r.type, r.options["import"])),
            )
            seen[(r.type, r.options["import"])] = r.name


# --------------------------------------------------------------------------- protection


def test_prod_protects_every_stateful_or_traffic_serving_resource(prod_plan):
    resources = custom(prod_plan)
    for r in resources:
        if r.type in STATEFUL:
            assert r.options["protect"], r.name
    assert STATEFUL - {"hcloud:index/volume:Volume"} <= {r.type for r in resources}  # not vacuous
    names = {r.name for r in resources if r.options["protect"]}
    apex_and_mail = {"apex-a", "apex-aaaa", "apex-mx-mx1", "apex-mx-mx2", "mg-mx-mxa", "mg-mx-mxb"}
    apex_and_mail |= {"apex-txt-spf", "mg-txt-spf", "_dmarc-txt-dmarc", "k1._domainkey.mg-txt-dkim"}
    assert {f"social-coop-{k}" for k in apex_and_mail} <= names


def test_prod_retains_every_imported_resource(prod_plan):
    imported = [r for r in custom(prod_plan) if r.options["import"]]
    assert len(imported) >= 30
    for r in imported:
        assert r.options["retain_on_delete"], r.name


def test_an_adopted_volume_is_protected_imported_and_retained(plan):
    def mutate(c):
        hetzner = c[key("hosts")]["hypha"]["hetzner_cloud"]
        hetzner["volume"] = {"size_gb": 50}
        hetzner["import"]["volume"] = "0000000007"

    (volume,) = [r for r in plan("prod", mutate).resources if r.name == "hypha-volume"]
    assert volume.options["import"] == "0000000007"
    assert volume.options["protect"] and volume.options["retain_on_delete"]


@pytest.mark.parametrize("kind", ["vps", "hetzner_cloud"])
def test_alpha_has_no_protect_retain_or_import(plan, kind):
    p = plan("alpha", lambda c: c[key("hosts")]["alpha"].update(kind=kind))
    assert len(custom(p)) >= 5
    for r in p.resources:
        o = r.options
        assert o["protect"] is False and o["retain_on_delete"] is False and o["import"] is None, r.name


# --------------------------------------------------------------------------- the sample zone


@pytest.fixture(scope="module")
def sample(prod_cfg):
    return adopt_zone.adopt(SAMPLE_ZONE.read_text(), prod_cfg, with_hypha(prod_cfg))


def test_sample_zone_covers_the_record_types_with_documentation_values():
    records = zone_read.read_zone(SAMPLE_ZONE.read_text(), "social.coop")
    assert len([r for r in records if r.type not in ("SOA", "NS")]) >= 25
    assert {"A", "AAAA", "CNAME", "MX", "TXT", "CAA", "SRV"} <= {r.type for r in records}
    dkim = [r for r in records if r.type == "TXT" and len(r.text) > 255]
    assert dkim and len(dkim[0].rdata.strings) == 2
    for r in records:
        if r.type in ("A", "AAAA"):
            assert any(ipaddress.ip_address(r.rdata.address) in n for n in DOC_NETS), r.shown("social.coop")


def test_sample_maps_addresses_and_names_to_hosts(sample):
    rs = sample.records
    assert rs["@"][:2] == [
        {"type": "A", "host": "rhizome", "ttl": 1},
        {"type": "AAAA", "host": "rhizome", "ttl": 1},
    ]
    assert rs["hypha"] == [
        {"type": "A", "host": "hypha", "ttl": 1},
        {"type": "AAAA", "host": "hypha", "ttl": 1},
    ]
    assert rs["pando"][0] == {"type": "A", "host": "pando", "ttl": 1}
    for name in ("wiki", "wiki-alpha", "auth", "bonfire", "traefik", "join"):
        assert rs[name] == [{"type": "CNAME", "host": "hypha", "ttl": 1}], name
    assert rs["www"] == [{"type": "CNAME", "value": "social.coop", "ttl": 1}]
    assert rs["old"] == [{"type": "A", "value": "192.0.2.99", "ttl": 1, "comment": "runko, retired in 2023"}]
    assert rs["status"] == [{"type": "CNAME", "value": "status.example.org", "proxied": True}]
    assert rs["email.mg"] == [
        {"type": "CNAME", "value": "mailgun.org", "ttl": 1, "comment": "Mailgun click tracking"}
    ]
    assert [(d["id"], d["priority"], d["value"]) for d in rs["mg"]] == [
        ("mxa", 10, "mxa.mailgun.org"),
        ("mxb", 10, "mxb.mailgun.org"),
    ]
    apex_txt = {d["id"]: d["value"] for d in rs["@"] if d["type"] == "TXT"}
    assert apex_txt == {
        "google-site-verification": "google-site-verification=" + "0" * 43,
        "zoho-verification": "zoho-verification=zb00000000.zmverify.zoho.eu",
    }
    assert rs["_imaps._tcp"] == [
        {"type": "SRV", "priority": 0, "weight": 1, "port": 993, "value": "mail.forwarding.example", "ttl": 1}
    ]
    assert "alpha" not in rs and "_dmarc" not in rs and "k1._domainkey.mg" not in rs


def findings(adoption, kind) -> dict[str, str]:
    return {f.record.split(" ", 2)[0] + " " + f.record.split(" ", 2)[1]: f.message for f in adoption.of(kind)}


def test_sample_reports_what_it_did_not_write(sample):
    skipped = sample.of("skipped")
    assert [f.record.split()[:2] for f in skipped] == [
        ["social.coop", "NS"],
        ["social.coop", "NS"],
        ["social.coop", "SOA"],
        ["alpha.social.coop", "A"],
        ["rhizome.social.coop", "SSHFP"],
    ]
    assert "Cloudflare's own" in skipped[0].message and "alpha stack" in skipped[3].message
    assert "SSHFP is not supported" in skipped[4].message
    assert list(findings(sample, "unmapped")) == ["old.social.coop A"]
    assert "owner" in findings(sample, "attributes")["status.social.coop CNAME"]
    (note,) = sample.of("note")
    assert "31 of 31 records have TTL 1" in note.message and "default_ttl: 1" in note.message


def test_sample_mail_records_are_checked_against_their_builders(sample):
    mail = {f.record.split(" ", 3)[0] + " " + f.record.split(" ", 3)[1]: f.message for f in sample.of("mail")}
    assert mail["k1._domainkey.mg.social.coop TXT"] == "made by mail.dkim[0] (same text)"  # 2 strings joined
    assert mail["mg.social.coop TXT"] == "made by mail.spf[1] (same text)"
    assert mail["social.coop CAA"] == "made by mail.caa (same text)"
    assert mail["social.coop TXT"].startswith("made by mail.spf[0], but the builder's text differs")
    assert "p=quarantine" in mail["_dmarc.social.coop TXT"]
    created = [f.record for f in sample.of("create")]
    assert created == [
        "rhizome.social.coop TXT v=spf1 -all",
        "hypha.social.coop TXT v=spf1 -all",
        "pando.social.coop TXT v=spf1 -all",
        'social.coop CAA 0 issuewild ";"',
        'social.coop CAA 0 iodef "mailto:tech@social.coop"',
    ]
    assert all("mail.no_mail_hosts" in f.message or "mail.caa" in f.message for f in sample.of("create"))


def test_sample_output_loads_through_the_config_loader(sample, load_config):
    text = adopt_zone.render(sample, "social.coop.zone", "prod")
    records = yaml.safe_load(text)["records"]
    assert records == sample.records

    def paste(c):
        c[key("dns")]["records"] = records
        c[key("dns")]["default_ttl"] = 1
        c[key("dns")].pop("imports")  # IDs come afterwards, from tools.adopt.import_ids

    by_key = {r.key: r for r in resolve(load_config("prod", paste))}
    assert by_key["apex-a"].host == "rhizome" and by_key["hypha-aaaa"].host == "hypha"
    assert by_key["old-a"].content == "192.0.2.99"
    assert by_key["status-cname"].proxied and by_key["status-cname"].ttl == 1
    assert (by_key["_imaps._tcp-srv"].port, by_key["_imaps._tcp-srv"].content) == (
        993,
        "mail.forwarding.example",
    )
    assert by_key["apex-txt-zoho-verification"].own_content.startswith("zoho-verification=")
    assert by_key["apex-txt-spf"].path == "mail.spf[0]"  # the builder's, not a second SPF record


def test_alpha_adopts_only_its_own_names(sample, load_config):
    cfg = load_config("alpha")
    adoption = adopt_zone.adopt(SAMPLE_ZONE.read_text(), cfg, zonefile.host_addresses(cfg))
    assert adoption.records == {"alpha": [{"type": "A", "host": "alpha", "ttl": 1}]}
    not_alpha = [f for f in adoption.of("skipped") if "not the alpha stack's" in f.message]
    assert len(not_alpha) == 35 - 1 - 3  # all but alpha's record, SOA and the apex NS


# --------------------------------------------------------------------------- round trip and parsing


def test_round_trip_of_the_zone_file_export(prod_cfg, load_config):
    addresses = with_hypha(prod_cfg)
    text = zonefile.render(prod_cfg, addresses)
    adoption = adopt_zone.adopt(text, prod_cfg, addresses)
    assert {f.kind for f in adoption.findings} == {"mail"}
    assert all(f.message.endswith("(same text)") for f in adoption.findings)

    def canonical(records):
        return {name: sorted(json.dumps(d, sort_keys=True) for d in rs) for name, rs in records.items()}

    assert canonical(adoption.records) == canonical(stack_doc("prod")["config"][key("dns")]["records"])
    again = load_config("prod", lambda c: c[key("dns")].update(records=adoption.records))

    def fields(cfg):
        return [
            (r.key, r.name, r.type, r.content, r.host, r.ttl, r.proxied, r.priority, r.comment, r.import_id)
            for r in resolve(cfg)
        ]

    assert sorted(fields(again)) == sorted(fields(prod_cfg))


def test_long_txt_is_joined_without_separators(prod_cfg):
    parts = ["a" * 255, "b" * 255, "c" * 90]
    text = "$ORIGIN social.coop.\nlong 300 IN TXT " + " ".join(f'"{p}"' for p in parts) + "\n"
    adoption = adopt_zone.adopt(text, prod_cfg, with_hypha(prod_cfg))
    assert adoption.records["long"] == [{"type": "TXT", "value": "".join(parts), "ttl": 300}]


@pytest.mark.parametrize(
    "comment, expected",
    [  # the examples of Cloudflare's import/export documentation
        ("   cf_tags=awesome", (None, {"awesome": ""})),
        ("just a comment without tags", ("just a comment without tags", {})),
        ("this comment contains cf_tags= as text cf_tags=", ("this comment contains cf_tags= as text", {})),
        (
            "simple example cf_tags=important,ticket:THIS-12345",
            ("simple example", {"important": "", "ticket": "THIS-12345"}),
        ),
        (
            ' cf_tags=tag3:"value,with,commas",tag4:"with \\"quotes\\"",cf-proxied:true',
            (None, {"tag3": "value,with,commas", "tag4": 'with "quotes"', "cf-proxied": "true"}),
        ),
        (None, (None, {})),
    ],
)
def test_cloudflare_comment_and_tags(comment, expected):
    assert zone_read.cf_attributes(comment) == expected


def test_cli_writes_records_and_reports(capsys):
    assert adopt_zone.main([str(SAMPLE_ZONE), "--address", HYPHA]) == 0
    out, err = capsys.readouterr()
    assert yaml.safe_load(out)["records"]["wiki"] == [{"type": "CNAME", "host": "hypha", "ttl": 1}]
    assert err.startswith("social.coop.zone: 35 records read, 25 written to dns.records.")
    for heading in zone_read.HEADINGS.values():
        assert f"\n{heading}:\n" in err


def test_cli_refuses_records_that_break_a_rule(capsys, tmp_path):
    zone = tmp_path / "proxied.zone"
    zone.write_text("rhizome.social.coop.\t1\tIN\tA\t203.0.113.10 ; cf_tags=cf-proxied:true\n")
    assert adopt_zone.main([str(zone)]) == 1
    err = capsys.readouterr().err
    assert "do not pass the stack's checks" in err and "used for SSH" in err


@pytest.mark.parametrize(
    "text, message",
    [
        (
            ";; Domain:     example.org.\nwww.example.org.\t1\tIN\tA\t192.0.2.1\n",
            "the zone file of example.org., not of social.coop",
        ),
        ("www.example.org.\t1\tIN\tA\t192.0.2.1\n", "no records of social.coop in this file"),
        ("www\t1\tIN\tA\t192.0.2.300\n", "not a readable zone file of social.coop"),
    ],
)
def test_cli_refuses_what_is_not_a_zone_file_of_the_domain(capsys, tmp_path, text, message):
    zone = tmp_path / "other.zone"
    zone.write_text(text)
    assert adopt_zone.main([str(zone)]) == 2
    assert message in capsys.readouterr().err


# --------------------------------------------------------------------------- record IDs


@pytest.fixture
def matched(prod_cfg):
    return matching.match(prod_cfg, saved_records(), with_hypha(prod_cfg))


def cf_id(name: str, rtype: str, contains: str = "") -> str:
    (rec,) = [
        r for r in saved_records() if r["name"] == name and r["type"] == rtype and contains in r["content"]
    ]
    return f"{ZONE_ID}/{rec['id']}"


def adopted(cfg) -> list[str]:
    """The prod records to adopt: all but those data/new-in-prod.yaml lists as created (a record
    added to prod later is not in the saved response, and need not be)."""
    new = matching.load_new_in_prod()
    return [r.key for r in resolve(cfg) if f"social-coop-{r.key}" not in new]


def test_saved_response_gives_every_prod_record_its_id(matched, prod_cfg):
    assert matched.problems == [] and matched.warnings == []
    assert list(matched.ids) == adopted(prod_cfg)
    assert matched.ids["apex-a"] == cf_id("social.coop", "A")
    assert matched.ids["apex-mx-mx2"] == cf_id("social.coop", "MX", "mx2")
    assert matched.ids["hypha-aaaa"] == cf_id("hypha.social.coop", "AAAA")
    assert matched.ids["k1._domainkey.mg-txt-dkim"] == cf_id(
        "k1._domainkey.mg.social.coop", "TXT"
    )  # quoted strings
    assert matched.ids["apex-caa-iodef"] == cf_id("social.coop", "CAA", "iodef")  # by data
    assert len(set(matched.ids.values())) == len(matched.ids)
    notes = "\n".join(matched.notes)
    assert "alpha.social.coop A" in notes and "alpha stack's" in notes
    assert "old.social.coop A 192.0.2.99" in notes and "_imaps._tcp.social.coop SRV" in notes
    # the dashboard-quoted DKIM record: matched, and a human is told what phase 2 will show
    (quoted,) = [n for n in matched.notes if "holds this TXT text in quotes" in n]
    assert quoted.startswith("k1._domainkey.mg-txt-dkim ") and "phase 2" in quoted


def test_matching_normalises_names_targets_addresses_and_quoting(prod_cfg):
    records = copy.deepcopy(saved_records())
    for r in records:
        r["name"] = r["name"].upper() + "."
        if r["type"] == "CNAME":
            r["content"] = r["content"].upper() + "."
        if r["type"] == "AAAA":
            r["content"] = ipaddress.ip_address(r["content"]).exploded
        if r["type"] == "TXT" and not r["content"].startswith('"'):
            r["content"] = f'"{r["content"]}"'  # how newer records are shown
        if r["type"] in ("CAA", "SRV"):
            r.pop("data")  # content only
    m = matching.match(prod_cfg, records, with_hypha(prod_cfg))
    assert m.problems == [] and len(m.ids) == len(adopted(prod_cfg))


def test_missing_duplicated_and_different_records_are_reported_not_guessed(prod_cfg):
    records = [r for r in saved_records() if not (r["name"] == "social.coop" and r["type"] == "A")]
    www = next(r for r in records if r["name"] == "www.social.coop")
    records.append({**www, "id": "cf" + "e" * 30})
    next(r for r in records if r["name"] == "wiki.social.coop")["ttl"] = 1
    m = matching.match(prod_cfg, records, with_hypha(prod_cfg))
    assert "apex-a" not in m.ids and "www-cname" not in m.ids and "wiki-cname" in m.ids
    assert len(m.problems) == 2
    assert m.problems[0].startswith("apex-a (social.coop A host:rhizome): no Cloudflare record")
    assert m.problems[1].startswith(
        "www-cname (www.social.coop CNAME social.coop): 2 Cloudflare records match"
    )
    assert m.warnings == [
        "wiki-cname (wiki.social.coop CNAME host:hypha): ttl: Cloudflare 1, stack 3600; "
        "the import would refuse it until the stack file says what Cloudflare has"
    ]


def test_records_listed_as_new_are_expected_to_be_missing(prod_cfg):
    records = [r for r in saved_records() if r["name"] != "rhizome.social.coop" or r["type"] != "TXT"]
    listed: dict[str, dict] = {
        **matching.load_new_in_prod(),
        "social-coop-rhizome-txt-spf": {},
        "social-coop-pando-txt-spf": {},
    }
    m = matching.match(prod_cfg, records, with_hypha(prod_cfg), new=listed)
    assert "rhizome-txt-spf" not in m.ids
    assert any(n.startswith("rhizome-txt-spf") and "new, as listed" in n for n in m.notes)
    (problem,) = m.problems  # pando's exists: creating it would make a second one
    assert problem.startswith("pando-txt-spf") and "exists in Cloudflare" in problem


def test_a_cloud_host_needs_its_address(prod_cfg):
    m = matching.match(prod_cfg, saved_records(), zonefile.host_addresses(prod_cfg))
    assert {p.split(" ")[0] for p in m.problems} == {"hypha-a", "hypha-aaaa"}
    assert all("--address hypha=IPV4,IPV6" in p for p in m.problems)
    hint = [n for n in m.notes if n.startswith("hypha.social.coop A 203.0.113.30")]
    assert hint and hint[0].endswith("same name and type as hypha-a, which was not matched (see above)")


def test_records_of_another_zone_are_refused(prod_cfg):
    records = copy.deepcopy(saved_records())
    records[0]["zone_id"] = "1" * 32
    with pytest.raises(cloudflare_api.ImportIdsError, match="the stack's dns.zone_id is 0000"):
        matching.match(prod_cfg, records, with_hypha(prod_cfg))


def test_cli_prints_the_imports_block_and_fails_on_problems(capsys, tmp_path, matched):
    assert import_ids.main(["--from-json", str(RECORDS_JSON), "--address", HYPHA]) == 0
    out = capsys.readouterr().out
    assert yaml.safe_load(out) == {"imports": matched.imports}
    body = json.loads(RECORDS_JSON.read_text())
    body["result"] = [r for r in body["result"] if (r["name"], r["type"]) != ("social.coop", "A")]
    partial = tmp_path / "records.json"
    partial.write_text(json.dumps(body))
    assert import_ids.main(["--from-json", str(partial), "--address", HYPHA]) == 1
    out, err = capsys.readouterr()
    assert (
        "apex-a" not in yaml.safe_load(out)["imports"]
        and "Not matched (no import ID written):\n  apex-a" in err
    )


def test_write_replaces_imports_and_keeps_the_rest_of_the_file(capsys, tmp_path, matched):
    path = tmp_path / "Pulumi.prod.yaml"
    before = (stackfile.REPO_ROOT / "Pulumi.prod.yaml").read_text()
    path.write_text(before)
    assert (
        import_ids.main(
            ["--from-json", str(RECORDS_JSON), "--address", HYPHA, "--config", str(path), "--write"]
        )
        == 0
    )
    after = path.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert len(changed) == len(matched.imports)  # one line per record, nothing else (comments kept)
    assert all(a.split(":")[0] == b.split(":")[0] and "/cf" in b for a, b in changed)
    assert stackfile.read_stack("prod", str(path)).config().dns.imports == matched.imports


def test_pulumi_bulk_import_file(capsys, tmp_path, prod_plan, matched):
    out = tmp_path / "import.json"
    argv = ["--from-json", str(RECORDS_JSON), "--address", HYPHA, "--pulumi-import-file", str(out)]
    assert import_ids.main(argv) == 0
    doc = json.loads(out.read_text())
    zone, *records = doc["resources"]
    assert "nameTable" not in doc
    assert zone == {"type": "socialcoop:dns:Zone", "name": "social-coop", "component": True}
    new = matching.load_new_in_prod()
    planned = {
        r.name: r for r in prod_plan.resources if r.type == import_ids.RECORD_TYPE and r.name not in new
    }
    assert [r["name"] for r in records] == list(planned)  # the program's names ...
    for r in records:
        assert (
            r["type"] == planned[r["name"]].type and r["parent"] == planned[r["name"]].parent
        )  # ... and parent
        assert r["id"] == matched.ids[r["name"].removeprefix("social-coop-")]
    assert import_ids.main([*argv, "--zone-in-state"]) == 0
    doc = json.loads(out.read_text())
    assert doc["nameTable"] == {
        "social-coop": "urn:pulumi:prod::socialcoop-infra::socialcoop:dns:Zone::social-coop"
    }
    assert [r["type"] for r in doc["resources"]] == [import_ids.RECORD_TYPE] * len(planned)


# --------------------------------------------------------------------------- a local Cloudflare API


@pytest.fixture
def api():
    """Cloudflare's list-records endpoint on 127.0.0.1: checks the token, pages of 5."""
    records, seen = saved_records(), []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            seen.append((url.path, query, self.headers.get("Authorization")))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self.reply(
                    403, {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}]}
                )
            if url.path != f"/client/v4/zones/{ZONE_ID}/dns_records":
                return self.reply(404, {"success": False, "errors": [{"code": 7003, "message": "No route"}]})
            page, per_page = int(query.get("page", 1)), min(int(query.get("per_page", 100)), 5)
            chunk = records[(page - 1) * per_page : page * per_page]
            pages = -(-len(records) // per_page)
            info = {
                "page": page,
                "per_page": per_page,
                "count": len(chunk),
                "total_count": len(records),
                "total_pages": pages,
            }
            self.reply(
                200, {"success": True, "errors": [], "messages": [], "result": chunk, "result_info": info}
            )

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}/client/v4", seen


@pytest.fixture
def http_opt_in(monkeypatch):
    """The tests' explicit opt-in to plain HTTP, to 127.0.0.1 only (the fakes speak no TLS)."""
    monkeypatch.setenv("SOCIALCOOP_ALLOW_HTTP_LOOPBACK", "1")


def test_fetches_every_page_with_the_token(api, http_opt_in, capsys, monkeypatch, matched):
    url, seen = api
    monkeypatch.setenv("TEST_CF_TOKEN", TOKEN)
    argv = ["--zone-id", ZONE_ID, "--token-env", "TEST_CF_TOKEN", "--api", url, "--address", HYPHA]
    assert import_ids.main(argv) == 0
    out, err = capsys.readouterr()
    assert yaml.safe_load(out) == {"imports": matched.imports}
    assert [q["page"] for _, q, _ in seen] == [str(n) for n in range(1, 8)]  # 33 records, 5 a page
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in seen)
    assert TOKEN not in out + err


def test_a_refused_token_stops_without_showing_it(api, http_opt_in, capsys, monkeypatch):
    url, seen = api
    monkeypatch.setenv("TEST_CF_TOKEN", "wrong-token-not-real")
    argv = ["--zone-id", ZONE_ID, "--token-env", "TEST_CF_TOKEN", "--api", url]
    assert import_ids.main(argv) == 2
    out, err = capsys.readouterr()
    assert "HTTP 403: 10000: Authentication error" in err
    assert "wrong-token-not-real" not in out + err and len(seen) == 1


@pytest.mark.parametrize(
    "argv, env, message",
    [
        (["--zone-id", ZONE_ID], {}, "$CLOUDFLARE_API_TOKEN is not set"),
        (["--zone-id", "1" * 32], {"CLOUDFLARE_API_TOKEN": TOKEN}, "is not the stack's dns.zone_id"),
        (
            ["--zone-id", ZONE_ID, "--api", "http://api.example.org/v4"],
            {"CLOUDFLARE_API_TOKEN": TOKEN},
            "must be https://",
        ),
    ],
)
def test_fetch_refuses_before_sending_anything(capsys, monkeypatch, argv, env, message):
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert import_ids.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and TOKEN not in err


def test_plain_http_is_refused_without_the_tests_opt_in(api, capsys, monkeypatch):
    """Issue 17: http:// to 127.0.0.1 used to be accepted silently; now only with the opt-in."""
    url, seen = api
    monkeypatch.delenv("SOCIALCOOP_ALLOW_HTTP_LOOPBACK", raising=False)
    monkeypatch.setenv("TEST_CF_TOKEN", TOKEN)
    argv = ["--zone-id", ZONE_ID, "--token-env", "TEST_CF_TOKEN", "--api", url, "--address", HYPHA]
    assert import_ids.main(argv) == 2
    assert "must be https://" in capsys.readouterr().err
    assert seen == []  # nothing was sent


def test_the_opt_in_is_for_this_machine_only(http_opt_in, capsys, monkeypatch):
    monkeypatch.setenv("TEST_CF_TOKEN", TOKEN)
    argv = ["--zone-id", ZONE_ID, "--token-env", "TEST_CF_TOKEN", "--api", "http://api.example.org/v4"]
    assert import_ids.main(argv) == 2
    assert "must be https://" in capsys.readouterr().err


def test_a_redirect_to_another_host_never_gets_the_token(api, capsys, monkeypatch):
    """Issue 17: the token followed a redirect to whatever host it named (here another port)."""
    target, seen = api

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", target + self.path.removeprefix("/client/v4"))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("SOCIALCOOP_ALLOW_HTTP_LOOPBACK", "1")
        monkeypatch.setenv("TEST_CF_TOKEN", TOKEN)
        url = f"http://127.0.0.1:{server.server_address[1]}/client/v4"
        argv = ["--zone-id", ZONE_ID, "--token-env", "TEST_CF_TOKEN", "--api", url, "--address", HYPHA]
        assert import_ids.main(argv) == 2
        err = capsys.readouterr().err
        assert "refused a redirect" in err and target in err and TOKEN not in err
        assert seen == []  # the other host saw no request at all, so no token
    finally:
        server.shutdown()
        server.server_close()
