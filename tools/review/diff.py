"""What a change does: the offline plans of two trees compared resource by resource, the way
`pulumi preview --diff` shows it (the command: tools/review/diff_sides.py; the effects on live
hosts: tools/review/host_effects.py).

A resource is known by its type chain (its parents' types and its own, as in its URN) and its
logical name; one only in the new plan is a `create`, one only in the old plan a `delete`
(unless an alias maps it), one in both with changed inputs an `update`, or a `replace` when a
changed key forces one at the provider's locked version (data/replace-keys.yaml). A key that
table does not know is "update or replace? confirm in the real preview", never a guess. A key
the new plan ignores (`ignore_changes`) is not applied; while the stack is adopting, an imported
resource's convergeable keys are marked `not applied while adopting`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tools.review.replace_keys import caveat, converge_keys, forces_replace, replace_order

UNKNOWN = "update or replace? confirm in the real preview"
PROTECTED_DELETE = (
    "protected: the real preview will refuse to delete it (`cannot be deleted because it is protected`); "
    'a deliberate decommission: docs/reviewing.md, "Deleting a protected resource on purpose"'
)
ORDER = ("replace", "delete", "update", "create")
MISSING = object()


@dataclass
class Side:
    """One side of the comparison: a plan (the JSON of `tools.plan --json`) and its stack file."""

    label: str  # "origin/main (1a2b3c4)", "working tree", a file
    resources: list[dict[str, Any]]
    config: dict[str, Any]  # the stack file's values, keys without namespace, secure ones "[secret]"
    secure: dict[str, str] = field(default_factory=dict)  # key path of a secure value -> ciphertext
    exists: bool = True  # False: the stack file does not exist there


@dataclass
class Change:
    key: str
    old: Any
    new: Any
    forces_replace: bool | None
    not_applied_while_adopting: bool = False
    ignored: bool = False  # in the resource's ignore_changes: Pulumi does not apply it
    caveat: str = ""  # the table's update_caveats for the key

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "old": self.old,
            "new": self.new,
            "forces_replace": self.forces_replace,
            "not_applied_while_adopting": self.not_applied_while_adopting,
        }


@dataclass
class ResourceDiff:
    name: str
    type: str
    op: str  # create, update, replace, delete
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    protected: bool = False

    @property
    def applied(self) -> list[Change]:
        return [c for c in self.changes if not c.ignored]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "op": self.op,
            "changes": [c.to_json() for c in self.changes],
            "notes": list(self.notes),
        }


@dataclass
class Diff:
    stack: str
    base: str  # what was compared with: REF or FILE
    old: Side
    new: Side
    resources: list[ResourceDiff]
    quiet: list[tuple[str, str, list[str]]]  # (name, type, notes): nothing changes in the cloud
    same: int
    ignored: dict[str, list[str]] = field(default_factory=dict)  # name -> changed keys it never applies
    notes: list[str] = field(default_factory=list)  # effects on hosts and other warnings

    @property
    def summary(self) -> dict[str, int]:
        count = {
            op: sum(1 for r in self.resources if r.op == op)
            for op in ("create", "update", "replace", "delete")
        }
        adopting = sum(1 for r in self.resources if any(c.not_applied_while_adopting for c in r.changes))
        return {**count, "same": self.same, "not_applied_while_adopting": adopting}

    def summary_line(self) -> str:
        s = self.summary
        line = f"{self.stack}: " + ", ".join(
            f"{s[op]} to {op}" for op in ("create", "update", "replace", "delete")
        )
        if s["not_applied_while_adopting"]:
            line += f"; {s['not_applied_while_adopting']} not applied while adopting"
        if not self.resources:
            line = f"{self.stack}: no changes"
        return f"{line} ({s['same']} unchanged)"

    def to_json(self) -> dict[str, Any]:
        option_notes = [f"{name} ({rtype}): {'; '.join(notes)}" for name, rtype, notes in self.quiet]
        return {
            "stack": self.stack,
            "base": self.base,
            "summary": self.summary,
            "resources": [r.to_json() for r in self.resources],
            "notes": self.notes + option_notes,
        }


# --------------------------------------------------------------------------- matching


def _index(resources: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Each resource by (type chain, name): what its URN is made of."""
    by_name: dict[str, dict[str, Any]] = {}
    for r in resources:
        by_name.setdefault(r["name"], r)  # a parent is registered before its children
    out = {}
    for r in resources:
        out[(_chain(r, by_name), r["name"])] = r
    return out


