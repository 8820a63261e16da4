"""Issue 22, the values that reach a host, a shell or a config line, and how values are read,
compared and shown. Each test names the finding it closes (1, 8-13). What the loader refuses
ends in one line: the file, the key path, the value (secrets masked), what is allowed.

New names are imported inside the tests, so that each test fails on its own against the code
before the fix (d5295ef) rather than the whole module failing to import.
"""

from __future__ import annotations

import base64
import os
import struct
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from components.core import values
from components.core.config import PROJECT, ConfigError, parse
from components.hosts.cloudinit import BOOTSTRAP_SCRIPT, render_bootstrap_config, render_user_data, user_data
from tests.conftest import DUMPER, key, stack_doc
from tools.review import plan as plan_tool
from tools.review import stackfile

OPENSSH = (serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
ALICE = stack_doc("prod")["config"][key("admins")][0]["ssh_key"]  # the committed placeholder key
ALICE_TYPE, ALICE_BLOB, _ = ALICE.split(" ")
OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIG2N9j80sbaY1nmljEToRcN55XktyW4TR4LTP2exYzp"
PRIVATE = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


def wire(*fields: bytes) -> str:
    return base64.b64encode(b"".join(struct.pack(">I", len(f)) + f for f in fields)).decode()


def admin_key(line: str, i: int = 0):
    return lambda c: c[key("admins")][i].update(ssh_key=line)


def host_key(line: str):
    return lambda c: c[key("hosts")]["rhizome"]["vps"].update(ssh_host_key=line)


def refused(config_error, stack: str, mutate, path: str, allowed: str | None = None) -> ConfigError:
    err = config_error(stack, mutate)
    message = str(err)
    assert "\n" not in message and "\r" not in message, message
    assert err.path == path, message
    if allowed is not None:
        assert allowed in err.allowed, message
    return err


# --------------------------------------------------------------------------- 1: one key, one line

INJECTED = [
    ("newline-admin", f"{ALICE_TYPE} {ALICE_BLOB}\nadmin mallory {OTHER}"),
    ("newline-file", f"{ALICE_TYPE} {ALICE_BLOB}\nfile /etc/sudoers.d/00-x 0440 - " + "eA=="),
    ("crlf-admin", f"{ALICE_TYPE} {ALICE_BLOB}\r\nadmin mallory {OTHER}"),
    ("cr-only", f"{ALICE_TYPE} {ALICE_BLOB}\radmin mallory"),
    ("trailing-newline", f"{ALICE_TYPE} {ALICE_BLOB}\n"),
    ("nel", f"{ALICE_TYPE} {ALICE_BLOB} alice\x85admin mallory"),
    ("u2028", f"{ALICE_TYPE} {ALICE_BLOB}\u2028admin mallory"),
    ("tab", f"{ALICE_TYPE}\t{ALICE_BLOB}"),
]


@pytest.mark.parametrize("line", [c[1] for c in INJECTED], ids=[c[0] for c in INJECTED])
@pytest.mark.parametrize("where", ["admin", "host"])
def test_f1_a_key_with_a_line_break_or_control_character_is_refused(config_error, line, where):
    if where == "admin":
        refused(
            config_error, "prod", admin_key(line), "admins[0].ssh_key", "exactly one OpenSSH public key line"
        )
    else:
        path = "hosts.rhizome.vps.ssh_host_key"
        refused(config_error, "prod", host_key(line), path, "exactly one OpenSSH public key line")


BLOB = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(*OPENSSH).decode().split(" ")[1]
RAW = base64.b64decode(BLOB)
P256 = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(*OPENSSH).decode()
P256_TYPE, P256_BLOB = P256.split(" ")  # 104 bytes: base64 with one "=" and two padding bits
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
P256_PADDING_BIT = P256_BLOB[:-2] + B64[B64.index(P256_BLOB[-2]) ^ 1] + "="
NOT_STRICT = [
    ("star", f"ssh-ed25519 {BLOB[:-4]}*{BLOB[-3:]}"),
    ("quote-after", f'ssh-ed25519 {BLOB}"'),
    ("star-after", f"ssh-ed25519 {BLOB}*"),
    ("extra-bytes", "ssh-ed25519 " + base64.b64encode(RAW + b"\x00\x00\x00\x01x").decode()),
    ("embedded-type-other", "ssh-ed25519 " + wire(b"ssh-ed25519x", RAW[-32:])),
    ("short-key", "ssh-ed25519 " + wire(b"ssh-ed25519", RAW[-31:])),
    ("rsa-blob-as-ed25519", "ssh-ed25519 " + wire(b"ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\xff" * 256)),
]


@pytest.mark.parametrize("line", [c[1] for c in NOT_STRICT], ids=[c[0] for c in NOT_STRICT])
def test_f1_key_data_is_strict_base64_read_whole(config_error, line):
    refused(config_error, "prod", admin_key(line), "admins[0].ssh_key", "does not parse as a ssh-ed25519 key")


@pytest.mark.parametrize(
    "blob",
    [P256_BLOB.rstrip("="), P256_PADDING_BIT, P256_BLOB + "=", P256_BLOB[:-1]],
    ids=["padding-missing", "padding-bits-set", "padding-extra", "cut"],
)
def test_f1_base64_must_be_canonical(config_error, load_config, blob):
    assert load_config("prod", admin_key(P256)).admins[0].ssh_key == P256
    path = "admins[0].ssh_key"
    refused(
        config_error, "prod", admin_key(f"{P256_TYPE} {blob}"), path, f"does not parse as a {P256_TYPE} key"
    )


def test_f1_ecdsa_curve_must_be_the_types(config_error):
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(*OPENSSH).decode()
    fields = base64.b64decode(p256.split(" ")[1])
    point = fields[4 + 19 + 4 + 8 + 4 :]  # after the type and curve name
    lying = "ecdsa-sha2-nistp256 " + wire(b"ecdsa-sha2-nistp256", b"nistp384", point)
    refused(
        config_error,
        "prod",
        admin_key(lying),
        "admins[0].ssh_key",
        "does not parse as a ecdsa-sha2-nistp256 key",
    )


def test_f1_the_model_keeps_the_line_rebuilt_from_the_parsed_key(load_config):
    cfg = load_config("prod", admin_key(f"  {ALICE_TYPE}   {ALICE_BLOB}   alice  laptop   "))
    assert cfg.admins[0].ssh_key == f"{ALICE_TYPE} {ALICE_BLOB} alice  laptop"
    cfg = load_config("prod", host_key(f"{ALICE_TYPE}  {ALICE_BLOB}"))
    assert cfg.hosts["rhizome"].vps.ssh_host_key == f"{ALICE_TYPE} {ALICE_BLOB}"


def test_f1_committed_keys_are_already_canonical(load_config):
    for stack in ("prod", "alpha"):
        config = stack_doc(stack)["config"]
        cfg = load_config(stack)
        assert [a.ssh_key for a in cfg.admins] == [a["ssh_key"] for a in config[key("admins")]]
        for name, h in config[key("hosts")].items():
            if "vps" in h:
                assert cfg.hosts[name].vps_.ssh_host_key == h["vps"]["ssh_host_key"]


def test_f1_a_security_key_is_read_whole_too(load_config, config_error):
    pk = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    good = "sk-ssh-ed25519@openssh.com " + wire(b"sk-ssh-ed25519@openssh.com", pk, b"ssh:")
    assert load_config("prod", admin_key(good + " yubikey")).admins[0].ssh_key == good + " yubikey"
    cut = "sk-ssh-ed25519@openssh.com " + wire(b"sk-ssh-ed25519@openssh.com", pk)  # no application
    refused(config_error, "prod", admin_key(cut), "admins[0].ssh_key", "does not parse")


def test_f1_a_pasted_private_key_is_named_as_such_and_never_shown(config_error):
    for mutate, path in [
        (admin_key(PRIVATE), "admins[0].ssh_key"),
        (host_key(PRIVATE), "hosts.rhizome.vps.ssh_host_key"),
        (lambda c: c[key("dns")]["records"]["www"][0].update(comment=PRIVATE), "dns.records.www[0].comment"),
        (admin_key("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAA"), "admins[0].ssh_key"),  # no header
    ]:
        err = refused(config_error, "prod", mutate, path)
        assert "PRIVATE key" in err.allowed and "compromised" in err.allowed and "new key pair" in err.allowed
        assert "b3BlbnNz" not in str(err) and "bkFBQUFB" not in str(err)


# --------------------------------------------------------------------------- 1: the renderers


def forged(cfg, **changes):
    """An admin whose key bypasses the loader (model_copy validates nothing): what a renderer
    must still refuse to write."""
    return (cfg.admins[0].model_copy(update=changes), *cfg.admins[1:])


@pytest.mark.parametrize(
    "changes",
    [
        {"ssh_key": f"{ALICE} \nadmin mallory {OTHER}"},
        {"ssh_key": f"{ALICE}\r"},
        {"name": "alice\nadmin"},
        {"name": "alice bob"},
    ],
    ids=["key-newline", "key-cr", "name-newline", "name-space"],
)
def test_f1_renderers_refuse_what_would_make_a_second_line(load_config, changes):
    cfg = load_config("prod")
    admins = forged(cfg, **changes)
    with pytest.raises(ValueError, match="bootstrap.conf|one line"):
        render_bootstrap_config(cfg.hosts["rhizome"], admins)
    if " " not in changes.get("name", ""):  # a space is fine in YAML; a line break never
        with pytest.raises(ValueError, match="one line"):
            render_user_data(cfg.hosts["hypha"], admins, "prod")


def test_f1_host_values_are_checked_by_the_renderers(load_config):
    from components.hosts.firewall import nft_rules
    from components.hosts.inventory import render_inventory, ssh_command
    from components.storage.settings import mastodon_s3_env

    cfg = load_config("prod")
    host = cfg.hosts["rhizome"].model_copy(update={"fqdn": "rhizome.social.coop\n127.0.0.1 evil"})
    with pytest.raises(ValueError, match="one line"):
        user_data(host, cfg.admins)
    with pytest.raises(ValueError, match="one line"):
        render_inventory({"rhizome": host}, {"rhizome": "203.0.113.10"})
    with pytest.raises(ValueError, match="one line"):
        ssh_command(host)
    rule = {"protocol": "tcp", "port": "8080", "description": 'ok\n}\nchain x { accept "'}
    with pytest.raises(ValueError, match="one line"):
        nft_rules([rule])
    with pytest.raises(ValueError, match="128 bytes"):
        nft_rules([{**rule, "description": "é" * 65}])
    bucket = cfg.storage.buckets["social-coop-media"].model_copy(update={"alias_host": "x\nS3_ENABLED=false"})
    with pytest.raises(ValueError, match="line break"):
        mastodon_s3_env("prod", bucket, "KEY", "SECRET")


def test_f1_the_zone_file_never_writes_a_second_record(load_config):
    from tools.review import zonefile

    cfg = load_config("prod")
    record = cfg.dns.records[0]
    bad = record.model_copy(update={"comment": "x\nevil 60 IN A 192.0.2.1"}).at(record.name, record.path)
    dns = cfg.dns.model_copy()
    dns._records = (bad, *cfg.dns.records[1:])
    cfg = cfg.model_copy(update={"dns": dns})
    with pytest.raises(ValueError, match="one line"):
        zonefile.render(cfg, zonefile.host_addresses(cfg))


def conf_check(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    """bootstrap.sh --check: reads and checks the data file, changes nothing."""
    conf = tmp_path / "bootstrap.conf"
    conf.write_text(text)
    return subprocess.run(
        ["bash", str(BOOTSTRAP_SCRIPT), "--check", str(conf)], capture_output=True, text=True, timeout=30
    )


def test_f1_bootstrap_reads_what_the_renderer_writes(load_config, tmp_path):
    for stack in ("prod", "alpha"):
        cfg = load_config(stack)
        for host in cfg.hosts.values():
            run = conf_check(tmp_path, render_bootstrap_config(host, cfg.admins))
            assert run.returncode == 0 and run.stdout.endswith(": good\n"), run.stdout + run.stderr


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("\nadmin bob ", f"\nadmin mallory {OTHER}\nadmin bob "), "lines before the end line"),
        (lambda t: t + "file /etc/sudoers.d/00-x 0440 - eA==\n", "a line after the end line"),
        (lambda t: t.rsplit("\n", 2)[0] + "\n", "no end line"),
        (lambda t: t.replace("\nservice fail2ban", "\nfile /etc/sudoers.d/00-x 0440 - eA=="), "not a 'file' line"),
        (lambda t: t.replace("\nservice fail2ban", "\nfile /root/.ssh/authorized_keys 0600 - eA=="), "not a 'file' line"),
        (lambda t: t.replace("\nservice fail2ban", "\nfile /etc/socialcoop/.. 0440 - eA=="), "not a 'file' line"),
        (lambda t: t.replace("\nadmin alice ", "\nadmin alice\r "), "not a 'admin' line"),
        (lambda t: t.replace("\nadmin alice ssh-ed25519 ", "\nadmin alice ssh-dss "), "not a 'admin' line"),
        (lambda t: t.replace("\nadmin alice ", "\nadmin Alice;id "), "not a 'admin' line"),
        (lambda t: t.replace("\nhostname rhizome\n", "\nhostname rhizome\nhostname x\n"), "a second 'hostname' line"),
        (lambda t: t.replace("\nadmin bob ", "\nadmin alice "), "admin 'alice' twice"),
        (lambda t: t.replace("\nservice fail2ban", "\nsudoers ALL"), "unknown line kind"),
    ],
    ids=[
        "injected-admin", "appended-file", "cut", "sudoers-file", "other-path", "dot-dot", "cr",
        "dss-key", "odd-name", "second-hostname", "admin-twice", "unknown-kind",
    ],
)  # fmt: skip
def test_f1_bootstrap_refuses_a_line_the_renderer_did_not_write(load_config, tmp_path, edit, message):
    cfg = load_config("prod")
    text = render_bootstrap_config(cfg.hosts["rhizome"], cfg.admins)
    changed = edit(text)
    assert changed != text
    run = conf_check(tmp_path, changed)
    assert run.returncode == 1 and message in run.stderr, run.stdout + run.stderr


