"""`python -m tools.plan STACK --diff REF` and `--diff-config FILE`: the two plans a diff compares.

- ``--diff REF``: REF's tree planned with REF's own code and stack files, and the working tree's
  (a code change counts as much as a config change). REF's tree comes out of git
  (`git archive`) into a temporary folder, where this checkout's Python runs REF's own
  `python -m tools.plan STACK --json`, side by side with the working tree's plan in this
  process (tools/review/diff_base.py starts it first thing). When nothing the program reads
  differs between REF and the working tree but the stack file itself (the usual merge request:
  a stack-file edit, docs, the recorded plans), REF's code *is* this code: both plans then run
  in this process, one after the other, sharing the imports, which costs a fraction of a
  second plan.
- ``--diff-config FILE``: a stack file outside git, planned with this checkout's code.

Exit status: 0 (changes or none), 2 with the loader's one line on a bad stack file on either
side (saying which), or a base that cannot be planned.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from components.core import safe_yaml
from components.core.errors import PROJECT, REPO_ROOT, ConfigError
from tools.review import diff_base, stackfile
from tools.review.diff import Diff, Side, compare
from tools.review.diff_text import render_text

WORKING_TREE = "working tree"


class DiffError(Exception):
    """A one-line reason the diff cannot be made (printed as `error: ...`, exit 2)."""


def stack_values(data: bytes, label: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A stack file's project values (keys without namespace, secure ones ``[secret]``) and
    where each secure value is, with its ciphertext: what the host effects and secret notes read."""
    doc = safe_yaml.load(data, label) or {}
    config = doc.get("config") if isinstance(doc, dict) else None
    values: dict[str, Any] = {}
    secure: dict[str, str] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            if set(value) == {"secure"}:
                secure[path] = str(value["secure"])
                return
            for k, v in value.items():
                walk(v, f"{path}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    for key, value in (config or {}).items() if isinstance(config, dict) else ():
        namespace, _, name = str(key).partition(":")
        if namespace == PROJECT and name:
            values[name] = stackfile._mask_secure(value)[0]
            walk(value, name)
    return values, secure


def plan_in_process(
    stack: str, path: str | None, label: str, shown_as: str | None = None, base: bool = False
) -> Side:
    """A side planned here, with this checkout's code; a bad stack file's one line says which side."""
    from tools.review.plan import to_json
    from tools.review.program import run_program

    try:
        sf = stackfile.read_stack(stack, path)
        sf.config()
    except ConfigError as e:
        message = str(e).replace(str(path), shown_as) if path and shown_as else str(e)
        raise DiffError(f"{'base ' + label if base else WORKING_TREE}: {message}") from None
    plan = run_program(sf)
    resources = json.loads(json.dumps(to_json(plan), default=str))
    values, secure = stack_values(sf.path.read_bytes(), sf.source)
    return Side(label, resources, values, secure)


def sides_for_ref(stack: str, ref: str, config_path: str | None) -> tuple[Side, Side]:
    """REF's plan (its own code) and the working tree's."""
    new_label = WORKING_TREE if config_path is None else config_path
    try:
        base = diff_base.take(REPO_ROOT, stack, ref, config_path)
    except diff_base.BaseError as e:
        raise DiffError(str(e)) from None
    try:
        if base.stack_file is None:
            return Side(base.label, [], {}, {}, exists=False), plan_in_process(stack, config_path, new_label)
        name = f"Pulumi.{stack}.yaml"
        try:
            values, secure = stack_values(base.stack_file, name)
        except ConfigError as e:
            raise DiffError(f"base {base.label}: {e}") from None
        if base.own_code:
            with tempfile.TemporaryDirectory(prefix="socialcoop-diff-") as tmp:
                path = Path(tmp) / name
                path.write_bytes(base.stack_file)
                old = plan_in_process(stack, str(path), base.label, shown_as=name, base=True)
            return old, plan_in_process(stack, config_path, new_label)
        new = plan_in_process(stack, config_path, new_label)  # while REF's child plans
        try:
            resources = json.loads(diff_base.finish(base))
        except diff_base.BaseError as e:
            raise DiffError(f"base {base.label}: {e}") from None
        return Side(base.label, resources, values, secure), new
    finally:
        diff_base.discard(base)


def sides_for_file(stack: str, base_file: str, config_path: str | None) -> tuple[Side, Side]:
    old = plan_in_process(stack, base_file, base_file, base=True)
    return old, plan_in_process(stack, config_path, WORKING_TREE if config_path is None else config_path)


def make_diff(
    stack: str, ref: str | None = None, base_file: str | None = None, config_path: str | None = None
) -> Diff:
    if base_file is not None:
        old, new = sides_for_file(stack, base_file, config_path)
        return compare(stack, base_file, old, new)
    old, new = sides_for_ref(stack, ref or "HEAD", config_path)
    return compare(stack, ref or "HEAD", old, new)


def main(stack: str, ref: str | None, base_file: str | None, config_path: str | None, as_json: bool) -> int:
    try:
        diff = make_diff(stack, ref, base_file, config_path)
    except DiffError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(diff.to_json(), indent=2, default=str))
    else:
        print(render_text(diff), end="")
    return 0
