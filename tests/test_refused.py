"""Stack files the loader used to accept and must refuse (issue 15), each with its one line:
the file, the key path, the value as shown and what is allowed. Also the prod/alpha safety
rules, provider credentials, secrets never echoed, and the decommission escape."""

from __future__ import annotations

import base64
import math
import struct

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from components.core.config import PROJECT, ConfigError, parse
from components.core.values import one_line
from tests.conftest import key
from tools.review import stackfile

OPENSSH = (serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)


def ssh_line(private, comment: str = "test@example") -> str:
    return f"{private.public_key().public_bytes(*OPENSSH).decode()} {comment}"


RSA_1024 = ssh_line(rsa.generate_private_key(public_exponent=65537, key_size=1024))
RSA_2048 = ssh_line(rsa.generate_private_key(public_exponent=65537, key_size=2048))
ECDSA_256 = ssh_line(ec.generate_private_key(ec.SECP256R1()))
ED25519 = ssh_line(ed25519.Ed25519PrivateKey.generate())
ED25519_BLOB = ED25519.split(" ")[1]
# an ed25519 blob declared as ecdsa, and an ecdsa-shaped header around random bytes
WRONG_TYPE = f"ecdsa-sha2-nistp256 {ED25519_BLOB}"
_fake = struct.pack(">I", 11) + b"ssh-ed25519" + struct.pack(">I", 5) + b"short"
TRUNCATED = f"ssh-ed25519 {base64.b64encode(_fake).decode()}"
PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2g\n-----END OPENSSH PRIVATE KEY-----\n"
PRIVATE_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE"
TOKEN = "hcloudFAKEtoken0123456789abcdefABCDEF0123456789abcdefXYZ"


def put(top: str, *path, value):
    def mutate(c: dict) -> None:
        if not path:
            c[key(top)] = value
            return
        d = c.setdefault(key(top), {})
        for p in path[:-1]:
            d = d.setdefault(p, {}) if isinstance(d, dict) else d[p]
        d[path[-1]] = value

    return mutate


def drop(top: str):
    return lambda c: c.pop(key(top))


def record(name: str, **fields):
    return lambda c: c[key("dns")]["records"].setdefault(name, []).append(fields)


def sender(mechanism: str, lookups: int = 0):
    def mutate(c: dict) -> None:
        c[key("mail")]["senders"]["extra"] = {"mechanism": mechanism, "lookups": lookups}
        c[key("mail")]["spf"][1]["senders"].append("extra")

    return mutate


def admin_key(line: str, i: int = 0):
    return lambda c: c[key("admins")][i].update(ssh_key=line)


def two_ports(c: dict) -> None:
    ports = [{"port": 8080, "reason": "a"}, {"port": 8080, "protocol": "tcp", "reason": "b"}]
    c[key("hosts")]["hypha"]["hetzner_cloud"]["extra_ports"] = ports


def big_user_data(c: dict) -> None:
    c[key("admins")] = [
        {"name": f"admin{i}", "ssh_key": ssh_line(ed25519.Ed25519PrivateKey.generate(), "x" * 2000)}
        for i in range(20)
    ]
    for a in c[key("admins")]:
        a.pop("hcloud_import", None)


IMPORT = "00000000000000000000000000000000/" + "a" * 32
H = "hosts.rhizome.vps"
PUBLIC_V4 = "expected a public IPv4 address"
PUBLIC_V6 = "expected a public IPv6 address"