# --------------------------------------------------------------------------- 8: present means a value

PRESENT_BUT_EMPTY = [
    ("adopting-list", "prod", lambda c: c.update({key("adopting"): []}), "adopting"),
    ("adopting-mapping", "prod", lambda c: c.update({key("adopting"): {}}), "adopting"),
    ("adopting-text", "prod", lambda c: c.update({key("adopting"): ""}), "adopting"),
    ("protect-text", "prod", lambda c: c.update({key("protect"): ""}), "protect"),
    ("domain-mapping", "prod", lambda c: c.update({key("domain"): {}}), "domain"),
    ("domain-empty", "prod", lambda c: c.update({key("domain"): ""}), "domain"),
    ("instance-domain-empty", "prod", lambda c: c.update({key("instance_domain"): ""}), "instance_domain"),
    ("alpha-instance-domain-empty", "alpha", lambda c: c.update({key("instance_domain"): ""}), "instance_domain"),
    ("mail-list", "prod", lambda c: c.update({key("mail"): []}), "mail"),
    ("hosts-text", "prod", lambda c: c.update({key("hosts"): ""}), "hosts"),
    ("hcloud-import-empty", "prod", lambda c: c[key("admins")][0].update(hcloud_import=""), "admins[0].hcloud_import"),
    ("import-server-empty", "prod", lambda c: c[key("hosts")]["hypha"]["hetzner_cloud"]["import"].update(server=""), "hosts.hypha.hetzner_cloud.import.server"),
    ("import-firewall-empty", "prod", lambda c: c[key("hosts")]["hypha"]["hetzner_cloud"]["import"].update(firewall=""), "hosts.hypha.hetzner_cloud.import.firewall"),
    ("import-server-number", "prod", lambda c: c[key("hosts")]["hypha"]["hetzner_cloud"]["import"].update(server=[]), "hosts.hypha.hetzner_cloud.import.server"),
    ("bucket-import-empty", "prod", lambda c: c[key("storage")]["buckets"]["social-coop-media"].update({"import": ""}), "storage.buckets.social-coop-media.import"),
    ("dns-import-empty", "prod", lambda c: c[key("dns")]["imports"].update({"www-cname": ""}), "dns.imports.www-cname"),
    ("record-comment-empty", "prod", lambda c: c[key("dns")]["records"]["www"][0].update(comment=""), "dns.records.www[0].comment"),
    ("sender-comment-empty", "prod", lambda c: c[key("mail")]["senders"]["zoho"].update(comment=""), "mail.senders.zoho.comment"),
    ("decommission-empty", "prod", lambda c: c.update({key("protect"): False, key("decommission"): ""}), "decommission"),
    ("txt-value-empty", "prod", lambda c: c[key("dns")]["records"].update({"t": [{"type": "TXT", "value": ""}]}), "dns.records.t[0].value"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("stack", "mutate", "path"), [c[1:] for c in PRESENT_BUT_EMPTY], ids=[c[0] for c in PRESENT_BUT_EMPTY]
)
def test_f8_a_present_key_holds_a_value_of_its_type(config_error, stack, mutate, path):
    refused(config_error, stack, mutate, path)


def test_f8_only_a_missing_or_null_key_takes_the_default(load_config, config_error):
    assert load_config("prod", lambda c: c.pop(key("adopting"))).adopting is False
    # adopting and protect set to nothing are refused: their default is the unsafe side
    for k in ("adopting", "protect"):
        e = config_error("prod", lambda c, k=k: c.update({key(k): None}))
        assert e.path == k and "write true or false" in e.allowed
    assert (
        load_config("alpha", lambda c: c.update({key("instance_domain"): None})).instance_domain
        == "alpha.social.coop"
    )


def test_f8_the_plan_refuses_it(tmp_path, capsys):
    doc = stack_doc("prod")
    doc["config"][key("adopting")] = []
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.dump(doc, Dumper=DUMPER))
    assert plan_tool.main(["prod", "--config", str(path)]) == 2
    assert "socialcoop-infra:adopting = []: expected true or false" in capsys.readouterr().err


