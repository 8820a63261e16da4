"""Reading stack files: every input that used to crash, hang or slip through PyYAML ends in
one line naming the file (``python -m tools.plan`` exits 2), and merge keys work."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from components.core import safe_yaml
from components.core.config import ConfigError
from tests.conftest import key
from tools.review import plan as plan_tool
from tools.review import stackfile

HEAD = b"config:\n  socialcoop-infra:environment: alpha\n"
HOST = b"  socialcoop-infra:hosts: {a: {kind: vps, roles: [mastodon_staging], ssh_port: "
DNS = b"  socialcoop-infra:dns: {zone_id: '00000000000000000000000000000000', default_ttl: "


def refused(tmp_path: Path, data: bytes, capsys) -> str:
    """The one error line the plan tool prints for a stack file holding ``data``."""
    path = tmp_path / "Pulumi.alpha.yaml"
    path.write_bytes(data)
    assert plan_tool.main(["alpha", "--config", str(path)]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    (line,) = out.err.splitlines()
    assert line.startswith(f"error: {path}: ")
    return line.removeprefix(f"error: {path}: ")


def nested(depth: int) -> bytes:
    return HEAD + b"  hcloud:endpoint: " + b"[" * depth + b"]" * depth + b"\n"


def nested_mappings(depth: int) -> bytes:
    return HEAD + b"  hcloud:endpoint: " + b"{a: " * depth + b"1" + b"}" * depth + b"\n"


def billion_laughs() -> bytes:
    lines = [b'  hcloud:l0: &l0 "lol"']
    for i in range(1, 10):
        refs = b", ".join([b"*l%d" % (i - 1)] * 10)
        lines.append(b"  hcloud:l%d: &l%d [%s]" % (i, i, refs))
    return HEAD + b"\n".join(lines) + b"\n"


CASES = [
    ("latin-1", HEAD + "  hcloud:endpoint: caf\u00e9\n".encode("latin-1"), "line 3: byte 0xe9 is not UTF-8"),
    ("utf-16-bom", (HEAD.decode()).encode("utf-16"), "the file is UTF-16 text; save it as UTF-8"),
    ("utf-16-be-bom", b"\xfe\xff" + HEAD.decode().encode("utf-16-be"), "the file is UTF-16 text"),
    ("overlong-slash", HEAD + b"  hcloud:endpoint: a\xc0\xafb\n", "line 3: byte 0xc0 is not UTF-8"),
    ("overlong-nul", HEAD + b"  hcloud:endpoint: a\xe0\x80\x80b\n", "line 3: byte 0xe0 is not UTF-8"),
    (
        "recursive-alias-list",
        HEAD + b"  hcloud:endpoint: &a [*a]\n",
        "line 3: an alias (*name) refers to itself",
    ),
    ("recursive-alias-map", HEAD + b"  hcloud:endpoint: &a {b: *a}\n", "an alias (*name) refers to itself"),
    ("nested-1000", nested(1000), "line 3: nested more than 40 levels deep"),
    ("nested-100000", nested(100_000), "line 3: nested more than 40 levels deep"),
    ("nested-mappings-5000", nested_mappings(5000), "nested more than 40 levels deep"),
    ("billion-laughs", billion_laughs(), "more than 100000 values once aliases (*name) are expanded"),
    (
        "5000-digits",  # yaml.v3 reads it as text; the loader then refuses it as a port
        HEAD + HOST + b"9" * 5000 + b"}}\n",
        'hosts.a.ssh_port = "99999',
    ),
    (
        "hex-5000",  # used to be a 20,000-bit int, and a traceback when the error showed it
        HEAD + DNS + b"0x" + b"f" * 5000 + b"}\n",
        'dns.default_ttl = "0xfff',
    ),
    (
        "sexagesimal-10000",  # YAML 1.1's base 60; yaml.v3 reads text
        HEAD + DNS + b"1" + b":1" * 10000 + b"}\n",
        'dns.default_ttl = "1:1:1',
    ),
    ("ssh-port-22-22", HEAD + HOST + b"22:22}}\n", 'ssh_port = "22:22"'),
    ("adopting-no", HEAD + b"  socialcoop-infra:adopting: no\n", 'adopting = "no": expected true or false'),
    ("adopting-on", HEAD + b"  socialcoop-infra:adopting: on\n", 'adopting = "on": expected true or false'),
    (
        "date-v3-short",
        HEAD + b"  socialcoop-infra:domain: 2024-1-2\n",
        "line 3: a date or time is not allowed",
    ),
    ("explicit-int", HEAD + b"  hcloud:x: !!int 3\n", "line 3: YAML tag !!int is not allowed"),
    ("explicit-bool", HEAD + b"  hcloud:x: !!bool yes\n", "line 3: YAML tag !!bool is not allowed"),
    ("dot-number-unclear", HEAD + b"  hcloud:x: .5_5\n", "line 3: .5_5 may be read as a number or as text"),
    ("inf-signed", HEAD + b"  hcloud:x: -.Inf\n", "line 3: -.Inf is not a finite number"),
    (
        "date-in-provider",
        HEAD + b"  hcloud:since: 2024-01-01\n",
        "line 3: a date or time is not allowed here",
    ),
    (
        "date-in-project",
        HEAD + b"  socialcoop-infra:domain: 2024-01-01 10:00:00\n",
        "a date or time is not allowed",
    ),
    ("int-key", HEAD + b"  hcloud:endpoint: {1: x}\n", "line 3: key '1' is not text; quote it"),
    ("bool-key", HEAD + b"  socialcoop-infra:hosts: {True: {}}\n", "key 'True' is not text; quote it"),
    ("null-key", HEAD + b"  socialcoop-infra:hosts: {~: {}}\n", "key '~' is not text; quote it"),
    ("octal-key", HEAD + b"  socialcoop-infra:hosts: {0777: {}}\n", "key '0777' is not text; quote it"),
    ("list-key", HEAD + b"  ? [a, b]\n  : x\n", "key 'a list or mapping' is not text"),
    ("binary", HEAD + b"  hcloud:blob: !!binary aGVsbG8=\n", "binary data is not allowed here"),
    ("python-tag", HEAD + b"  hcloud:x: !!python/object:os.system ls\n", "is not allowed here"),
    ("set", HEAD + b"  hcloud:x: !!set {a, b}\n", "YAML tag tag:yaml.org,2002:set is not allowed"),
    ("inf", HEAD + b"  hcloud:x: .inf\n", "line 3: .inf is not a finite number"),
    ("nan", HEAD + b"  hcloud:x: .NaN\n", "line 3: .NaN is not a finite number"),
    ("control-character", HEAD + b"  hcloud:x: a\x07b\n", "not valid YAML"),
    (
        "duplicate",
        HEAD + b"  socialcoop-infra:environment: prod\n",
        "line 3: duplicate key 'socialcoop-infra:environment'",
    ),
]


@pytest.mark.parametrize(("data", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_in_one_line(tmp_path, capsys, data, message):
    assert message in refused(tmp_path, data, capsys)


def test_alias_bomb_is_refused_quickly():
    start = time.perf_counter()
    with pytest.raises(ConfigError):
        safe_yaml.load(billion_laughs(), "bomb.yaml")
    assert time.perf_counter() - start < 0.5


def test_deep_nesting_stays_within_the_limit():
    doc = safe_yaml.load(b"a: " + b"[" * 39 + b"]" * 39, "x.yaml")
    depth = 0
    value = doc["a"]
    while value:
        value, depth = value[0], depth + 1
    assert depth == 38


def test_merge_keys_and_plain_aliases_are_accepted(tmp_path):
    text = (stackfile.REPO_ROOT / "Pulumi.prod.yaml").read_text()
    text = text.replace(
        "    rhizome:\n      # Hetzner dedicated server (Robot, no cloud API): Mastodon in docker compose.\n"
        "      kind: vps\n",
        "    rhizome: &vps_host\n      kind: vps\n",
    ).replace(
        "    pando:\n      # VPS at iocoop.org (no cloud API): hosts alpha.social.coop.\n"
        "      kind: vps\n      roles: [mastodon_staging]\n",
        "    pando:\n      <<: *vps_host\n      roles: [mastodon_staging]\n",
    )
    assert "<<: *vps_host" in text
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(text)
    stack = stackfile.read_stack("prod", str(path))
    pando = stack.values["hosts"]["pando"]
    # explicit keys win over merged ones; merged ones fill the rest
    assert pando["roles"] == ["mastodon_staging"] and pando["kind"] == "vps"
    assert pando["vps"]["ipv4"] == "198.51.100.20"
    assert stack.config().hosts["pando"].kind == "vps"


def test_merge_of_a_list_of_mappings():
    doc = safe_yaml.load(b"a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc: {<<: [*a, *b], z: 3}\n", "m.yaml")
    assert doc["c"] == {"x": 1, "y": 2, "z": 3}


def test_merge_of_a_scalar_is_refused():
    with pytest.raises(ConfigError, match="merge"):
        safe_yaml.load(b"a: {<<: 1}\n", "m.yaml")


def test_committed_stack_files_read_the_same_as_pyyaml():
    import yaml

    for stack in ("prod", "alpha"):
        path = stackfile.REPO_ROOT / f"Pulumi.{stack}.yaml"
        assert safe_yaml.load(path.read_bytes(), path.name) == yaml.safe_load(path.read_text())
    assert key("environment") in safe_yaml.load(path.read_bytes(), path.name)["config"]


def test_utf8_with_bom_is_read():
    assert safe_yaml.load(b"\xef\xbb\xbfa: caf\xc3\xa9\n", "x.yaml") == {"a": "caf\u00e9"}


# --------------------------------------------------------------------------- as yaml.v3 reads

# What gopkg.in/yaml.v3 v3.0.1 resolves each plain scalar to (resolve.go: resolveMap for the
# words, then strconv.ParseInt(s, 0, 64)/ParseUint on the text without "_", then yamlStyleFloat
# and ParseFloat; anything else is a !!str). Written out by hand from that source, not computed
# by the code under test. "refused": the plan will not guess (a date, a non-finite number).
V3 = [
    ("true", True), ("True", True), ("TRUE", True), ("tRUE", "tRUE"),
    ("false", False), ("False", False), ("FALSE", False),
    ("yes", "yes"), ("no", "no"), ("Yes", "Yes"), ("NO", "NO"), ("on", "on"), ("off", "off"),
    ("ON", "ON"), ("y", "y"), ("n", "n"), ("Y", "Y"),
    ("~", None), ("null", None), ("Null", None), ("NULL", None), ("nUll", "nUll"), ("none", "none"),
    ("0", 0), ("-0", 0), ("+1", 1), ("-12", -12), ("0777", 511), ("0o777", 511), ("-0o17", -15),
    ("0x1F", 31), ("0X1f", 31), ("0b101", 5), ("-0b11", -3), ("1_000", 1000), ("0x_1F", 31),
    ("1__0", 10), ("_1", "_1"), ("08", 8.0), ("09.5", 9.5), ("1e3", 1000.0), ("1E-2", 0.01), ("3.", 3.0),
    ("1_0.5", 10.5), (".5", 0.5), (".5e1", 5.0), ("22:22", "22:22"), ("1:30:00", "1:30:00"),
    ("190:20:30", "190:20:30"), ("0x1p-2", "0x1p-2"), ("1e400", "1e400"), ("Inf", "Inf"), ("NaN", "NaN"),
    ("9223372036854775807", 9223372036854775807), ("9223372036854775808", 9223372036854775808),
    ("18446744073709551615", 18446744073709551615), ("18446744073709551616", 1.8446744073709552e19),
    ("-9223372036854775808", -9223372036854775808), ("-9223372036854775809", -9.223372036854776e18),
    ("+9223372036854775808", 9.223372036854776e18), ("9" * 400, "9" * 400),
    ("0x" + "f" * 17, "0x" + "f" * 17), ("-x", "-x"), ("+", "+"), ("1-2", "1-2"), ("1234-5", "1234-5"),
    ("2024-01-01", "refused"), ("2024-1-2", "refused"), ("2001-12-14t21:59:43.10-05:00", "refused"),
    (".inf", "refused"), ("-.Inf", "refused"), ("+.INF", "refused"), (".nan", "refused"), (".NaN", "refused"),
]  # fmt: skip


def read_plain(spelling: str):
    try:
        return safe_yaml.load(f"a: {spelling}\n".encode(), "v3.yaml")["a"]
    except ConfigError:
        return "refused"


@pytest.mark.parametrize(("spelling", "expected"), V3, ids=[s[:24] for s, _ in V3])
def test_plain_scalars_read_as_yaml_v3_reads_them(spelling, expected):
    value = read_plain(spelling)
    assert value == expected and type(value) is type(expected), (spelling, value)


def test_quoted_and_block_scalars_are_always_text():
    doc = safe_yaml.load(b'a: \'yes\'\nb: "0777"\nc: |\n  22:22\nd: !!str 1e3\n"<<": x\n', "q.yaml")
    assert doc == {"a": "yes", "b": "0777", "c": "22:22\n", "d": "1e3", "<<": "x"}


def test_keys_read_as_yaml_v3_reads_them():
    """`yes:` is a name for yaml.v3 (and so for the Pulumi CLI); `true:` and `1:` are not text."""
    assert safe_yaml.load(b"hosts: {yes: 1, no: 2, on: 3}\n", "k.yaml") == {
        "hosts": {"yes": 1, "no": 2, "on": 3}
    }


@pytest.mark.parametrize(
    ("edit", "shown"),
    [
        ("ssh_port: 22:22", '"22:22"'),
        ("ssh_port: 0x16", None),  # 22 for both readers: yaml.v3 reads hex too
    ],
)
def test_a_stack_file_plans_as_the_cli_reads_it(tmp_path, capsys, edit, shown):
    text = (stackfile.REPO_ROOT / "Pulumi.prod.yaml").read_text()
    text = text.replace(
        "      kind: vps\n      roles: [mastodon]\n",
        f"      kind: vps\n      roles: [mastodon]\n      {edit}\n",
    )
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(text)
    if shown is None:
        assert stackfile.read_stack("prod", str(path)).config().hosts["rhizome"].ssh_port == 22
        return
    with pytest.raises(ConfigError) as info:
        stackfile.read_stack("prod", str(path)).config()
    assert info.value.path == "hosts.rhizome.ssh_port" and f"= {shown}: " in str(info.value)