def _chain(r: dict[str, Any], by_name: dict[str, dict[str, Any]]) -> str:
    types, parent, seen = [r["type"]], r.get("parent"), set()
    while parent is not None and parent in by_name and parent not in seen:
        seen.add(parent)
        types.append(by_name[parent]["type"])
        parent = by_name[parent].get("parent")
    return "$".join(reversed(types))


def _alias_keys(
    r: dict[str, Any], chain: str, renamed: dict[str, tuple[str, str]], old_chains: dict[str, str]
) -> list[tuple[str, str]]:
    """The (type chain, name) an alias of ``r`` names, and the one it inherits from a renamed
    parent (Pulumi renames a child whose name starts with its parent's, as the SDK does)."""
    keys = []
    for alias in (r.get("options") or {}).get("aliases") or []:
        if isinstance(alias, str):
            parts = alias.split("::")
            if len(parts) == 4:
                keys.append((parts[2].removeprefix("pulumi:pulumi:Stack$"), parts[3]))
            continue
        rtype, name = alias.get("type", r["type"]), alias.get("name", r["name"])
        prefix = chain.rsplit("$", 1)[0] if "$" in chain else ""
        if "parent" in alias:
            parent = alias["parent"]
            prefix = old_chains.get(parent, "") if parent is not None else ""
        keys.append((f"{prefix}${rtype}" if prefix else rtype, name))
    parent = r.get("parent")
    if parent in renamed:  # the SDK's inherited child alias: the parent's old chain, its old name as prefix
        old_chain, old_parent = renamed[parent]
        name = old_parent + r["name"][len(parent) :] if r["name"].startswith(parent) else r["name"]
        keys.append((f"{old_chain}${r['type']}", name))
    return keys


# --------------------------------------------------------------------------- comparing


def _empty(value: Any) -> bool:
    return value is MISSING or value is None


# Plans made before assets were shown by content (tools/review/program.py _asset) hold their repr.
ASSET_REPR = re.compile(r"^<pulumi\.asset\.\w+ object at 0x[0-9a-f]+>$")


def _same(o: Any, n: Any) -> bool:
    if (_empty(o) and _empty(n)) or o == n:
        return True
    reprs = [isinstance(v, str) and bool(ASSET_REPR.match(v)) for v in (o, n)]
    return any(reprs) and all(r or isinstance(v, dict) for r, v in zip(reprs, (o, n), strict=True))


def _changes(old: dict[str, Any], new: dict[str, Any], adopting: bool) -> list[Change]:
    rtype, opts = new["type"], new.get("options") or {}
    ignore = set(opts.get("ignore_changes") or [])
    converge = converge_keys().get(rtype, frozenset()) if adopting and opts.get("import") else frozenset()
    old_in, new_in = old.get("inputs") or {}, new.get("inputs") or {}
    out = []
    for key in [*new_in, *(k for k in old_in if k not in new_in)]:
        o, n = old_in.get(key, MISSING), new_in.get(key, MISSING)
        if _same(o, n):
            continue
        out.append(
            Change(
                key,
                None if _empty(o) else o,
                None if _empty(n) else n,
                forces_replace(rtype, key),
                not_applied_while_adopting=key in ignore and key in converge,
                ignored=key in ignore,
                caveat=caveat(rtype, key),
            )
        )
    return out


def _option_notes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    o, n = old.get("options") or {}, new.get("options") or {}
    notes = []
    for flag in ("protect", "retain_on_delete", "delete_before_replace"):
        if bool(o.get(flag)) != bool(n.get(flag)):
            notes.append(f"{flag}: {bool(o.get(flag))} => {bool(n.get(flag))}")
    if o.get("import") != n.get("import"):
        notes.append(
            f"import ID: {o.get('import')} => {n.get('import')} (once the resource is in the state, "
            "its import ID imports nothing)"
        )
    before, after = o.get("ignore_changes") or [], n.get("ignore_changes") or []
    if gone := [k for k in before if k not in after]:
        notes.append(f"now applied: {', '.join(gone)} (ignored before)")
    if added := [k for k in after if k not in before]:
        notes.append(f"now ignored: {', '.join(added)} (ignore_changes): changes to these are not applied")
    return notes