@pytest.fixture
def engine(pulumi_mocks, monkeypatch):
    """Config handed over as the Pulumi engine hands it: the CLI merged Pulumi.yaml's defaults."""
    import pulumi

    def run(stack_file: Path | None, stack: str = "prod"):
        from components.core import config

        sf = stackfile.read_stack(stack, str(stack_file) if stack_file else None)
        pulumi.runtime.set_all_config(sf.pulumi_config(), [])
        if stack_file is not None:
            monkeypatch.setenv("SOCIALCOOP_STACK_FILE", str(stack_file))
        monkeypatch.setattr(pulumi, "get_stack", lambda: stack)
        return config.load_from_pulumi()

    yield run
    pulumi.runtime.set_all_config({}, [])


def test_f8_under_pulumi_the_loader_reads_which_keys_the_stack_file_sets(engine, write_stack):
    """'' for a key whose Pulumi.yaml default is '' reaches the program exactly as the default
    does; the stack file tells them apart."""
    path = write_stack("prod", lambda c: c.update({key("instance_domain"): ""}))
    with pytest.raises(ConfigError) as info:
        engine(path)
    assert info.value.path == "instance_domain"
    assert engine(write_stack("prod", lambda c: None)).instance_domain == "social.coop"


def test_f8_without_a_stack_file_a_default_value_counts_as_not_set():
    """What the engine path accepts when no stack file is at hand (documented in
    components/core/config.py): a value equal to its Pulumi.yaml default."""
    raw = stackfile.read_stack("prod").values
    assert parse({**raw, "instance_domain": ""}, "t.yaml").instance_domain == "social.coop"
    with pytest.raises(ConfigError):
        parse({**raw, "adopting": []}, "t.yaml")


