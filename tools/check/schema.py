"""Write what the stack-file models (components/*/models.py, components/core/stack.py) generate:

    python -m tools.schema           # check: exit 1 if a generated file is out of date
    python -m tools.schema --write   # rewrite schema/stack.schema.json, Pulumi.yaml's config: block, docs/config.md

The JSON Schema is what editors use (the `# yaml-language-server: $schema=...` line at the
top of each stack file); Pulumi.yaml's `config:` block gives the Pulumi CLI each key's type,
default and description.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing

import yaml

from components.core.errors import REPO_ROOT
from components.core.stack import SCHEMA_PATH, StackConfig, stack_file_schema
from tools.check import configdoc

PROJECT_FILE = REPO_ROOT / "Pulumi.yaml"
EMPTY = {"string": "", "object": {}, "array": []}


def _pulumi_type(prop: dict[str, typing.Any], walk: configdoc.Walk) -> str:
    """The Pulumi config type of a top-level key, from its JSON Schema."""
    kinds = set()
    for alt in walk.alternatives(prop):
        if "secure" in alt.get("properties", {}):
            kinds.add("string")  # a secret: Pulumi hands the program the decrypted text
        else:
            kinds.add(alt.get("type", "string"))
    for kind in ("array", "object", "boolean"):
        if kind in kinds:
            return kind
    return "string"  # text, a choice of texts


def pulumi_config() -> dict[str, dict[str, typing.Any]]:
    """The `config:` block: every key a stack may omit has a default the CLI accepts (an
    empty one means "not set" to the loader); the CLI refuses a missing key without one."""
    schema = StackConfig.model_json_schema(by_alias=True)
    walk = configdoc.Walk(schema)
    out = {}
    for name, field in StackConfig.model_fields.items():
        kind = _pulumi_type(schema["properties"][name], walk)
        decl: dict[str, typing.Any] = {"type": kind}
        if kind == "array":
            decl["items"] = {"type": "object"}
        if not field.is_required():
            decl["default"] = EMPTY[kind] if field.default in (None, (), {}) else field.default
        decl["description"] = field.description
        out[name] = decl
    return out


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: typing.Any) -> bool:  # two equal {} defaults stay two {}
        return True


def project_text() -> str:
    text = PROJECT_FILE.read_text()
    head = text[: text.index("\nconfig:\n") + 1]
    return head + yaml.dump(
        {"config": pulumi_config()}, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True
    )


def schema_text() -> str:
    return json.dumps(stack_file_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.schema", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite the generated files")
    args = parser.parse_args(argv)
    stale = []
    for path, text in (
        (SCHEMA_PATH, schema_text()),
        (PROJECT_FILE, project_text()),
        (configdoc.DOCS, configdoc.render()),
    ):
        if not path.exists() or path.read_text() != text:
            stale.append(path)
            if args.write:
                path.write_text(text)
    for path in stale:
        print(f"{'wrote' if args.write else 'out of date'}: {path.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 1 if stale and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
