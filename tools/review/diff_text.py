"""The diff as text, the way `pulumi preview --diff` prints it: one line a resource (its sign,
logical name, type and operation), then each changed key as old => new (nested values key by
key, long texts as a line diff), then its notes; the effects on hosts at the end. Stand-in
addresses (tools/review/program.py, fake_address) are marked `(placeholder)`."""

from __future__ import annotations

import difflib
import json
from typing import Any

from tools.review.diff import MISSING, UNKNOWN, Diff, ResourceDiff
from tools.review.program import is_placeholder, placeholder_networks


def _whole(v: Any) -> Any:
    """3600.0 as 3600, also inside lists and mappings (Pulumi hands numbers over as floats)."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, dict):
        return {k: _whole(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_whole(x) for x in v]
    return v


def _value(v: Any, nets: list) -> str:
    v = _whole(v)
    text = json.dumps(v, default=str) if not isinstance(v, str) or v != "[secret]" else v
    return text + (" (placeholder)" if is_placeholder(v, nets) else "")


def _lines(path: str, o: Any, n: Any, nets: tuple[list, list], indent: str) -> list[str]:
    """``~ path: old => new``, nested values key by key, long texts as a line diff."""
    if isinstance(o, dict) and isinstance(n, dict):
        out = []
        for k in [*n, *(k for k in o if k not in n)]:
            if o.get(k, MISSING) != n.get(k, MISSING):
                out += _lines(f"{path}.{k}", o.get(k), n.get(k), nets, indent)
        return out
    if isinstance(o, list) and isinstance(n, list) and len(o) == len(n):
        return [
            line
            for i, (a, b) in enumerate(zip(o, n, strict=True))
            if a != b
            for line in _lines(f"{path}[{i}]", a, b, nets, indent)
        ]
    if isinstance(o, list) and isinstance(n, list):  # elements added or removed
        gone, added = [x for x in o if x not in n], [x for x in n if x not in o]
        head = f"{indent}~ {path}: {len(added)} added, {len(gone)} removed"
        if not gone and not added:
            head = f"{indent}~ {path}: the same elements, in another order"
        return [
            head,
            *(f"{indent}    - {_value(x, nets[0])}" for x in gone),
            *(f"{indent}    + {_value(x, nets[1])}" for x in added),
        ]
    if isinstance(o, str) and isinstance(n, str) and ("\n" in o or "\n" in n):
        body = [
            f"{indent}    {line[0]} {line[1:]}"
            for line in difflib.unified_diff(o.splitlines(), n.splitlines(), lineterm="", n=0)
            if not line.startswith(("---", "+++", "@@"))
        ]
        return [f"{indent}~ {path}: (text, {len(body)} lines differ)", *body]
    if o is None and isinstance(n, str) and "\n" in n:
        lines = n.splitlines()
        return [f"{indent}+ {path}: (text, {len(lines)} lines)", *(f"{indent}    + {line}" for line in lines)]
    if n is None and isinstance(o, str) and "\n" in o:
        return [f"{indent}- {path}: (text, {len(o.splitlines())} lines)"]
    if o is None:
        return [f"{indent}+ {path}: {_value(n, nets[1])}"]
    if n is None:
        return [f"{indent}- {path}: {_value(o, nets[0])}"]
    return [f"{indent}~ {path}: {_value(o, nets[0])} => {_value(n, nets[1])}"]


SIGN = {"create": "+ ", "update": "~ ", "replace": "+-", "delete": "- "}


def _nets(diff: Diff) -> tuple[list, list]:
    return placeholder_networks(diff.old.resources), placeholder_networks(diff.new.resources)


def headline(d: ResourceDiff) -> str:
    """``~ name  (type)  update``: one line a resource."""
    return f"{SIGN[d.op]} {d.name}  ({d.type})  {d.op}"


def resource_lines(diff: Diff, d: ResourceDiff, indent: str = "      ") -> list[str]:
    """What changes in one resource, key by key (old => new), then its notes."""
    nets = _nets(diff)
    lines = []
    for c in d.changes:
        shown = _lines(c.key, c.old, c.new, nets, indent) or [f"{indent}~ {c.key}"]
        tag = ""
        if c.not_applied_while_adopting:
            tag = "  (not applied while adopting)"
        elif c.forces_replace and d.op in ("update", "replace"):
            tag = "  (forces replace)"
        elif c.forces_replace is None and d.op == "update":
            tag = f"  ({UNKNOWN})"
        lines += [shown[0] + tag, *shown[1:]]
    return lines + [f"{indent}! {note}" for note in d.notes]


def placeholder_line(diff: Diff) -> str:
    nets = _nets(diff)
    found = {
        _value(v, []).strip('"')
        for d in diff.resources
        for c in d.changes
        for v, ns in ((c.old, nets[0]), (c.new, nets[1]))
        if is_placeholder(v, ns)
    }
    if not found:
        return ""
    return (
        f"(placeholder): {', '.join(sorted(found))} stand in for addresses the cloud assigns; the offline "
        "plan cannot know them (the real preview shows them as unknown, or the live ones)."
    )


def quiet_lines(diff: Diff) -> list[str]:
    return [f"{name} ({rtype}): {'; '.join(notes)}" for name, rtype, notes in diff.quiet]


def render_text(diff: Diff) -> str:
    lines = [f"Diff of {diff.stack}: {diff.old.label} => {diff.new.label}", diff.summary_line(), ""]
    for d in diff.resources:
        lines += [headline(d), *resource_lines(diff, d)]
    if diff.quiet:
        lines += ["", "Nothing changes in the cloud for these (counted as unchanged):"]
        lines += [f"  {line}" for line in quiet_lines(diff)]
    if diff.notes:
        lines += ["", "Effects on live hosts and other notes (not shown by `pulumi preview`):"]
        lines += [f"  - {note}" for note in diff.notes]
    if placeholder_line(diff):
        lines += ["", placeholder_line(diff)]
    return "\n".join(lines).rstrip() + "\n"