# --------------------------------------------------------------------------- 9: tokens


TOKENS = [
    "dop_v1_" + "0123456789abcdef" * 4,
    "glpat-" + "aB3dE5fG7hJ9kL1mN2pQ",
    "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "3f2a9c1d8e7b6a5f4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b",  # lower-case hex
    "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx",
    "AKIAIOSFODNN7EXAMPLE",
]


@pytest.mark.parametrize("token", TOKENS, ids=[t[:6] for t in TOKENS])
def test_f9_a_token_shows_at_most_a_short_prefix(config_error, token):
    mutate = lambda c: c[key("hosts")]["rhizome"]["vps"].update(provider=token)  # noqa: E731
    message = str(refused(config_error, "prod", mutate, "hosts.rhizome.vps.provider"))
    assert token[4:12] not in message
    for shown in (values.show(token), values.show({"a": [1, f"see {token}"]}), values.show([token])):
        assert token[4:12] not in shown, shown


def test_f9_a_token_used_as_a_name_is_masked_in_the_path_too(config_error):
    token = "3f2a9c1d8e7b6a5f4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b"
    mutate = lambda c: c[key("dns")]["imports"].update({token: "0" * 32 + "/" + "0" * 32})  # noqa: E731
    err = refused(config_error, "prod", mutate, f"dns.imports.{token}")
    assert token[4:12] not in str(err)


