"""REF's side of `tools.plan STACK --diff REF`, with git and the standard library only, so that the
command can start it before importing anything heavy (tools/plan.py calls ``start_early``): REF's
plan then runs in a child process while this one imports the Pulumi SDKs and plans the working
tree (tools/review/diff_sides.py).

Whether REF needs a child at all: when nothing the program reads differs between REF and the
working tree but the stack file itself, REF's code *is* this code, and diff_sides plans both sides
in one process. Anything else (a component, cloud-init, data/, the other stack's file, the plan
tool, an untracked file; any file at all when a stack names an Ansible playbook, whose folder is
read whole) means REF's own code, from `git archive` into a temporary folder.
"""

from __future__ import annotations

import argparse
import atexit
import fnmatch
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# Paths the program and the plan tool never read: a difference only there leaves REF's code
# equal to this one (besides the stack file itself).
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
    # what a checkout or a CI job leaves beside the tracked files
    ".cache/*",
    "out/*",
    ".gitlab-ci-local/*",
    ".engine",
    ".engine/*",
)
ANSIBLE = b"socialcoop-infra:ansible"  # in a stack file (a comment too: then REF's own code, to be safe)


class BaseError(Exception):
    """A one-line reason REF cannot be planned."""


@dataclass
class Base:
    ref: str
    sha: str
    label: str  # "origin/main (1a2b3c4d)"
    stack_file: bytes | None  # REF's Pulumi.<stack>.yaml; None: it has none
    own_code: bool  # REF's code is the working tree's: plan both sides in this process
    child: subprocess.Popen | None = None  # REF's `tools.plan STACK --json` in its own tree
    tree: Path | None = None
    folders: list[str] = field(default_factory=list)


def git(root: Path, *args: str, binary: bool = False):
    p = subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=120)
    if p.returncode != 0:
        raise BaseError(f"git {' '.join(args)}: {p.stderr.decode(errors='replace').strip() or p.returncode}")
    return p.stdout if binary else p.stdout.decode()


def _own_code(root: Path, sha: str, stack: str, stack_files: list[bytes]) -> bool:
    if any(ANSIBLE in f for f in stack_files):
        return False
    changed = git(root, "diff", "--name-only", sha, "--").split()
    changed += git(root, "ls-files", "--others", "--exclude-standard").split()
    own = {f"Pulumi.{stack}.yaml"}
    return all(p in own or any(fnmatch.fnmatch(p, g) for g in NEVER_READ) for p in changed)


def extract(root: Path, sha: str, into: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(git(root, "archive", "--format=tar", sha, binary=True))) as tar:
        tar.extractall(into, filter="data")


def start(root: Path, stack: str, ref: str, config_path: str | None) -> Base:
    """Resolve REF, read its stack file, and start its plan in a child when its code differs."""
    try:
        sha = git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except BaseError:
        raise BaseError(
            f"{ref} is not a commit in this repository (fetch it first: git fetch origin)"
        ) from None
    label = sha[:8] if sha.startswith(ref) else f"{ref} ({sha[:8]})"
    try:
        stack_file = git(root, "show", f"{sha}:Pulumi.{stack}.yaml", binary=True)
    except BaseError:
        return Base(ref, sha, label, None, own_code=True)
    new = Path(config_path) if config_path else root / f"Pulumi.{stack}.yaml"
    ours = new.read_bytes() if new.is_file() else b""
    base = Base(ref, sha, label, stack_file, own_code=_own_code(root, sha, stack, [stack_file, ours]))
    if base.own_code:
        return base
    folder = tempfile.mkdtemp(prefix="socialcoop-diff-")
    base.folders.append(folder)
    atexit.register(shutil.rmtree, folder, True)
    base.tree = Path(folder) / "tree"
    extract(root, sha, base.tree)
    if not (base.tree / "tools" / "plan.py").exists():
        raise BaseError(f"{label} has no tools/plan.py: its plan cannot be made")
    base.child = subprocess.Popen(
        [sys.executable, "-m", "tools.plan", stack, "--json"],
        cwd=base.tree,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},  # a throwaway tree: no .pyc to keep
    )
    return base


def finish(base: Base) -> bytes:
    """REF's plan (JSON), or BaseError with its own one-line error (a bad stack file's, say)."""
    assert base.child is not None and base.tree is not None
    out, err = base.child.communicate(timeout=600)
    if base.child.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines() or [f"exit status {base.child.returncode}"]
        raise BaseError(lines[-1].removeprefix("error: ").replace(f"{base.tree}/", ""))
    return out


def discard(base: Base) -> None:
    """Stop REF's plan if it still runs (the working tree's side failed) and remove its tree."""
    if base.child is not None and base.child.poll() is None:
        base.child.kill()
        base.child.wait(timeout=60)
    for folder in base.folders:
        shutil.rmtree(folder, ignore_errors=True)


_STARTED: dict[tuple, Base | BaseError] = {}


def start_early(argv: list[str], root: Path) -> None:
    """For `python -m tools.plan STACK --diff REF`: start REF's side now, before the heavy imports;
    ``take`` hands it over. Anything unexpected is left for the command itself to report."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("stack", nargs="?")
    parser.add_argument("--diff")
    parser.add_argument("--config")
    try:
        args, _ = parser.parse_known_args(argv)
    except SystemExit:
        return
    if args.stack and args.diff:
        try:
            _STARTED[(root, args.stack, args.diff, args.config)] = start(
                root, args.stack, args.diff, args.config
            )
        except BaseError as e:
            _STARTED[(root, args.stack, args.diff, args.config)] = e


def take(root: Path, stack: str, ref: str, config_path: str | None) -> Base:
    started = _STARTED.pop((root, stack, ref, config_path), None)
    if isinstance(started, BaseError):
        raise started
    return started or start(root, stack, ref, config_path)
