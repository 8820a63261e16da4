"""Reading stack files: every input that used to crash, hang or slip through PyYAML ends in
one line naming the file (``python -m tools.plan`` exits 2), and merge keys work."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from components import safe_yaml
from components.config import ConfigError
from tests.conftest import key
from tools import plan as plan_tool

HEAD = b"config:\n  socialcoop-infra:environment: alpha\n"


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
        "5000-digits",
        HEAD + b"  hcloud:pollInterval: " + b"9" * 5000 + b"\n",
        "line 3: a number of 5000 characters",
    ),
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
    ("bool-key", HEAD + b"  socialcoop-infra:hosts: {yes: {}}\n", "key 'yes' is not text; quote it"),
    ("null-key", HEAD + b"  socialcoop-infra:hosts: {~: {}}\n", "key '~' is not text; quote it"),
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
    text = (plan_tool.REPO_ROOT / "Pulumi.prod.yaml").read_text()
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
    stack = plan_tool.read_stack("prod", str(path))
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
        path = plan_tool.REPO_ROOT / f"Pulumi.{stack}.yaml"
        assert safe_yaml.load(path.read_bytes(), path.name) == yaml.safe_load(path.read_text())
    assert key("environment") in safe_yaml.load(path.read_bytes(), path.name)["config"]


def test_utf8_with_bom_is_read():
    assert safe_yaml.load(b"\xef\xbb\xbfa: caf\xc3\xa9\n", "x.yaml") == {"a": "caf\u00e9"}
