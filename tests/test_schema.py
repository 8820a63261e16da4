"""One schema, three uses: the stack-file models generate the editor schema
(schema/stack.schema.json) and Pulumi.yaml's `config:` block, and docs/config.md documents
exactly their keys. The schema accepts the committed and documented stack files and refuses
the bad ones the loader refuses (except rules that need more than one value at a time)."""

from __future__ import annotations

import json
import re
import subprocess

import jsonschema
import pytest
import yaml

from components.core.config import REPO_ROOT
from components.core.stack import SCHEMA_PATH, StackConfig
from tests import test_config, test_refused
from tests.conftest import stack_doc
from tools.check import configdoc
from tools.check import schema as schema_tool

VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))

# Rules the loader applies that a JSON Schema of one value at a time cannot express: they
# compare values (ports, keys, names, the stack), parse them (SSH key blobs, addresses, sizes)
# or depend on another key (environment, kind, domain). The loader refuses each of these.
BEYOND_SCHEMA = {
    # tests/test_config.py
    "missing-kind-block", "bad-ipv4", "ipv6-as-ipv4", "ipv4-as-ipv6",
    "duplicate-admin", "record-unknown-host", "ttl-5", "bootstrap-without-host-key",
    "bootstrap-without-ssh-key",
    # a name pattern's `$` lets a final newline through (Python's re, and check-jsonschema's
    # ECMAScript engine alike); the loader uses fullmatch
    "trailing-newline",
    # tests/test_refused.py
    "prod-protect-false", "prod-protect-string-false", "prod-protect-deleted",
    "prod-decommission-while-protected", "alpha-protect", "alpha-decommission", "alpha-imports-hypha",
    "alpha-imports-record", "alpha-dns-imports", "alpha-imports-admin-key",
    "prod-instance-is-alphas", "alpha-instance-is-prods", "loopback", "private",
    "link-local", "multicast", "unspecified", "cgnat", "v6-loopback", "v6-link-local", "v6-multicast",
    "v6-unique-local", "v4-mapped", "scope-id", "record-a-private", "record-aaaa-loopback", "cname-to-address",
    "mx-to-address", "spf-ip4-not-address", "spf-ip6-with-v4", "spf-ip4-private", "dkim-over-2048",
    "spf-label-64", "dmarc-rua-label-64", "user-data-over-32k", "key-blob-garbage", "key-blob-truncated",
    "key-wrong-type", "rsa-1024", "host-key-garbage", "admin-root", "admin-nobody", "same-key-two-admins",
    "same-port-twice",
}  # fmt: skip


def errors(doc: dict) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message[:120]}" for e in VALIDATOR.iter_errors(doc)]


def test_generated_files_are_current():
    assert schema_tool.main([]) == 0, "run `python -m tools.schema --write` and commit the result"


@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_stack_files_name_the_schema_and_pass_it(stack):
    first = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=./schema/stack.schema.json"
    assert (REPO_ROOT / "schema" / "stack.schema.json").exists()
    assert errors(stack_doc(stack)) == []


@pytest.mark.slow
def test_check_jsonschema_accepts_the_stack_files_and_refuses_a_bad_one(tmp_path):
    """The schema as a tool outside Python's jsonschema reads it (ECMAScript regexes)."""
    cmd = [str(REPO_ROOT / ".venv" / "bin" / "check-jsonschema"), "--schemafile", str(SCHEMA_PATH)]
    good = subprocess.run(
        [*cmd, "Pulumi.prod.yaml", "Pulumi.alpha.yaml"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert good.returncode == 0, good.stdout + good.stderr
    doc = stack_doc("alpha")
    doc["config"]["socialcoop-infra:hosts"]["alpha"]["hetzner_cloud"]["server_type"] = "cx22"
    bad = tmp_path / "Pulumi.alpha.yaml"
    bad.write_text(yaml.safe_dump(doc))
    refused = subprocess.run([*cmd, str(bad)], capture_output=True, text=True)
    assert refused.returncode == 1 and "cx22" in refused.stdout, refused.stdout


def test_docs_examples_pass_the_schema():
    examples = re.findall(r"```yaml\n(config:\n.*?)```", test_config.DOCS.read_text(), re.S)
    assert len(examples) >= 3
    for text in examples:
        assert errors(yaml.safe_load(text)) == []


def bad_cases() -> list:
    return [
        pytest.param(stack, mutate, case_id in BEYOND_SCHEMA, id=case_id)
        for case_id, stack, mutate, *_ in test_config.BAD + test_refused.CASES
    ]


@pytest.mark.parametrize(("stack", "mutate", "beyond"), bad_cases())
def test_schema_refuses_what_the_loader_refuses(stack, mutate, beyond):
    doc = stack_doc(stack)
    mutate(doc["config"])
    found = errors(json.loads(json.dumps(doc)))  # the document as JSON, like an editor reads it
    if beyond:
        assert found == [], "the schema catches this now: remove it from BEYOND_SCHEMA"
    else:
        assert found, "the loader refuses this stack file; the schema should too"


def test_provider_credentials_are_refused_by_the_schema():
    doc = stack_doc("prod")
    doc["config"]["hcloud:token"] = {"secure": "v1:AAAA="}
    assert errors(doc)
    doc["config"].pop("hcloud:token")
    doc["config"]["hcloud:endpoint"] = "https://api.hetzner.cloud/v1"
    assert errors(doc)  # no provider setting either (components/core/stack.py PROVIDER_SETTINGS)


# --------------------------------------------------------------------------- docs and Pulumi.yaml


def used_paths(value, path: str = "") -> set[str]:
    """Every key path a stack file's values use, in the docs' notation."""
    found = {path} if path else set()
    if isinstance(value, dict):
        for k, v in value.items():
            named = re.fullmatch(r"(hosts|dns\.records|dns\.imports|mail\.senders|storage\.buckets)", path)
            found |= used_paths(v, f"{path}.<name>" if named else f"{path}.{k}" if path else k)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for item in value:
            found |= used_paths(item, f"{path}[]") - {f"{path}[]"}
    return found


def test_docs_rows_are_unique_and_the_examples_use_every_key():
    rows = re.findall(r"^\| `([^`]+)` \|", test_config.DOCS.read_text(), re.M)
    assert len(rows) == len(set(rows)), "a key has two rows in docs/config.md"
    used = set()
    for path in configdoc.example_paths():
        config = yaml.safe_load(path.read_text())["config"]
        used |= used_paths({k.removeprefix("socialcoop-infra:"): v for k, v in config.items()})
    used = {re.sub(r"^dns\.records\.<name>(?!\[)", "dns.records.<name>[]", u) for u in used}
    assert sorted(set(rows) - used) == [], "use these keys in docs/examples/prod-complete.yaml"
    # a name you choose (hosts.<name>), a secret's ciphertext and extra/secret vars' own keys have no row
    unknown = {
        u
        for u in used - set(rows)
        if not u.endswith(("<name>", "<name>[]", ".secure")) and not re.search(r"\.(extra|secret)_vars\.", u)
    }
    assert sorted(unknown) == [], "the examples use keys docs/config.md does not document"


def test_pulumi_yaml_declares_the_models_keys():
    declared = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())["config"]
    assert declared == schema_tool.pulumi_config()
    assert list(declared) == list(StackConfig.model_fields)
