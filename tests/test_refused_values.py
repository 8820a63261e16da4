"""Values the loader used to accept and must refuse (issue 22: findings 5, 6, 7, 14, 16), by
class: each rule is tried with several spellings of the same mistake, and the legitimate
neighbours of each mistake still load.

- Ansible extra vars: no variable Ansible gives a meaning (connection, inventory, play), only
  plain names, no value Jinja would render; secret vars stay secret; no checkout path.
- Lifecycle prefixes: never over what Mastodon keeps in the bucket.
- Mail records: every value spliced into SPF, DMARC, TLS-RPT, MTA-STS or CAA is checked
  against that record's grammar, by the loader and again by the builder.
- SSH port: never on the web ports or an extra port; TXT text escaped in the zone file.
- Host firewall: ports Docker publishes (forwarded, not input) are filtered too.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess

import pytest

from components.core.errors import REPO_ROOT
from components.dns import mail_auth
from components.dns.mail_models import Sender
from components.dns.records import ResolvedRecord, quoted
from components.hosts.cloudinit import BOOTSTRAP_PARTS, user_data
from components.hosts.firewall import inbound_rules
from components.hosts.models import ExtraPort
from tests.conftest import key
from tools.check.resolver import Rdata
from tools.review import plan as plan_tool
from tools.review import program, stackfile, zonefile

PLAYBOOK = "tests/target/playbook/site.yml"


def ansible(**fields):
    def mutate(c):
        c[key("ansible")] = {"playbook": PLAYBOOK, **fields}

    return mutate


# --------------------------------------------------------------------------- 5: Ansible


@pytest.mark.parametrize(
    "name",
    [
        "ansible_host",  # alpha's playbook would target rhizome
        "ansible_ssh_common_args",  # a ProxyCommand runs on the machine running pulumi
        "ansible_ssh_extra_args",
        "ansible_become_password",
        "ansible_connection",
        "ansible_python_interpreter",
        "ansible_shell_executable",
        "ansible_port",
        "ansible_user",
        "inventory_hostname",
        "inventory_dir",
        "hostvars",
        "groups",
        "group_names",
        "play_hosts",
        "playbook_dir",
        "role_path",
        "omit",
        "environment",
        "become",
        "become_user",
        "hosts",
        "vars",
        "lookup",
        "item",
        "fqdn",  # the generated inventory's own host variable
    ],
)
def test_extra_vars_refuse_what_ansible_or_the_inventory_sets(config_error, name):
    e = config_error("alpha", ansible(extra_vars={name: "203.0.113.10"}))
    assert e.path == f"ansible.extra_vars.{name}", str(e)
    assert "Ansible (or the generated inventory) sets itself" in e.allowed
    assert "\n" not in str(e)


@pytest.mark.parametrize("name", ["my-var", "1st", "a b", "Greeting", "_private", "class", "ünï", "x" * 65])
def test_extra_var_names_are_plain_identifiers(config_error, name):
    e = config_error("alpha", ansible(extra_vars={name: 1}))
    assert e.path == f"ansible.extra_vars.{name}" and "a plain variable name" in e.allowed


@pytest.mark.parametrize(
    "value",
    [
        "{{ lookup('pipe', 'id') }}",
        "a {% for x in y %}{% endfor %}",
        "{# a comment #}",
        "#jinja2:variable_start_string:'[[', variable_end_string:']]'\n[[ 6 * 7 ]]",
        ["plain", "{{ 6 * 7 }}"],
        {"nested": {"deeper": "{{ hostvars }}"}},
        {"{{ key }}": "value"},
    ],
)
def test_extra_var_values_jinja_would_render_are_refused(config_error, value):
    e = config_error("alpha", ansible(extra_vars={"greeting": value}))
    assert e.path == "ansible.extra_vars.greeting" and "Jinja" in e.allowed


def test_plain_extra_vars_and_secret_vars_still_load(load_config):
    cfg = load_config(
        "alpha",
        ansible(
            extra_vars={
                "greeting": "hello { braces } and 50% off",
                "twg_ansible_host": "x",
                "items": [1, {"a": "b"}],
            },
            secret_vars={"db_password": {"secure": "v1:AAAAfakeCiphertextNotReal="}},
        ),
    )
    assert cfg.ansible.extra_vars["greeting"].startswith("hello")
    assert repr(cfg.ansible.secret_vars["db_password"]) == "Secret([secret])"


def test_a_plaintext_secret_var_is_refused_without_showing_it(config_error):
    e = config_error("alpha", ansible(secret_vars={"db_password": "hunter2-not-real"}))
    assert e.path == "ansible.secret_vars.db_password" and "pulumi config set --secret --path" in e.allowed
    assert "hunter2" not in str(e)


def test_a_plaintext_secret_var_beside_an_encrypted_one_is_refused(config_error):
    mutate = ansible(
        secret_vars={
            "db_password": {"secure": "v1:AAAAfakeCiphertextNotReal="},
            "api_token": "hunter2-not-real",
        }
    )
    e = config_error("alpha", mutate)
    assert e.path == "ansible.secret_vars.api_token" and "must be a secret" in e.allowed
    assert "hunter2" not in str(e)


def test_a_secret_elsewhere_in_ansible_is_refused(config_error):
    e = config_error(
        "alpha", ansible(extra_vars={"db_password": {"secure": "v1:AAAAfakeCiphertextNotReal="}})
    )
    assert e.path == "ansible.extra_vars.db_password" and "secrets go under ansible.secret_vars" in e.allowed


def test_secret_var_names_follow_the_extra_var_rules(config_error):
    e = config_error("alpha", ansible(secret_vars={"ansible_become_password": {"secure": "v1:AAAAfake="}}))
    assert e.path == "ansible.secret_vars.ansible_become_password" and "sets itself" in e.allowed
    e = config_error(
        "alpha",
        ansible(extra_vars={"greeting": "x"}, secret_vars={"greeting": {"secure": "v1:AAAAfake="}}),
    )
    assert e.path == "ansible.secret_vars.greeting" and "give each variable once" in e.allowed


def test_the_plan_never_shows_a_secret_var(load_config):
    """What `pulumi up` hands the program: the decrypted value, the key marked secret."""
    sf = stackfile.read_stack("alpha")
    values = {
        **sf.values,
        "ansible": {
            "playbook": PLAYBOOK,
            "extra_vars": {"greeting": "hello"},
            "secret_vars": {"db_password": "hunter2-not-real {{ 6 * 7 }}"},
        },
    }
    stack = dataclasses.replace(sf, values=values, secret_keys=frozenset({*sf.secret_keys, "ansible"}))
    plan = program.run_program(stack)
    shown = json.dumps(plan_tool.to_json(plan)) + plan_tool.render_tree(plan)
    assert "hunter2" not in shown
    run = next(r for r in plan.resources if r.name == "ansible-run")
    assert run.inputs["stdin"] == "[secret]"
    assert run.inputs["environment"]["SOCIALCOOP_EXTRA_VARS"] == '{"greeting": "hello"}'  # still reviewable


def test_the_playbook_command_holds_no_checkout_path(plan):
    p = plan("alpha", ansible(extra_vars={"greeting": "hello"}))
    run = next(r for r in p.resources if r.name == "ansible-run")
    assert str(REPO_ROOT) not in json.dumps(plan_tool.to_json(p))
    assert run.inputs["create"].endswith(f" {PLAYBOOK}")


# --------------------------------------------------------------------------- 6: lifecycle prefixes


def bucket(**fields):
    def mutate(c):
        (b,) = c[key("storage")]["buckets"].values()
        b.update(fields)

    return mutate


@pytest.mark.parametrize(
    "prefix",
    [
        "media_attachments/",
        "media_attachments/files/",
        "accounts/",
        "cache/",
        "cache/media_attachments/",
        "custom_emojis/",
        "site_uploads/",
        "preview_cards/",
        "preview_card_providers/",
        "imports/",
        "backups/dumps/",  # Mastodon's own archive exports
        "backups/pg/",  # inside Mastodon's backups/
    ],
)
@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_a_dump_expiry_never_covers_what_mastodon_keeps(config_error, stack, prefix):
    e = config_error(stack, bucket(backups_prefix=prefix, backup_expire_days=1))
    assert e.path.endswith(".backups_prefix") and "Mastodon's" in e.allowed and "db-backups/" in e.allowed


def test_the_rule_holds_for_a_bucket_not_marked_mastodon(config_error):
    """`mastodon: false` is one line away from the bucket that holds the media."""
    e = config_error(
        "prod", bucket(mastodon=False, backups_prefix="media_attachments/", backup_expire_days=1)
    )
    assert e.path.endswith(".backups_prefix")


def test_shared_backups_prefix_must_outlast_mastodons_own_archive_retention(config_error, load_config):
    e = config_error("prod", bucket(backups_prefix="backups/", backup_expire_days=1))
    assert (
        e.path.endswith(".backup_expire_days")
        and "archive exports" in e.allowed
        and "at least 7" in e.allowed
    )
    assert load_config("prod", bucket(backup_expire_days=7))  # alpha's value; prod has 30
    assert load_config("prod", bucket(backups_prefix="db-backups/", backup_expire_days=1))
    assert load_config("alpha", bucket(backups_prefix="pg/dumps/", backup_expire_days=3))


# --------------------------------------------------------------------------- 7: mail records


def dmarc(**fields):
    def mutate(c):
        c[key("mail")]["dmarc"][0].update(fields)

    return mutate


def mail(**fields):
    def mutate(c):
        c[key("mail")].update(fields)

    return mutate


BAD_URIS = [
    "https://x.example;p=none",  # a second p= in the record
    "mailto:a@example.org; p=none",
    "mailto:a@example.org,mailto:b@example.org",  # two URIs in one item
    'mailto:a"b@example.org',  # ends the quoted string (crashed the plan)
    "mailto:a\\b@example.org",
    "mailto:a b@example.org",
    "https://reports.example.org/a b",
    "https://reports.example.org/\x00",
    "mailto:dmarc@example.org!",
    "http://reports.example.org/",
    "ftp://reports.example.org/",
]


@pytest.mark.parametrize("uri", BAD_URIS)
@pytest.mark.parametrize("tag", ["rua", "ruf"])
def test_dmarc_report_uris_follow_rfc_7489(config_error, tag, uri):
    e = config_error("prod", dmarc(**{tag: [uri]}))
    assert e.path == f"mail.dmarc[0].{tag}[0]" and "percent-encoded" in e.allowed


@pytest.mark.parametrize("uri", BAD_URIS + ["mailto:tls@example.org!10m"])
def test_tls_rpt_report_uris_follow_rfc_8460(config_error, uri):
    e = config_error("prod", mail(mta_sts={"policy_id": "1", "tlsrpt_rua": [uri]}))
    assert e.path == "mail.mta_sts.tlsrpt_rua[0]"


@pytest.mark.parametrize("uri", BAD_URIS)
def test_caa_iodef_follows_rfc_8659(config_error, uri):
    e = config_error("prod", mail(caa={"issuers": ["letsencrypt.org"], "iodef": uri}))
    assert e.path == "mail.caa.iodef"


@pytest.mark.parametrize(
    "issuer", ['letsencrypt.org"', "letsencrypt.org;", "-ca.example", "ca..example", "ca"]
)
def test_caa_issuers_are_domain_names(config_error, issuer):
    e = config_error("prod", mail(caa={"issuers": [issuer], "iodef": "mailto:tech@social.coop"}))
    assert e.path == "mail.caa.issuers[0]"


@pytest.mark.parametrize(
    "mechanism",
    [
        'exists:%{i}."x.example.org',
        "exists:%{i}.x\\.example.org",
        "exists:%{q}.example.org",  # not a macro letter
        "exists:a b",
        'ptr:"example.org',
        "ptr:example.org;x",
        'ip4:"192.0.2.1',
        'ip6:2001:db8::1"',
    ],
)
def test_spf_mechanisms_hold_nothing_a_txt_string_cannot(config_error, mechanism):
    def mutate(c):
        c[key("mail")]["senders"]["extra"] = {"mechanism": mechanism, "lookups": 1}

    e = config_error("prod", mutate)
    assert e.path == "mail.senders.extra.mechanism"


def test_sender_comments_are_one_printable_line(config_error):
    def mutate(c):
        c[key("mail")]["senders"]["mailgun"]["comment"] = "Mailgun\n; injected"

    e = config_error("prod", mutate)
    assert e.path == "mail.senders.mailgun.comment" and "one line" in e.allowed


GOOD_URIS = [
    "mailto:dmarc@example.org",
    "mailto:dmarc+reports@example.org!10m",
    "mailto:a%2Cb@example.org",  # a comma, percent-encoded
    "https://reports.example.org/dmarc?x=1&y=%3B",
]


def test_good_report_uris_load_and_checkdmarc_parses_the_records(load_config):
    from tests.test_mail_auth import REPORTS, StubResolver

    external = {("*._report._dmarc.example.org", "TXT"): ['"v=DMARC1"']}
    cfg = load_config(
        "prod",
        lambda c: (
            dmarc(rua=[*GOOD_URIS, "mailto:00000000000000000000000000000000@dmarc-reports.cloudflare.net"])(
                c
            ),
            mail(mta_sts={"policy_id": "20260101", "tlsrpt_rua": GOOD_URIS[:1] + GOOD_URIS[2:]})(c),
        ),
    )
    from checkdmarc.dmarc import parse_dmarc_record
    from checkdmarc.smtp_tls_reporting import parse_smtp_tls_reporting_record

    from components.dns.records import resolve

    records = {r.key: r.content for r in resolve(cfg)}
    resolver = StubResolver({**REPORTS, **external})
    parsed = parse_dmarc_record(
        records["_dmarc-txt-dmarc"], "social.coop", resolver=resolver, timeout=0.5, retries=0
    )
    assert [u["scheme"] + ":" + u["address"] for u in parsed["tags"]["rua"]["value"]][:3] == [
        "mailto:dmarc@example.org",
        "mailto:dmarc+reports@example.org",
        "mailto:a%2Cb@example.org",
    ]
    assert parsed["tags"]["rua"]["value"][1]["size_limit"] == "10m"
    assert len(parsed["tags"]["rua"]["value"]) == 5 and parsed["tags"]["p"]["value"] == "quarantine"
    rpt = parse_smtp_tls_reporting_record(records["_smtp._tls-txt-tls-rpt"])
    assert rpt["tags"]["rua"]["value"] == GOOD_URIS[:1] + GOOD_URIS[2:]


@pytest.mark.parametrize(
    "call",
    [
        lambda: mail_auth.dmarc("reject", rua=["https://x.example;p=none"]),
        lambda: mail_auth.dmarc("reject", ruf=['mailto:a"b@example.org']),
        lambda: mail_auth.dmarc("reject; rua=mailto:x@example.org"),
        lambda: mail_auth.dmarc("reject", sp="none; p=none"),
        lambda: mail_auth.dmarc("reject", adkim="r; p=none"),
        lambda: mail_auth.dmarc("reject", pct="50; p=none"),  # type: ignore[arg-type]  # on purpose: the builder checks too
        lambda: mail_auth.tls_rpt(["mailto:a@example.org;x=y"]),
        lambda: mail_auth.caa(["letsencrypt.org"], 'mailto:a"b@example.org'),
        lambda: mail_auth.caa(['letsencrypt.org" 0 issue "evil.example'], "mailto:tech@social.coop"),
        lambda: mail_auth.caa_content("iodef", 'mailto:a"b@example.org'),
        lambda: mail_auth.caa_content("issue", "ca.example\\"),
        lambda: mail_auth.caa_content("issue; x", "ca.example"),
        lambda: mail_auth.spf([Sender.model_construct(mechanism='exists:"x', lookups=1)]),
        lambda: mail_auth.spf([], "-all include:evil.example"),
        lambda: mail_auth.dkim("MIIB; p=other"),
        lambda: mail_auth.dkim("MIIB", "rsa; p=x"),
        lambda: mail_auth.mta_sts("1; v=other"),
    ],
)
def test_builders_refuse_what_would_break_out_of_its_tag_even_when_called_directly(call):
    with pytest.raises(ValueError, match="would break out"):
        call()


# --------------------------------------------------------------------------- 14: SSH port, TXT text


@pytest.mark.parametrize("port", [80, 443, "443"])
@pytest.mark.parametrize("host", ["hypha", "rhizome"])
def test_ssh_port_is_never_a_web_port(config_error, host, port):
    def mutate(c):
        c[key("hosts")][host]["ssh_port"] = port

    e = config_error("prod", mutate)
    assert e.path == f"hosts.{host}.ssh_port" and "HTTP and HTTPS" in e.allowed


def test_an_extra_port_is_never_the_hosts_ssh_port(config_error, load_config):
    def mutate(port, protocol="tcp"):
        def change(c):
            hypha = c[key("hosts")]["hypha"]
            hypha["ssh_port"] = 2222
            hypha["hetzner_cloud"]["extra_ports"] = [{"port": port, "protocol": protocol, "reason": "git"}]

        return change

    e = config_error("prod", mutate(2222))
    assert e.path == "hosts.hypha.hetzner_cloud.extra_ports[0].port" and "ssh_port" in e.allowed
    cfg = load_config("prod", mutate(2222, "udp"))  # another protocol, another port
    assert [r["port"] for r in inbound_rules(2222, cfg.hosts["hypha"].hetzner.extra_ports) if "port" in r] == [
        "22", "80", "443", "2222", "2222",
    ]  # fmt: skip


def test_the_firewall_rules_never_open_a_port_twice():
    with pytest.raises(ValueError, match="443/tcp"):
        inbound_rules(443)
    with pytest.raises(ValueError, match="2222/tcp"):
        inbound_rules(2222, [ExtraPort(port=2222, reason="git")])


@pytest.mark.parametrize("text", ['v=spf1 exists:%{i}."x -all', "a\\b", 'say "hi"', "tab\there", "café"])
def test_the_zone_file_escapes_txt_text_as_rfc_1035_says(load_config, text):
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    cfg = load_config("alpha")
    r = ResolvedRecord("x-txt", "x.alpha", "TXT", text)
    data = zonefile.rdata(r, cfg, zonefile.host_addresses(cfg))
    assert data == quoted(text)
    parsed: Rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, data)
    assert b"".join(parsed.strings).decode() == text


# --------------------------------------------------------------------------- 16: forwarded ports


def test_the_host_firewall_filters_ports_docker_publishes(load_config, tmp_path):
    """Forwarded traffic (Docker's DNAT to a container) never reaches the input chain: the
    forward chain lets a new connection from outside through to the listed ports only, matched
    on the port the client connected to; nft accepts the table. On a real machine:
    tests/target/test_bootstrap.py."""
    cfg = load_config("prod")
    host = cfg.hosts["rhizome"].model_copy(update={"ssh_port": 2200})
    doc = user_data(host, cfg.admins, parts=list(BOOTSTRAP_PARTS))
    nft = next(f["content"] for f in doc["write_files"] if f["path"] == "/etc/socialcoop/firewall.nft")
    forward = nft[nft.index("chain forward") :]
    lines = [line.strip() for line in forward.splitlines()]
    assert "type filter hook forward priority filter - 1; policy drop;" in lines
    assert lines.index("ct state established,related accept") < lines.index('iifname "docker0" accept')
    assert 'iifname "br-*" accept' in lines
    assert [line for line in lines if "proto-dst" in line] == [
        'meta l4proto tcp ct original proto-dst 22 accept comment "SSH"',
        'meta l4proto tcp ct original proto-dst 80 accept comment "HTTP"',
        'meta l4proto tcp ct original proto-dst 443 accept comment "HTTPS"',
        'meta l4proto tcp ct original proto-dst 2200 accept comment "SSH (ssh_port)"',
    ]
    (tmp_path / "firewall.nft").write_text(nft)
    result = subprocess.run(
        ["nft", "-c", "-f", str(tmp_path / "firewall.nft")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