def _paired(
    old: dict[str, Any], new: dict[str, Any], adopting: bool
) -> tuple[ResourceDiff | None, list[str], list[str]]:
    """The update or replace of a resource in both plans; or None, and why nothing changes in the
    cloud although something did (its options, or keys it ignores: `pulumi preview` shows it as same)."""
    changes = _changes(old, new, adopting)
    quiet = _option_notes(old, new)
    if old["name"] != new["name"]:
        quiet.insert(0, f"renamed from {old['name']} (an alias maps the old name: no delete, no create)")
    never = [c.key for c in changes if c.ignored and not c.not_applied_while_adopting]
    if never:
        quiet.append(
            f"{', '.join(never)} changed, but ignored (ignore_changes): never applied to the existing resource"
        )
    changes = [c for c in changes if c.key not in never]
    if not changes:
        return None, quiet, never
    rtype = new["type"]
    protected = bool((old.get("options") or {}).get("protect"))
    applied = [c for c in changes if not c.ignored]
    op = "replace" if any(c.forces_replace for c in applied) else "update"
    d = ResourceDiff(new["name"], rtype, op, changes, [], protected)
    if op == "replace":
        keys = ", ".join(c.key for c in applied if c.forces_replace)
        d.notes.append(f"replaced because {keys} changed: the provider cannot change it in place")
        if "delete-before-replace" in replace_order(rtype):
            d.notes.append("delete-before-replace: the old one is deleted before the new one exists")
        if protected:
            d.notes.append("protected: the real preview will refuse to replace it")
    unknown = [c.key for c in applied if c.forces_replace is None]
    if unknown:
        d.notes.append(f"{', '.join(unknown)}: {UNKNOWN} (data/replace-keys.yaml does not say)")
    if not applied:
        d.notes.append("nothing is applied while adopting: phase 2 (`adopting: false`) applies it")
    d.notes += [f"{c.key}: {c.caveat}" for c in applied if c.caveat]
    d.notes += quiet
    return d, [], never


def _created(new: dict[str, Any]) -> ResourceDiff:
    opts = new.get("options") or {}
    changes = [
        Change(k, None, v, False, caveat="") for k, v in (new.get("inputs") or {}).items() if v is not None
    ]
    d = ResourceDiff(new["name"], new["type"], "create", changes)
    if opts.get("import"):
        d.notes.append(
            f"adopted: the real preview imports the existing resource ({opts['import']}) instead of creating "
            "one (`= import`), and shows any difference from it"
        )
    if opts.get("protect"):
        d.notes.append("protected once created")
    return d


def _deleted(old: dict[str, Any]) -> ResourceDiff:
    opts = old.get("options") or {}
    changes = [Change(k, v, None, False) for k, v in (old.get("inputs") or {}).items() if v is not None]
    d = ResourceDiff(old["name"], old["type"], "delete", changes, protected=bool(opts.get("protect")))
    if d.protected:
        d.notes.append(PROTECTED_DELETE)
    if opts.get("retain_on_delete"):
        d.notes.append("retain_on_delete: Pulumi only forgets it; the real one stays until deleted by hand")
    if not (old.get("inputs") or {}) and old["type"].startswith("socialcoop:"):
        d.notes.append("a component: it holds nothing in the cloud itself")
    return d


def _sort_key(d: ResourceDiff) -> tuple[int, int]:
    risky = 0 if d.op == "replace" or (d.op == "delete" and d.protected) else 1
    unknown = 0 if d.op == "update" and any(c.forces_replace is None for c in d.applied) else 1
    return (risky, ORDER.index(d.op) if unknown else 1)


def compare(stack: str, base: str, old: Side, new: Side) -> Diff:
    """The change from ``old`` to ``new``, resource by resource."""
    from tools.review import host_effects

    adopting = new.config.get("adopting") is True
    old_index, new_index = _index(old.resources), _index(new.resources)
    old_chains = {name: chain for chain, name in old_index}
    used: set[tuple[str, str]] = set()
    renamed: dict[str, tuple[str, str]] = {}
    resources, quiet, same = [], [], 0
    ignored: dict[str, list[str]] = {}
    for (chain, name), r in new_index.items():
        key = (chain, name) if (chain, name) in old_index else None
        if key is None:
            for alias in _alias_keys(r, chain, renamed, old_chains):
                if alias in old_index and alias not in used and alias not in new_index:
                    key = alias
                    renamed[name] = (alias[0], alias[1])
                    break
        if key is None:
            resources.append(_created(r))
            continue
        used.add(key)
        d, option_notes, never = _paired(old_index[key], r, adopting)
        if never:
            ignored[name] = never
        if d is not None:
            resources.append(d)
        else:
            same += 1
            if option_notes:
                quiet.append((name, r["type"], option_notes))
    resources += [_deleted(r) for k, r in old_index.items() if k not in used]
    resources.sort(key=_sort_key)
    diff = Diff(stack, base, old, new, resources, quiet, same, ignored)
    diff.notes = host_effects.notes(diff)
    return diff
