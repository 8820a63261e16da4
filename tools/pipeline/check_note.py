"""The `check` job's merge-request note: what the merge request changes in each stack, offline.

    python -m tools.check_note [--base REF] [--out-dir out]

Runs `tools.plan STACK --diff BASE` for prod and alpha (the merge request's own code and stack
files against its target's) and writes, into the out folder, `check-note.md` (the note's body:
one summary line per stack at the top, a clear line when nothing changes, then per stack the
effects on hosts and each changed resource folded in a `<details>`), plus `diff-<stack>.txt` and
`diff-<stack>.json` (the artifacts). tools/pipeline/gitlab_comment.py `--kind check` posts it,
editing its own earlier note.

BASE: `--base`, else the merge request's diff base ($CI_MERGE_REQUEST_DIFF_BASE_SHA), fetched
if the clone is too shallow to have it, else its target branch (origin/$CI_MERGE_REQUEST_TARGET_
BRANCH_NAME). Exit status 0; 1 when a stack's diff could not be made (the note says why).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from components.core.errors import REPO_ROOT

STACKS = ("prod", "alpha")
FETCH_SECONDS = 120


def _git_ok(*args: str) -> bool:
    try:
        p = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, timeout=FETCH_SECONDS)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0


def _have(ref: str) -> bool:
    return _git_ok("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")


def base_ref(environ: Mapping[str, str]) -> str | None:
    """The merge request's diff base, fetched if missing; else its target branch; else None."""
    sha = environ.get("CI_MERGE_REQUEST_DIFF_BASE_SHA", "")
    target = environ.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "")
    if sha:
        if _have(sha):
            return sha
        for fetch in (
            ["fetch", "--quiet", "--depth=200", "origin", sha],
            ["fetch", "--quiet", "--unshallow"],
        ):
            if _git_ok(*fetch) and _have(sha):
                return sha
    if target:
        remote = f"origin/{target}"
        if _have(remote) or (
            _git_ok("fetch", "--quiet", "origin", f"+refs/heads/{target}:refs/remotes/{remote}")
            and _have(remote)
        ):
            return remote
    return None


def _folded(summary: str, body: str) -> list[str]:
    fence = "`" * max(3, max((len(run) for run in body.split("\n") if set(run) == {"`"}), default=0) + 1)
    return ["<details>", f"<summary>{summary}</summary>", "", f"{fence}diff", body, fence, "</details>", ""]


def _escape(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def render(results: dict[str, object], base: str) -> str:
    """The note: the summary lines, then each stack's details."""
    from tools.review.diff import Diff
    from tools.review.diff_text import headline, placeholder_line, quiet_lines, resource_lines

    diffs = {s: r for s, r in results.items() if isinstance(r, Diff)}
    lines = [
        f"What this merge request changes, planned offline against `{base}` (`tools.plan STACK --diff`):",
        "",
    ]
    for stack, result in results.items():
        lines.append(
            f"- **{result.summary_line()}**"
            if isinstance(result, Diff)
            else f"- **{stack}: no diff**: {result}"
        )
    if diffs and not any(d.resources or d.notes for d in diffs.values()) and len(diffs) == len(results):
        lines += [
            "",
            "**Nothing changes** in either stack: no resource is created, updated, replaced or deleted.",
        ]
    risky = [
        f"{s}: {d.summary['replace']} to replace, {d.summary['delete']} to delete"
        for s, d in diffs.items()
        if d.summary["replace"] or d.summary["delete"]
    ]
    if risky:
        lines += [
            "",
            f'> :warning: **Replaces or deletes**: {"; ".join(risky)}. Read docs/reviewing.md, "When to stop a merge".',
        ]
    for stack, diff in diffs.items():
        if not (diff.resources or diff.notes or diff.quiet):
            continue
        lines += ["", f"#### {stack}: {diff.old.label} => {diff.new.label}", ""]
        lines += [f"- {_escape(note)}" for note in diff.notes]
        if diff.notes:
            lines.append("")
        for d in diff.resources:
            keys = ", ".join(c.key for c in d.changes) if d.op in ("update", "replace") else ""
            summary = _escape(f"{headline(d).strip()}{': ' + keys if keys else ''}")
            lines += _folded(f"<code>{summary}</code>", "\n".join([headline(d), *resource_lines(diff, d)]))
        if diff.quiet:
            lines += _folded("nothing changes in the cloud for these", "\n".join(quiet_lines(diff)))
        if placeholder_line(diff):
            lines += [_escape(placeholder_line(diff)), ""]
    lines += [
        "",
        "The plan of the merge request's code and stack files, compared with its target's: no credentials, no "
        "live state. What the real `pulumi preview` adds and which view answers what: docs/reviewing.md.",
    ]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.check_note", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--base", metavar="REF", help="compare with REF (default: the merge request's target)"
    )
    parser.add_argument("--out-dir", default="out", help="where to write check-note.md and diff-<stack>.*")
    args = parser.parse_args(argv)
    environ = os.environ if environ is None else environ
    from tools.review import diff_sides
    from tools.review.diff_text import render_text

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = args.base or base_ref(environ)
    results: dict[str, object] = {}
    for stack in STACKS:
        if base is None:
            results[stack] = "the merge request's target commit could not be found or fetched"
            continue
        try:
            diff = diff_sides.make_diff(stack, base)
        except diff_sides.DiffError as e:
            results[stack] = str(e)
            print(f"check_note: {stack}: {e}", file=sys.stderr)
            continue
        results[stack] = diff
        (out / f"diff-{stack}.txt").write_text(render_text(diff))
        (out / f"diff-{stack}.json").write_text(json.dumps(diff.to_json(), indent=2, default=str) + "\n")
    (out / "check-note.md").write_text(render(results, base or "?"))
    print(f"check_note: wrote {out / 'check-note.md'}")
    return 0 if all(not isinstance(r, str) for r in results.values()) else 1
