"""The config loader: bad stack files give one clear message; good ones load with defaults.

Each bad case changes one thing in a committed stack file (``config_error(stack, mutate)``)
and checks that the message names the stack file, the key path, the bad value and what is
allowed. Whole-program behaviour (exit codes, no traceback) is in test_plan_tool.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pulumi
import pytest
import yaml

from components.core import config
from components.core.config import PROJECT, REPO_ROOT, ConfigError, Secret, decode, parse
from tests.conftest import key
from tools.review import stackfile

CIPHERTEXT = "v1:AAAAfakeCiphertextNotReal000="
PLAINTEXT_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFOBKlM09GJJ/KrHz8OMan+F+YaLB3lSldaz3gNaynQ0"


def at(c: dict, top: str, *path):
    """The dict at ``socialcoop-infra:<top>`` and then ``path`` inside a stack's config."""
    d = c[key(top)]
    for p in path:
        d = d[p]
    return d


def setter(top: str, *path, value):
    """mutate(): set the last key of ``path`` under ``top`` (or ``top`` itself) to value."""

    def mutate(c: dict) -> None:
        if not path:
            c[key(top)] = value
        else:
            at(c, top, *path[:-1])[path[-1]] = value

    return mutate


def deleter(top: str, *path):
    def mutate(c: dict) -> None:
        if not path:
            del c[key(top)]
        else:
            del at(c, top, *path[:-1])[path[-1]]

    return mutate


def rename_host(c: dict) -> None:
    hosts = at(c, "hosts")
    hosts["Hypha_1"] = hosts.pop("hypha")


def bootstrap_without_host_key(c: dict) -> None:
    vps = at(c, "hosts", "rhizome", "vps")
    vps["bootstrap"] = True
    del vps["ssh_host_key"]


def bootstrap_without_key(c: dict) -> None:
    at(c, "hosts", "rhizome", "vps")["bootstrap"] = True


def admin_dss_key(c: dict) -> None:
    at(c, "admins")[0]["ssh_key"] = "ssh-dss AAAAB3NzaC1kc3MAAACBAP not-allowed"


def duplicate_admin(c: dict) -> None:
    at(c, "admins")[1]["name"] = "alice"


TOP_KEYS = ", ".join(config.TOP_LEVEL_KEYS)