def test_f9_import_ids_are_not_secrets_and_are_shown(config_error):
    import_id = "00000000000000000000000000000000/" + "ab12" * 8
    mutate = lambda c: c[key("dns")]["imports"].update({"nowhere-a": import_id})  # noqa: E731
    assert import_id in str(refused(config_error, "prod", mutate, "dns.imports.nowhere-a"))


# --------------------------------------------------------------------------- 10: no traceback


def test_f10_a_placeholder_in_a_key_comment_stays_text(load_config):
    cfg = load_config("prod", admin_key(f"{ALICE_TYPE} {ALICE_BLOB} {{{{fqdn}}}} {{{{admin_key}}}}"))
    text = render_user_data(cfg.hosts["hypha"], cfg.admins, "prod")
    assert f"{ALICE_TYPE} {ALICE_BLOB} {{{{fqdn}}}} {{{{admin_key}}}}" in text
    assert "{{fqdn}} {{admin_key}}" in render_bootstrap_config(cfg.hosts["rhizome"], cfg.admins)


@pytest.mark.parametrize(
    "text",
    ["0x" + "f" * 5000, "1" + ":1" * 10000, "9" * 5000, "-0b" + "1" * 5000],
    ids=["hex-5000", "sexagesimal-10000", "decimal-5000", "binary-5000"],
)
def test_f10_a_huge_number_in_the_file_ends_in_one_line(tmp_path, text):
    source = (stackfile.REPO_ROOT / "Pulumi.prod.yaml").read_text()
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(source.replace("default_ttl: 3600", f"default_ttl: {text}"))
    start = time.process_time()
    with pytest.raises(ConfigError) as info:
        stackfile.read_stack("prod", str(path)).config()
    assert time.process_time() - start < 1
    assert info.value.path == "dns.default_ttl" and len(str(info.value)) < 400


