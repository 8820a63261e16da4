"""`python -m tools.plan STACK --diff REF` and `--diff-config FILE`: the two plans a diff compares.

- ``--diff REF``: REF's tree planned with REF's own code and stack files, and the working tree's
  (a code change counts as much as a config change). REF's tree comes out of git
  (`git archive`) into a temporary folder, where this checkout's Python runs REF's own
  `python -m tools.plan STACK --json`, side by side with the working tree's plan in this
  process. When nothing the program reads differs between REF and the working tree but the
  stack file itself (the usual merge request: a stack-file edit, docs, the recorded plans),
  REF's code *is* this code: both plans then run in this process, one after the other, sharing
  the imports, which costs a fraction of a second plan.
- ``--diff-config FILE``: a stack file outside git, planned with this checkout's code.

Exit status: 0 (changes or none), 2 with the loader's one line on a bad stack file on either
side (saying which), or a base that cannot be planned.
"""

from __future__ import annotations

import fnmatch
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from components.core import safe_yaml
from components.core.errors import PROJECT, REPO_ROOT, ConfigError
from tools.review import stackfile
from tools.review.diff import Diff, Side, compare
from tools.review.diff_text import render_text

WORKING_TREE = "working tree"
# Paths the program and the plan tool never read: a difference only there leaves REF's code
# equal to this one (besides the stack file itself). Anything else means REF's own code.
NEVER_READ = (
    "*.md",
    "tests/*",
    "benchmarks/*",
    "engine/*",
    ".ci/*",
    ".gitlab-ci.yml",
    ".gitignore",
    "Makefile",
    "data/new-in-prod.yaml",
    "docs/examples/*",
)


class DiffError(Exception):
    """A one-line reason the diff cannot be made (printed as `error: ...`, exit 2)."""


def _git(*args: str, binary: bool = False) -> Any:
    p = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, timeout=120)
    if p.returncode != 0:
        raise DiffError(f"git {' '.join(args)}: {p.stderr.decode(errors='replace').strip() or p.returncode}")
    return p.stdout if binary else p.stdout.decode()


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


def _fast_path(sha: str, stack: str, config_path: str | None, values: list[dict[str, Any]]) -> bool:
    """REF's code is this checkout's: only never-read files (and the stack file) differ."""
    if any("ansible" in v for v in values):  # a playbook's folder may be anywhere: it is read whole
        return False
    changed = _git("diff", "--name-only", sha, "--").split()
    changed += _git("ls-files", "--others", "--exclude-standard").split()
    own = {f"Pulumi.{stack}.yaml"}
    return all(p in own or any(fnmatch.fnmatch(p, g) for g in NEVER_READ) for p in changed)


def _extract(sha: str, into: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(_git("archive", "--format=tar", sha, binary=True))) as tar:
        tar.extractall(into, filter="data")


def sides_for_ref(stack: str, ref: str, config_path: str | None) -> tuple[Side, Side]:
    """REF's plan (its own code) and the working tree's."""
    try:
        sha = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except DiffError:
        raise DiffError(
            f"{ref} is not a commit in this repository (fetch it first: git fetch origin)"
        ) from None
    label = f"{ref} ({sha[:8]})" if not sha.startswith(ref) else sha[:8]
    name = f"Pulumi.{stack}.yaml"
    new_label = WORKING_TREE if config_path is None else config_path
    try:
        old_file = _git("show", f"{sha}:{name}", binary=True)
    except DiffError:
        return Side(label, [], {}, {}, exists=False), plan_in_process(stack, config_path, new_label)
    try:
        old_values = stack_values(old_file, f"{name} at {label}")[0]
        new_path = Path(config_path) if config_path else REPO_ROOT / name
        new_values = stack_values(new_path.read_bytes(), name)[0] if new_path.exists() else {}
    except ConfigError as e:
        raise DiffError(
            f"base {label}: {e}" if str(e).startswith(name + " at") else f"{WORKING_TREE}: {e}"
        ) from None
    with tempfile.TemporaryDirectory(prefix="socialcoop-diff-") as tmp:
        if _fast_path(sha, stack, config_path, [old_values, new_values]):
            path = Path(tmp) / name
            path.write_bytes(old_file)
            old = plan_in_process(stack, str(path), label, shown_as=name, base=True)
            return old, plan_in_process(stack, config_path, new_label)
        tree = Path(tmp) / "tree"
        _extract(sha, tree)
        if not (tree / "tools" / "plan.py").exists():
            raise DiffError(f"{label} has no tools/plan.py: its plan cannot be made")
        child = subprocess.Popen(
            [sys.executable, "-m", "tools.plan", stack, "--json"],
            cwd=tree,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            new = plan_in_process(stack, config_path, new_label)
        except BaseException:
            child.kill()  # the working tree's side failed: REF's plan is not needed any more
            child.wait(timeout=60)
            raise
        out, err = child.communicate(timeout=600)
        if child.returncode != 0:
            lines = err.decode(errors="replace").strip().splitlines() or [f"exit status {child.returncode}"]
            message = lines[-1].removeprefix("error: ").replace(str(tree) + "/", "")
            raise DiffError(f"base {label}: {message}")
        return Side(label, json.loads(out), old_values, stack_values(old_file, name)[1]), new


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