# (id, stack, mutate, key path, value as shown (None: not checked), what is allowed)
CASES = [
    # prod keeps every protection; alpha never has any
    (
        "prod-protect-false",
        "prod",
        put("protect", value=False),
        "protect",
        "false",
        "prod must set protect: true",
    ),
    (
        "prod-protect-string-false",
        "prod",
        put("protect", value="false"),
        "protect",
        "false",
        "prod must set protect: true",
    ),
    (
        "prod-protect-empty",
        "prod",
        put("protect", value=None),
        "protect",
        "null",
        "write true or false",
    ),
    ("prod-protect-deleted", "prod", drop("protect"), "protect", "false", "also set decommission: '<why>'"),
    (
        "prod-decommission-while-protected",
        "prod",
        put("decommission", value="moving away from Hetzner"),
        "decommission",
        None,
        "only with protect: false",
    ),
    ("alpha-protect", "alpha", put("protect", value=True), "protect", "true", "alpha is disposable"),
    (
        "alpha-decommission",
        "alpha",
        put("decommission", value="moving away from Hetzner"),
        "decommission",
        None,
        "only for prod",
    ),
    (
        "alpha-imports-hypha",
        "alpha",
        lambda c: c[key("hosts")]["alpha"]["hetzner_cloud"].update({"import": {"server": "0000000001"}}),
        "hosts.alpha.hetzner_cloud.import.server",
        '"0000000001"',
        "only prod imports",
    ),
    (
        "alpha-imports-record",
        "alpha",
        lambda c: c[key("dns")]["records"]["alpha"][0].update(import_id=IMPORT),
        "dns.records.alpha[0].import_id",
        None,
        "only prod imports",
    ),
    (
        "alpha-dns-imports",
        "alpha",
        put("dns", "imports", value={"alpha-a": IMPORT}),
        "dns.imports.alpha-a",
        None,
        "only prod imports",
    ),
    (
        "alpha-imports-admin-key",
        "alpha",
        lambda c: c[key("admins")][0].update(hcloud_import="0000000005"),
        "admins[0].hcloud_import",
        None,
        "only prod imports",
    ),
    (
        "alpha-owns-www",
        "alpha",
        put("dns", "owned_subdomain", value="www"),
        "dns.owned_subdomain",
        '"www"',
        "no longer read: the boundary between the stacks is in components/core/boundary.py",
    ),
    (
        "alpha-owns-wiki",
        "alpha",
        lambda c: c[key("dns")].update(
            owned_subdomain="wiki", records={"wiki": [{"type": "A", "host": "alpha"}]}
        ),
        "dns.owned_subdomain",
        '"wiki"',
        "no longer read: the boundary between the stacks is in components/core/boundary.py",
    ),
    (
        "prod-without-reserved-alpha",
        "prod",
        put("dns", "reserved_subdomains", value=[]),
        "dns.reserved_subdomains",
        "[]",
        "no longer read: the boundary between the stacks is in components/core/boundary.py",
    ),
    (
        "prod-instance-is-alphas",
        "prod",
        put("instance_domain", value="alpha.social.coop"),
        "instance_domain",
        None,
        "alpha.social.coop and the names under it are the alpha stack's",
    ),
    (
        "alpha-instance-is-prods",
        "alpha",
        put("instance_domain", value="social.coop"),
        "instance_domain",
        '"social.coop"',
        "the alpha stack owns only alpha.social.coop",
    ),
    # addresses no public record or server may hold
    (
        "loopback",
        "prod",
        put("hosts", "rhizome", "vps", "ipv4", value="127.0.0.1"),
        f"{H}.ipv4",
        '"127.0.0.1"',
        PUBLIC_V4,
    ),
    (
        "private",
        "prod",
        put("hosts", "rhizome", "vps", "ipv4", value="10.1.2.3"),
        f"{H}.ipv4",
        None,
        PUBLIC_V4,
    ),
    (
        "link-local",
        "prod",
        put("hosts", "rhizome", "vps", "ipv4", value="169.254.1.1"),
        f"{H}.ipv4",
        None,
        PUBLIC_V4,
    ),
    (
        "multicast",
        "prod",
        put("hosts", "rhizome", "vps", "ipv4", value="224.0.0.1"),
        f"{H}.ipv4",
        None,
        PUBLIC_V4,
    ),
    (
        "unspecified",
        "prod",
        put("hosts", "rhizome", "vps", "ipv4", value="0.0.0.0"),
        f"{H}.ipv4",
        None,
        PUBLIC_V4,
    ),
    (
        "cgnat",
        "prod",
        put("hosts", "rhizome", "vps", "ipv4", value="100.64.0.1"),
        f"{H}.ipv4",
        None,
        PUBLIC_V4,
    ),
    (
        "bare-integer",
        "prod",
        put("hosts", "rhizome", "vps", "ipv4", value=3405803786),
        f"{H}.ipv4",
        "3405803786",
        "as text (in quotes)",
    ),
    (
        "v6-loopback",
        "prod",
        put("hosts", "rhizome", "vps", "ipv6", value="::1"),
        f"{H}.ipv6",
        None,
        PUBLIC_V6,
    ),
    (
        "v6-link-local",
        "prod",
        put("hosts", "rhizome", "vps", "ipv6", value="fe80::1"),
        f"{H}.ipv6",
        None,
        PUBLIC_V6,
    ),
    (
        "v6-multicast",
        "prod",
        put("hosts", "rhizome", "vps", "ipv6", value="ff02::1"),
        f"{H}.ipv6",
        None,
        PUBLIC_V6,
    ),
    (
        "v6-unique-local",
        "prod",
        put("hosts", "rhizome", "vps", "ipv6", value="fd00::1"),
        f"{H}.ipv6",
        None,
        PUBLIC_V6,
    ),
    (
        "v4-mapped",
        "prod",
        put("hosts", "rhizome", "vps", "ipv6", value="::ffff:203.0.113.10"),
        f"{H}.ipv6",
        None,
        "IPv4-mapped",
    ),
    (
        "scope-id",
        "prod",
        put("hosts", "rhizome", "vps", "ipv6", value="2001:db8:10::2%eth0"),
        f"{H}.ipv6",
        None,
        "no scope ID",
    ),
    (
        "record-a-private",
        "prod",
        record("files", type="A", value="192.168.1.1"),
        "dns.records.files[0].value",
        None,
        PUBLIC_V4,
    ),
    (
        "record-aaaa-loopback",
        "prod",
        record("files", type="AAAA", value="::1"),
        "dns.records.files[0].value",
        None,
        PUBLIC_V6,
    ),
    (
        "cname-to-address",
        "prod",
        record("files", type="CNAME", value="192.0.2.1"),
        "dns.records.files[0].value",
        None,
        "not an address",
    ),
    (
        "mx-to-address",
        "prod",
        record("files", type="MX", value="203.0.113.5", priority=10),
        "dns.records.files[0].value",
        None,
        "not an address",
    ),
    (
        "spf-ip4-not-address",
        "prod",
        sender("ip4:mail.example.org"),
        "mail.senders.extra.mechanism",
        None,
        "ip4: takes an IPv4 address",
    ),
    (
        "spf-ip6-with-v4",
        "prod",
        sender("ip6:192.0.2.1"),
        "mail.senders.extra.mechanism",
        None,
        "ip6: takes an IPv6 address",
    ),
    ("spf-ip4-private", "prod", sender("ip4:10.0.0.0/8"), "mail.senders.extra.mechanism", None, PUBLIC_V4),
    # look-alike names (IGNORECASE alone lets them match [a-z])
    (
        "dotless-i",
        "prod",
        record("w\u0131ki2", type="CNAME", host="hypha"),
        "dns.records.w\u0131ki2",
        None,
        "a name relative to the zone",
    ),
    (
        "long-s",
        "prod",
        record("\u017ftatus", type="CNAME", host="hypha"),
        "dns.records.\u017ftatus",
        None,
        "a name relative to the zone",
    ),
    (
        "kelvin",
        "prod",
        record("\u212aeys", type="CNAME", host="hypha"),
        "dns.records.\u212aeys",
        None,
        "a name relative to the zone",
    ),
    (
        "trailing-newline",
        "prod",
        record("status\n", type="CNAME", host="hypha"),
        "dns.records.status\n",
        None,
        "a name relative to the zone",
    ),
    # lengths
    (
        "txt-2049",
        "prod",
        record("files", type="TXT", value="a" * 2049),
        "dns.records.files[0].value",
        None,
        "at most 2048",
    ),
    (
        "dkim-over-2048",
        "prod",
        lambda c: c[key("mail")]["dkim"][0].update(public_key="A" * 2100),
        "mail.dkim[0]",
        None,
        "at most 2048",
    ),
    (
        "spf-label-64",
        "prod",
        sender(f"include:{'a' * 64}.example.org", 1),
        "mail.senders.extra.mechanism",
        None,
        "1 to 63 characters",
    ),
    (
        "dmarc-rua-label-64",
        "prod",
        lambda c: c[key("mail")]["dmarc"][0].update(rua=[f"mailto:d@{'a' * 64}.example"]),
        "mail.dmarc[0].rua[0]",
        None,
        "1 to 63 characters",
    ),
    (
        "comment-101",
        "prod",
        record("files", type="CNAME", host="hypha", comment="c" * 101),
        "dns.records.files[0].comment",
        None,
        "at most 100 characters",
    ),
    (
        "user-data-over-32k",
        "prod",
        big_user_data,
        "hosts.hypha.cloud_init",
        None,
        "Hetzner Cloud takes at most 32768",
    ),
    # control characters
    (
        "key-comment-cr",
        "prod",
        admin_key(f"{ED25519.rsplit(' ', 1)[0]} alice\rroot"),
        "admins[0].ssh_key",
        None,
        "no control characters",
    ),
    (
        "key-comment-nul",
        "prod",
        admin_key(f"{ED25519.rsplit(' ', 1)[0]} a\x00b"),
        "admins[0].ssh_key",
        None,
        "no control characters",
    ),
    (
        "key-comment-ansi",
        "prod",
        admin_key(f"{ED25519.rsplit(' ', 1)[0]} \x1b[31mred"),
        "admins[0].ssh_key",
        None,
        "no control characters",
    ),
    (
        "key-comment-u2028",
        "prod",
        admin_key(f"{ED25519.rsplit(' ', 1)[0]} a\u2028b"),
        "admins[0].ssh_key",
        None,
        "no control characters",
    ),
    (
        "key-comment-rtl",
        "prod",
        admin_key(f"{ED25519.rsplit(' ', 1)[0]} \u202eeilra"),
        "admins[0].ssh_key",
        None,
        "no control characters",
    ),
    (
        "record-comment-cr",
        "prod",
        record("files", type="CNAME", host="hypha", comment="a\rb"),
        "dns.records.files[0].comment",
        None,
        "no control characters",
    ),
    (
        "record-comment-rtl",
        "prod",
        record("files", type="CNAME", host="hypha", comment="\u202etxt"),
        "dns.records.files[0].comment",
        None,
        "no control characters",
    ),
    # SSH keys
    (
        "key-blob-garbage",
        "prod",
        admin_key("ssh-ed25519 AAAAnotakey"),
        "admins[0].ssh_key",
        None,
        "does not parse as a ssh-ed25519 key",
    ),
    ("key-blob-truncated", "prod", admin_key(TRUNCATED), "admins[0].ssh_key", None, "does not parse"),
    (
        "key-wrong-type",
        "prod",
        admin_key(WRONG_TYPE),
        "admins[0].ssh_key",
        None,
        "does not parse as a ecdsa-sha2-nistp256 key",
    ),
    (
        "rsa-1024",
        "prod",
        admin_key(RSA_1024),
        "admins[0].ssh_key",
        None,
        "an RSA key of 1024 bits; use at least 2048",
    ),
    (
        "host-key-rsa",
        "prod",
        put("hosts", "rhizome", "vps", "ssh_host_key", value=RSA_2048),
        f"{H}.ssh_host_key",
        None,
        "ssh-ed25519 | ecdsa-sha2-nistp256",
    ),
    (
        "host-key-garbage",
        "prod",
        put("hosts", "rhizome", "vps", "ssh_host_key", value="ssh-ed25519 AAAA"),
        f"{H}.ssh_host_key",
        None,
        "does not parse",
    ),
    # admins and ports
    (
        "admin-root",
        "prod",
        lambda c: c[key("admins")][0].update(name="root"),
        "admins[0].name",
        '"root"',
        "a system account's name",
    ),
    (
        "admin-nobody",
        "prod",
        lambda c: c[key("admins")][1].update(name="nobody"),
        "admins[1].name",
        '"nobody"',
        "a system account's name",
    ),
    (
        "same-key-two-admins",
        "prod",
        lambda c: c[key("admins")][1].update(ssh_key=c[key("admins")][0]["ssh_key"].replace("alice", "bob")),
        "admins[1].ssh_key",
        None,
        "the same key as admin alice",
    ),
    (
        "same-port-twice",
        "prod",
        two_ports,
        "hosts.hypha.hetzner_cloud.extra_ports[1].port",
        "8080",
        "8080/tcp is already listed",
    ),
    # current Hetzner server types only (issue 13 d)
    (
        "cx22-removed",
        "alpha",
        lambda c: c[key("hosts")]["alpha"]["hetzner_cloud"].update(server_type="cx22"),
        "hosts.alpha.hetzner_cloud.server_type",
        '"cx22"',
        "allowed: cx23, cx33",
    ),
    (
        "cpx31-removed",
        "prod",
        lambda c: c[key("hosts")]["hypha"]["hetzner_cloud"].update(server_type="cpx31"),
        "hosts.hypha.hetzner_cloud.server_type",
        '"cpx31"',
        "allowed: cx23",
    ),
]