@pytest.mark.parametrize("where", ["ttl", "price", "nested"])
def test_f10_a_huge_number_from_the_engine_ends_in_one_line(where):
    """JSON from the engine, or a caller, can hold any int: the message shows its size."""
    raw = stackfile.read_stack("prod").values
    big = 10**5000
    if where == "ttl":
        raw["dns"]["default_ttl"] = big
    elif where == "price":
        raw["hosts"]["rhizome"]["vps"]["monthly_price"] = {"amount": big, "currency": "EUR"}
    else:
        raw["hosts"]["rhizome"]["vps"]["ipv4"] = [big]
    with pytest.raises(ConfigError) as info:
        parse(raw, "Pulumi.prod.yaml", stack="prod")
    assert "16610 bits" in str(info.value) and len(str(info.value)) < 400


@pytest.mark.parametrize(
    "playbook",
    ["/proc/self/stat", "/dev/zero", "tests", "/etc/hostname", "../outside.yml", "a" * 5000, "x\0y"],
    ids=["proc", "device", "directory", "outside", "dotdot", "too-long", "nul"],
)
def test_f10_a_playbook_is_a_regular_file_inside_the_repository(config_error, playbook):
    mutate = lambda c: c.update({key("ansible"): {"playbook": playbook}})  # noqa: E731
    refused(config_error, "alpha", mutate, "ansible.playbook", "a regular file inside the repository")


def test_f10_a_playbook_may_not_be_a_fifo_or_a_symlink_leading_out(
    config_error, load_config, monkeypatch, tmp_path
):
    from components.hosts import ansible as stack_models

    monkeypatch.setattr(stack_models, "REPO_ROOT", tmp_path)
    os.mkfifo(tmp_path / "fifo.yml")
    (tmp_path / "out.yml").symlink_to("/etc/hostname")
    (tmp_path / "site.yml").write_text("- hosts: all\n")
    (tmp_path / "ansible").mkdir()
    (tmp_path / "ansible" / "site.yml").write_text("- hosts: all\n")
    (tmp_path / "ansible" / "in.yml").symlink_to(tmp_path / "ansible" / "site.yml")
    # at the root, its folder (hashed to know when to run it again) would be the whole checkout
    for bad in ("fifo.yml", "out.yml", str(tmp_path / "out.yml"), "site.yml"):
        mutate = lambda c, p=bad: c.update({key("ansible"): {"playbook": p}})  # noqa: E731
        refused(config_error, "alpha", mutate, "ansible.playbook")
    for good in ("ansible/site.yml", "ansible/in.yml", str(tmp_path / "ansible" / "site.yml")):
        assert load_config("alpha", lambda c, p=good: c.update({key("ansible"): {"playbook": p}})).ansible