# (id, stack, mutate, key path, value as shown (None: not shown), what is allowed)
BAD = [
    # missing required keys
    ("missing-environment", "prod", deleter("environment"), "environment", "(missing)", "this key is required"),
    ("missing-kind", "prod", deleter("hosts", "hypha", "kind"), "hosts.hypha.kind", "(missing)", "this key is required"),
    ("missing-kind-block", "prod", deleter("hosts", "hypha", "hetzner_cloud"), "hosts.hypha.hetzner_cloud", "(missing)", "required because kind is hetzner_cloud"),
    ("missing-dns", "alpha", deleter("dns"), "dns", "(missing)", "this key is required"),
    # wrong types
    ("string-for-bool", "prod", setter("hosts", "hypha", "hetzner_cloud", "backups", value="yes"), "hosts.hypha.hetzner_cloud.backups", '"yes"', "expected true or false"),
    ("string-for-bool-top", "prod", setter("protect", value="on"), "protect", '"on"', "expected true or false"),
    ("list-for-mapping", "prod", setter("hosts", "hypha", "hetzner_cloud", value=["cpx31", "fsn1"]), "hosts.hypha.hetzner_cloud", '["cpx31", "fsn1"]', "expected a mapping"),
    ("list-for-hosts", "alpha", setter("hosts", value=["alpha"]), "hosts", '["alpha"]', "expected a mapping"),
    ("string-for-int", "prod", setter("hosts", "rhizome", "ssh_port", value="twenty-two"), "hosts.rhizome.ssh_port", '"twenty-two"', "expected a whole number"),
    ("string-for-list", "prod", setter("hosts", "hypha", "roles", value="coopcloud"), "hosts.hypha.roles", '"coopcloud"', "expected a list"),
    # unknown keys: typos never pass silently
    ("unknown-top-level", "prod", setter("hostz", value={}), "hostz", None, f"unknown key (did you mean hosts?); allowed here: {TOP_KEYS}"),
    ("unknown-in-host", "prod", setter("hosts", "rhizome", "ssh_prot", value=2222), "hosts.rhizome.ssh_prot", None, "unknown key (did you mean ssh_port?); allowed here:"),
    ("unknown-in-hetzner", "prod", setter("hosts", "hypha", "hetzner_cloud", "server_typ", value="cx22"), "hosts.hypha.hetzner_cloud.server_typ", None, "unknown key (did you mean server_type?); allowed here:"),
    ("unknown-in-record", "prod", setter("dns", "records", "www", 0, "tll", value=300), "dns.records.www[0].tll", None, "unknown key (did you mean ttl?); allowed here:"),
    ("unknown-in-vps", "alpha", setter("hosts", "alpha", "vps", "ipv_4", value="198.51.100.1"), "hosts.alpha.vps.ipv_4", None, "unknown key (did you mean ipv4?); allowed here:"),
    # addresses and names
    ("bad-ipv4", "prod", setter("hosts", "rhizome", "vps", "ipv4", value="203.0.113.300"), "hosts.rhizome.vps.ipv4", '"203.0.113.300"', "expected an IPv4 address"),
    ("ipv6-as-ipv4", "prod", setter("hosts", "rhizome", "vps", "ipv4", value="2001:db8:10::2"), "hosts.rhizome.vps.ipv4", '"2001:db8:10::2"', "expected an IPv4 address"),
    ("ipv4-as-ipv6", "alpha", setter("hosts", "alpha", "vps", "ipv6", value="198.51.100.20"), "hosts.alpha.vps.ipv6", '"198.51.100.20"', "expected an IPv6 address"),
    ("bad-host-name", "prod", rename_host, "hosts.Hypha_1", '"Hypha_1"', "not a valid host name"),
    ("bad-fqdn", "prod", setter("hosts", "rhizome", "fqdn", value="rhizome"), "hosts.rhizome.fqdn", '"rhizome"', "expected a fully qualified host name"),
    ("bad-ssh-key", "prod", admin_dss_key, "admins[0].ssh_key", '"ssh-dss ..." (rest not shown)', "an OpenSSH public key line"),
    ("admin-root", "prod", setter("admins", 0, "name", value="root"), "admins[0].name", '"root"', "not a system account"),
    ("admin-nobody", "alpha", setter("admins", 1, "name", value="nobody"), "admins[1].name", '"nobody"', "not a system account"),
    ("image-debian", "alpha", setter("hosts", "alpha", "hetzner_cloud", "image", value="debian-12"), "hosts.alpha.hetzner_cloud.image", '"debian-12"', "allowed: ubuntu-22.04, ubuntu-24.04"),
    ("duplicate-admin", "prod", duplicate_admin, "admins[1].name", '"alice"', "each admin name may appear only once"),
    ("record-unknown-host", "prod", setter("dns", "records", "hypha", 0, "host", value="hyhpa"), "dns.records.hypha[0].host", '"hyhpa"', "not a host in hosts; known: rhizome, hypha, pando"),
    # ranges
    ("ssh-port-0", "prod", setter("hosts", "rhizome", "ssh_port", value=0), "hosts.rhizome.ssh_port", "0", "expected a number from 1 to 65535"),
    ("ttl-5", "prod", setter("dns", "records", "www", 0, "ttl", value=5), "dns.records.www[0].ttl", "5", "1 (automatic) or 60 to 86400 seconds"),
    ("default-ttl-too-big", "alpha", setter("dns", "default_ttl", value=90000), "dns.default_ttl", "90000", "1 (automatic) or 60 to 86400 seconds"),
    ("volume-too-small", "prod", setter("hosts", "hypha", "hetzner_cloud", "volume", value={"size_gb": 5}), "hosts.hypha.hetzner_cloud.volume.size_gb", "5", "expected a number from 10 to 10240"),
    # choices
    ("environment-staging", "alpha", setter("environment", value="staging"), "environment", '"staging"', "allowed: prod, alpha"),
    ("bad-role", "prod", setter("hosts", "hypha", "roles", value=["coopcloud", "webserver"]), "hosts.hypha.roles[1]", '"webserver"', "allowed: mastodon, mastodon_staging, coopcloud"),
    ("bad-server-type", "prod", setter("hosts", "hypha", "hetzner_cloud", "server_type", value="cx999"), "hosts.hypha.hetzner_cloud.server_type", '"cx999"', "allowed: cx23, "),
    ("bad-kind", "alpha", setter("hosts", "alpha", "kind", value="dedicated"), "hosts.alpha.kind", '"dedicated"', "allowed: hetzner_cloud, vps"),
    # rules between keys
    ("bootstrap-without-host-key", "prod", bootstrap_without_host_key, "hosts.rhizome.vps.ssh_host_key", "(missing)", "required when bootstrap is true"),
    ("bootstrap-without-ssh-key", "prod", bootstrap_without_key, "bootstrap_ssh_key", "(missing)", "required when a host has bootstrap: true"),
    # secrets: never shown, never accepted as plain text, never where they would leak
    ("secret-as-plain-text", "prod", setter("bootstrap_ssh_key", value=PLAINTEXT_KEY), "bootstrap_ssh_key", '"[not shown]"', "must be a secret: set it with `pulumi config set --secret bootstrap_ssh_key`"),
    ("nested-secure", "prod", setter("hosts", "rhizome", "vps", "ipv4", value={"secure": CIPHERTEXT}), "hosts", "[secret]", "this key takes no secret"),
    ("unknown-secure", "prod", setter("bootstrap_ssh_kye", value={"secure": CIPHERTEXT}), "bootstrap_ssh_kye", None, "unknown key (did you mean bootstrap_ssh_key?); allowed here:"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("stack", "mutate", "path", "shown", "allowed"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_stack_file(config_error, stack, mutate, path, shown, allowed):
    err = config_error(stack, mutate)
    message = str(err)
    assert Path(err.source).name == f"Pulumi.{stack}.yaml"  # the file the user edited
    # None: the key itself is the mistake (a misspelt key): the message leads with it, no value
    value = f" = {shown}" if shown is not None else ""
    assert message.startswith(f"{err.source}: {PROJECT}:{path}{value}: "), message
    assert allowed in message
    assert "\n" not in message  # one line
    assert CIPHERTEXT not in message and "not-a-real-key" not in message


def test_bad_cases_are_distinct():
    assert len({b[0] for b in BAD}) == len(BAD) >= 20
    assert len({(b[1], b[3], b[4]) for b in BAD}) == len(BAD)


def test_unknown_key_lists_what_is_allowed_there(config_error):
    err = config_error("prod", setter("hosts", "hypha", "hetzner_cloud", "server_typ", value="cx22"))
    allowed = err.allowed.split("allowed here: ")[1].split(", ")
    assert {"server_type", "location", "image", "backups", "volume"} <= set(allowed)
    assert "ssh_port" not in allowed  # a host key, not a hetzner_cloud key


def test_str_list_names_the_item(config_error):
    err = config_error("prod", setter("migration", value={"records": ["@ A", "@"]}))
    assert err.path == "migration.records[1]" and err.value == "@"
    err = config_error("prod", setter("hosts", "hypha", "roles", value=[7]))
    assert err.path == "hosts.hypha.roles[0]" and err.value == 7


# --------------------------------------------------------------------------- good files


def test_committed_stacks_load(load_config):
    prod, alpha = load_config("prod"), load_config("alpha")
    assert (prod.environment, alpha.environment) == ("prod", "alpha")
    assert (prod.protect, alpha.protect) == (True, False)
    assert {"rhizome", "hypha", "pando"} <= set(prod.hosts)
    assert prod.hosts["hypha"].kind == "hetzner_cloud" and prod.hosts["hypha"].hetzner is not None
    assert prod.hosts["rhizome"].vps.ipv4 == "203.0.113.10"
    assert prod.admins and alpha.admins  # who they are changes with routine edits


def test_defaults(load_config):
    prod, alpha = load_config("prod"), load_config("alpha")
    assert prod.domain == alpha.domain == "social.coop"  # neither stack file sets it
    assert prod.instance_domain == "social.coop"
    assert alpha.instance_domain == "alpha.social.coop"
    hypha, rhizome = prod.hosts["hypha"], prod.hosts["rhizome"]
    assert rhizome.fqdn == "rhizome.social.coop" and rhizome.ssh_port == 22
    assert hypha.cloud_init == ("base", "docker", "swarm")  # from the coopcloud role
    assert rhizome.cloud_init == ("base", "docker")
    assert rhizome.vps.bootstrap is False and rhizome.vps.bootstrap_user == "root"


@pytest.mark.parametrize("environment", ["prod", "alpha"])
def test_loader_defaults_match_pulumi_yaml(environment):
    """Each default in Pulumi.yaml means to the loader what leaving the key out means."""
    declared = stackfile.project_defaults()
    assert {"instance_domain", "migration", "bootstrap_ssh_key", "decommission"} <= set(declared)
    base = {"environment": environment, "dns": {"zone_id": "0" * 32}, "protect": environment == "prod"}
    for name, default in declared.items():
        if name in base:
            continue
        without = {k: v for k, v in base.items() if k != name}
        assert parse({**without, name: default}, "t.yaml") == parse(without, "t.yaml"), name


def test_scalar_strings_as_pulumi_passes_them():
    """Pulumi hands every value to the program as a string; structured ones as JSON text."""
    stack = stackfile.read_stack("prod")
    flat = stack.pulumi_config()
    assert flat[key("protect")] == "true"
    assert isinstance(flat[key("hosts")], str)
    raw = {k.removeprefix(f"{PROJECT}:"): decode(v) for k, v in flat.items()}
    assert parse(raw, "Pulumi.prod.yaml") == stack.config()
    raw["protect"] = "false"
    raw["decommission"] = "test: protection off on purpose"
    raw["migration"] = {"ttl": "300", "records": ["@ A"]}
    cfg = parse(raw, "Pulumi.prod.yaml")
    assert cfg.protect is False and cfg.migration is not None and cfg.migration.ttl == 300


@pytest.fixture
def engine_config(pulumi_mocks):
    """Set config the way the Pulumi engine does (strings, secret key list); undo afterwards."""
    yield pulumi.runtime.set_all_config
    pulumi.runtime.set_all_config({}, [])


def test_load_from_pulumi_reads_engine_config(engine_config):
    stack = stackfile.read_stack("prod")
    flat = {**stack.pulumi_config(), key("bootstrap_ssh_key"): PLAINTEXT_KEY}
    engine_config(flat, [key("bootstrap_ssh_key")])
    cfg = config.load_from_pulumi()
    assert cfg.source == "Pulumi.prod.yaml"  # named after the running stack
    assert cfg.protect is True and cfg.hosts == stack.config().hosts
    assert cfg.bootstrap_ssh_key == Secret(PLAINTEXT_KEY)


def test_load_from_pulumi_rejects_plain_secret(engine_config):
    engine_config(
        {**stackfile.read_stack("prod").pulumi_config(), key("bootstrap_ssh_key"): PLAINTEXT_KEY}, []
    )
    with pytest.raises(ConfigError) as info:
        config.load_from_pulumi()
    assert info.value.path == "bootstrap_ssh_key" and "not-a-real-key" not in str(info.value)


def test_load_from_pulumi_hides_decrypted_nested_secret(engine_config):
    """The engine hands secrets over decrypted: a secret in a structured key stays unshown."""
    flat = stackfile.read_stack("prod").pulumi_config()
    flat[key("dns")] = flat[key("dns")].replace('"zone_id": "', '"zone_id": "TOPSECRET')
    engine_config(flat, [key("dns")])
    with pytest.raises(ConfigError) as info:
        config.load_from_pulumi()
    assert info.value.path == "dns" and "TOPSECRET" not in str(info.value)
    assert "takes no secret" in str(info.value)


# --------------------------------------------------------------------------- secrets


def test_secret_never_shows_its_value(load_config):
    s = Secret("hunter2-not-real")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s) and "hunter2" not in f"{s!s} {s!r}"
    assert s.value == "hunter2-not-real"
    cfg = load_config("prod", setter("bootstrap_ssh_key", value={"secure": CIPHERTEXT}))
    assert cfg.bootstrap_ssh_key == Secret("[secret]")  # the plan cannot decrypt
    assert CIPHERTEXT not in repr(cfg)


def test_secret_of_wrong_type_is_not_shown():
    raw = {**stackfile.read_stack("prod").values, "bootstrap_ssh_key": ["hunter2-not-real"]}
    with pytest.raises(ConfigError) as info:
        parse(raw, "Pulumi.prod.yaml", frozenset({"bootstrap_ssh_key"}))
    assert "hunter2" not in str(info.value) and "[secret]" in str(info.value)


def test_mask_secure_at_any_depth():
    value = {"a": [{"secure": "x"}, 1], "b": {"c": {"secure": "y"}}, "d": {"secure": "z", "other": 1}}
    masked, found = stackfile._mask_secure(value)
    assert found
    assert masked == {"a": ["[secret]", 1], "b": {"c": "[secret]"}, "d": {"secure": "z", "other": 1}}
    assert stackfile._mask_secure({"a": [1, {"b": 2}]}) == ({"a": [1, {"b": 2}]}, False)


# --------------------------------------------------------------------------- docs/config.md

DOCS = REPO_ROOT / "docs" / "config.md"


def generic(path: str) -> str:
    """hosts.hypha.extra_ports[0].port -> hosts.<name>.extra_ports[].port (the docs' notation)."""
    path = re.sub(r"^dns\.records\.[^\[]+", "dns.records.<name>", path)  # record names may hold dots
    path = re.sub(r"^(hosts|mail\.senders|storage\.buckets)\.[^.]+", r"\1.<name>", path)
    path = re.sub(r"^dns\.imports\..+", "dns.imports.<name>", path)
    return re.sub(r"\[\d+\]", "[]", path)


def load_docs_examples(tmp_path: Path) -> list[config.StackConfig]:
    examples = re.findall(r"```yaml\n(config:\n.*?)```", DOCS.read_text(), re.S)
    assert len(examples) >= 2
    loaded = []
    for i, text in enumerate(examples):
        path = tmp_path / f"example{i}.yaml"
        path.write_text(text)
        stack = yaml.safe_load(text)["config"][f"{PROJECT}:environment"]  # the stack it is written for
        loaded.append(stackfile.read_stack(stack, str(path)).config())
    return loaded


def test_docs_examples_load(tmp_path):
    full, small = load_docs_examples(tmp_path)[:2]
    assert full.environment == "prod" and full.bootstrap_ssh_key == Secret("[secret]")
    assert small.environment == "alpha" and small.instance_domain == "alpha.social.coop"


def test_docs_error_example_is_real(config_error):
    example = re.search(r"^error: Pulumi\.prod\.yaml: (.*)$", DOCS.read_text(), re.M)
    assert example is not None, "docs/config.md shows no error line"
    shown = example[1]
    err = config_error("prod", setter("hosts", "hypha", "hetzner_cloud", "server_typ", value="cx22"))
    assert str(err) == f"{err.source}: {shown}"


# --------------------------------------------------------------------------- wrong types

# (where, the wrong value, the path and words of the error): each of the validation
# library's own checks (a type, a required key) ends in our words (config.WORDS).
WRONG_TYPES = [
    (("admins",), {"name": "alice"}, "admins", "expected a list"),
    (("hosts",), ["hypha"], "hosts", "expected a mapping (key: value pairs)"),
    (("hosts", "hypha", "roles"), "coopcloud", "hosts.hypha.roles", "expected a list"),
    (
        ("hosts", "hypha", "hetzner_cloud", "volume"),
        50,
        "hosts.hypha.hetzner_cloud.volume",
        "expected a mapping",
    ),
    (("hosts", "hypha", "ssh_port"), 22.5, "hosts.hypha.ssh_port", "expected a whole number"),
    (
        ("hosts", "hypha", "hetzner_cloud", "backups"),
        "yes",
        "hosts.hypha.hetzner_cloud.backups",
        "expected true or false",
    ),
    (("mail", "senders", "mailgun", "comment"), 5, "mail.senders.mailgun.comment", "expected a string"),
    (("mail", "spf"), {"name": "@"}, "mail.spf", "expected a list"),
    (("dns",), ["zone"], "dns", "expected a mapping (key: value pairs)"),
    (("dns", "imports"), ["www-cname"], "dns.imports", "expected a mapping (key: value pairs)"),
    (("dns", "records", "www"), "social.coop", "dns.records.www", "expected a list"),
    (("storage", "region"), None, "storage.region", "this key is required"),
]


@pytest.mark.parametrize(("where", "value", "path", "words"), WRONG_TYPES, ids=[w[2] for w in WRONG_TYPES])
def test_wrong_types_are_told_in_our_words(config_error, where, value, path, words):
    err = config_error("prod", setter(*where, value=value))
    assert err.path == path and err.allowed.startswith(words), err