@pytest.mark.parametrize(
    ("stack", "mutate", "path", "shown", "allowed"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_refused(config_error, stack, mutate, path, shown, allowed):
    err = config_error(stack, mutate)
    message = str(err)
    assert "\n" not in message and err.path == path, message
    assert message.startswith(one_line(f"{err.source}: {PROJECT}:{path} = ")), message
    if shown is not None:
        assert message.startswith(one_line(f"{err.source}: {PROJECT}:{path} = {shown}: ")), message
    assert allowed in err.allowed, message


def test_cases_are_distinct():
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize(
    "line",
    [ED25519, ECDSA_256, RSA_2048, ssh_line(ec.generate_private_key(ec.SECP521R1()))],
    ids=["ed25519", "ecdsa-256", "rsa-2048", "ecdsa-521"],  # stable ids: the keys are generated
)
def test_good_admin_keys_load(load_config, line):
    cfg = load_config("prod", admin_key(line))
    assert cfg.admins[0].ssh_key == line


def test_ecdsa_host_key_loads(load_config):
    cfg = load_config("prod", put("hosts", "rhizome", "vps", "ssh_host_key", value=ECDSA_256))
    assert cfg.hosts["rhizome"].vps.ssh_host_key == ECDSA_256


def test_unicode_in_a_comment_is_fine(load_config):
    cfg = load_config("prod", admin_key(f"{ED25519.rsplit(' ', 1)[0]} Zo\u00eb's laptop"))
    assert cfg.admins[0].ssh_key.endswith("Zo\u00eb's laptop")


@pytest.mark.parametrize("amount", [math.inf, -math.inf, math.nan])
def test_price_must_be_a_finite_number(amount):
    """YAML's .inf/.nan stop at the reader; JSON from the engine could still carry them."""
    raw = stackfile.read_stack("prod").values
    raw["hosts"]["rhizome"]["vps"]["monthly_price"] = {"amount": amount, "currency": "EUR"}
    with pytest.raises(ConfigError) as info:
        parse(raw, "Pulumi.prod.yaml", stack="prod")
    assert info.value.path == "hosts.rhizome.vps.monthly_price.amount"
    assert info.value.allowed == "expected a number"


# --------------------------------------------------------------------------- the stacks


@pytest.mark.parametrize(("file_of", "planned_as"), [("prod", "alpha"), ("alpha", "prod")])
def test_a_stack_file_planned_as_the_other_stack(file_of, planned_as):
    path = stackfile.REPO_ROOT / f"Pulumi.{file_of}.yaml"
    with pytest.raises(ConfigError) as info:
        stackfile.read_stack(planned_as, str(path)).config()
    assert info.value.path == "environment"
    assert f"this is the {planned_as} stack: its file says environment: {planned_as}" in str(info.value)


def test_decommission_is_the_explicit_escape_and_shows_in_the_plan(plan):
    def mutate(c: dict) -> None:
        c[key("protect")] = False
        c[key("decommission")] = "hypha is replaced by a new host (MR !42)"

    result = plan("prod", mutate)
    assert result.outputs["decommission"] == "hypha is replaced by a new host (MR !42)"
    assert not any(r.options.get("protect") for r in result.resources)
    assert "decommission" not in plan("prod").outputs


def test_decommission_needs_a_reason(config_error):
    err = config_error("prod", lambda c: c.update({key("protect"): False, key("decommission"): "x"}))
    assert err.path == "decommission" and "say in one line why" in err.allowed


# --------------------------------------------------------------------------- credentials


@pytest.mark.parametrize(
    ("setting", "export"),
    [
        ("hcloud:token", "export HCLOUD_TOKEN=$(pass show social.coop/hetzner/cloud-token-prod)"),
        (
            "cloudflare:apiToken",
            "export CLOUDFLARE_API_TOKEN=$(pass show social.coop/cloudflare/dns-token-prod)",
        ),
        ("digitalocean:token", "export DIGITALOCEAN_TOKEN=$(pass show social.coop/digitalocean/token-prod)"),
        (
            "digitalocean:spacesSecretKey",
            "export SPACES_SECRET_ACCESS_KEY=$(pass show social.coop/digitalocean/spaces-secret)",
        ),
    ],
)
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "secure"])
def test_provider_credentials_are_refused(write_stack, setting, export, encrypted):
    value = {"secure": "v1:AAAAfake="} if encrypted else TOKEN
    path = write_stack("prod", lambda c: c.update({setting: value}))
    with pytest.raises(ConfigError) as info:
        stackfile.read_stack("prod", str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: {setting}: provider credentials never go in a stack file")
    assert export in message and TOKEN[:8] not in message


def test_provider_credentials_are_refused_under_pulumi(engine_config_error):
    error = engine_config_error({**stackfile.read_stack("prod").pulumi_config(), "hcloud:token": TOKEN})
    assert "hcloud:token: provider credentials never go in a stack file" in str(error)
    assert TOKEN[:8] not in str(error)


# --------------------------------------------------------------------------- secrets not echoed


@pytest.mark.parametrize(
    "mutate",
    [
        admin_key(PRIVATE_KEY),
        put("bootstrap_ssh_kye", value=PRIVATE_KEY),
        put("hosts", "rhizome", "vps", "ssh_host_key", value=PRIVATE_KEY),
        put("hostz", value={"key": PRIVATE_KEY}),
    ],
    ids=["private-key-as-admin-key", "misspelt-secret-key", "private-key-as-host-key", "nested"],
)
def test_a_pasted_private_key_is_never_echoed(config_error, mutate):
    message = str(config_error("prod", mutate))
    assert PRIVATE_BODY[:6] not in message and "-----BEGIN OPENSSH PRIVATE KEY-----" in message


@pytest.mark.parametrize(
    "mutate",
    [
        put("hosts", "rhizome", "vps", "api_token", value=TOKEN),
        put("hosts", "rhizome", "vps", "provider", value=TOKEN),
    ],
    ids=["secret-named-key", "token-in-a-name"],
)
def test_a_token_shows_only_a_prefix(config_error, mutate):
    message = str(config_error("prod", mutate))
    assert TOKEN[5:] not in message and TOKEN[12:20] not in message


def test_a_huge_number_as_text_is_refused_cleanly():
    """Under `pulumi preview` the CLI (yaml.v3) hands a 5,000-digit number over as text, which
    Python's int() refuses with a ValueError; the loader answers with its one line."""
    raw = stackfile.read_stack("prod").values
    raw["hosts"]["rhizome"]["ssh_port"] = "9" * 5000
    with pytest.raises(ConfigError) as info:
        parse(raw, "Pulumi.prod.yaml", stack="prod")
    assert info.value.path == "hosts.rhizome.ssh_port" and "expected a whole number" in info.value.allowed
    assert len(str(info.value)) < 300