# --------------------------------------------------------------------------- 12: bounds

BOUNDS = [
    ("key-comment-1mb", "prod", admin_key(f"{ALICE_TYPE} {ALICE_BLOB} " + "c" * 1_000_000), "admins[0].ssh_key", "at most 2048"),
    ("admin-name-33", "prod", lambda c: c[key("admins")][0].update(name="a" * 33), "admins[0].name", "at most 32"),
    ("admin-name-digit-first", "prod", lambda c: c[key("admins")][0].update(name="1alice"), "admins[0].name", "a lowercase letter"),
    ("iodef-100kb", "prod", lambda c: c[key("mail")]["caa"].update(iodef="mailto:" + "a" * 100_000 + "@x.org"), "mail.caa.iodef", "at most 255"),
    ("rua-300", "prod", lambda c: c[key("mail")]["dmarc"][0].update(rua=["https://x.org/" + "a" * 300]), "mail.dmarc[0].rua[0]", "at most 255"),
    ("cors-100kb", "prod", lambda c: c[key("storage")]["buckets"]["social-coop-media"].update(cors_origins=["https://" + "a" * 100_000]), "storage.buckets.social-coop-media.cors_origins[0]", "at most 262"),
    ("backups-prefix-5kb", "prod", lambda c: c[key("storage")]["buckets"]["social-coop-media"].update(backups_prefix="a/" * 2500), "storage.buckets.social-coop-media.backups_prefix", "at most 512"),
    ("price-1e308", "prod", lambda c: c[key("hosts")]["rhizome"]["vps"].update(monthly_price={"amount": 1e308, "currency": "EUR"}), "hosts.rhizome.vps.monthly_price.amount", "from 0 to 100,000"),
    ("reason-129-bytes", "prod", lambda c: c[key("hosts")]["hypha"]["hetzner_cloud"].update(extra_ports=[{"port": 8080, "reason": "é" * 65}]), "hosts.hypha.hetzner_cloud.extra_ports[0].reason", "128 bytes"),
    ("sender-comment-201", "prod", lambda c: c[key("mail")]["senders"]["zoho"].update(comment="c" * 201), "mail.senders.zoho.comment", "at most 200"),
    ("decommission-201", "prod", lambda c: c.update({key("protect"): False, key("decommission"): "d" * 201}), "decommission", "at most 200"),
    ("record-value-2049", "prod", lambda c: c[key("dns")]["records"].update({"c": [{"type": "CNAME", "value": "a." * 1025}]}), "dns.records.c[0].value", "at most 2048"),
    ("record-name-300", "prod", lambda c: c[key("dns")]["records"].update({"a." * 150: [{"type": "CNAME", "value": "x.org"}]}), "dns.records." + "a." * 150, "a name relative to the zone"),
    ("import-key-400", "prod", lambda c: c[key("dns")]["imports"].update({"x" * 400: "0" * 32 + "/" + "0" * 32}), "dns.imports." + "x" * 400, "at most 320"),
    ("mechanism-300", "prod", lambda c: c[key("mail")]["senders"]["zoho"].update(mechanism="exists:" + "a" * 300), "mail.senders.zoho.mechanism", "at most 255"),
    ("migration-record-400", "prod", lambda c: c.update({key("migration"): {"records": ["a" * 400 + " A"]}}), "migration.records[0]", "at most 300"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("stack", "mutate", "path", "allowed"), [c[1:] for c in BOUNDS], ids=[c[0] for c in BOUNDS]
)
def test_f12_every_free_text_value_has_its_consumers_bound(config_error, stack, mutate, path, allowed):
    err = refused(config_error, stack, mutate, path, allowed)
    assert len(str(err)) < 700


def string_schemas(node, path="") -> list[tuple[str, dict]]:
    """Every string-typed schema in the stack file's JSON Schema, with where it is."""
    out = []
    if isinstance(node, dict):
        if node.get("type") == "string":
            out.append((path, node))
        for k, v in node.items():
            out += string_schemas(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += string_schemas(v, f"{path}/{i}")
    return out


def test_f12_no_string_in_the_schema_is_unbounded():
    from components.core.stack import stack_file_schema

    unbounded = [
        path
        for path, s in string_schemas(stack_file_schema())
        if "maxLength" not in s and "enum" not in s and "const" not in s
    ]
    # extra_vars is Ansible's own mapping of anything (finding 5, another change)
    pulumis = ("/properties/secretsprovider", "/properties/encryptionsalt", "/properties/encryptedkey")
    assert [p for p in unbounded if "extra_vars" not in p and p not in pulumis] == []


# --------------------------------------------------------------------------- 13: one form of a name


def test_f13_two_hosts_with_one_name_are_one_machine(config_error):
    mutate = lambda c: c[key("hosts")]["hypha"].update(fqdn="rhizome.social.coop.")  # noqa: E731
    refused(config_error, "prod", mutate, "hosts.hypha.fqdn", "already used by host rhizome")


def test_f13_prod_refuses_alphas_instance_with_a_trailing_dot(config_error):
    mutate = lambda c: c.update({key("instance_domain"): "alpha.social.coop."})  # noqa: E731
    refused(config_error, "prod", mutate, "instance_domain", "are the alpha stack's")


def test_f13_names_are_kept_lower_case_without_the_dot(load_config):
    def mutate(c):
        c[key("instance_domain")] = "social.coop."
        c[key("hosts")]["rhizome"]["fqdn"] = "rhizome.social.coop."
        c[key("storage")]["buckets"]["social-coop-media"]["alias_host"] = "files.social.coop."

    cfg = load_config("prod", mutate)
    base = load_config("prod")
    assert cfg.instance_domain == "social.coop"
    assert cfg.hosts == base.hosts and cfg.dns == base.dns
    assert cfg.storage.buckets["social-coop-media"].alias_host == "files.social.coop"
    assert cfg.storage.buckets["social-coop-media"].cors_origins == ("https://social.coop",)
    alpha = load_config("alpha", lambda c: c.update({key("instance_domain"): "alpha.social.coop."}))
    assert alpha.instance_domain == "alpha.social.coop"
    assert alpha.storage.buckets["alpha-social-coop-media"].cors_origins == ("https://alpha.social.coop",)


def test_f13_record_names_differing_in_case_are_one_name(config_error, load_config):
    mutate = lambda c: c[key("dns")]["records"].update({"WWW": [{"type": "A", "value": "203.0.113.5"}]})  # noqa: E731
    refused(config_error, "prod", mutate, "dns.records.WWW", "not case-sensitive")
    two_spf = lambda c: c[key("mail")]["spf"].append({"name": "MG", "senders": ["mailgun"]})  # noqa: E731
    refused(config_error, "prod", two_spf, "mail.spf[2]", "already declared")
    cfg = load_config("alpha", lambda c: c[key("mail")]["dmarc"][0].update(name="ALPHA"))
    assert cfg.mail.dmarc[0].name == "alpha"


def test_f13_issuers_and_origins_are_kept_without_the_dot(load_config):
    def mutate(c):
        c[key("mail")]["caa"]["issuers"] = ["letsencrypt.org."]
        c[key("storage")]["buckets"]["social-coop-media"]["cors_origins"] = ["https://social.coop."]

    cfg = load_config("prod", mutate)
    assert cfg.mail.caa.issuers == ("letsencrypt.org",)
    assert cfg.storage.buckets["social-coop-media"].cors_origins == ("https://social.coop",)


def test_f13_the_plan_is_the_same_for_either_spelling(plan):
    def dotted(c):
        c[key("instance_domain")] = "social.coop."
        c[key("hosts")]["rhizome"]["fqdn"] = "rhizome.social.coop."

    def inputs(p):
        return sorted((r.type, r.name, repr(r.inputs)) for r in p.resources)

    assert inputs(plan("prod", dotted)) == inputs(plan("prod"))


# --------------------------------------------------------------------------- the examples still load


@pytest.mark.parametrize("name", ["prod-complete", "alpha-small", "prod-decommission"])
def test_the_examples_still_load(tmp_path, name):
    source = stackfile.REPO_ROOT / "docs" / "examples" / f"{name}.yaml"
    stack = "alpha" if name.startswith("alpha") else "prod"
    cfg = stackfile.read_stack(stack, str(source)).config()
    assert cfg.environment == stack and PROJECT
