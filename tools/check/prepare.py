"""Before pushing a change: generate what the repository's rules generate, and ask what needs a
decision, so that no routine edit passes the plan and then fails CI without a pointer.

    python -m tools.prepare              # regenerate, then ask about each new prod resource
    python -m tools.prepare --check      # only say what is out of date or undecided (exit 1 if any)
    python -m tools.prepare --new NAME="why creating it is safe, in a sentence"   # answer ahead
    python -m tools.prepare --rerecord   # and re-record tests/data/plans/ without asking

Generated, no decision needed: the schema and the docs made from the models (`tools.schema
--write`), the picture of prod (docs/diagram-prod.md and README's block: `tools.diagram prod
--write`), and the entries of data/new-in-prod.yaml whose resource left prod or is now imported.

Asked: each prod resource with neither an import ID nor an entry in data/new-in-prod.yaml. Does
it exist already? *Created new*: an entry in data/new-in-prod.yaml with the reason creating it
is safe. *Adopted*: its import ID goes into Pulumi.prod.yaml (the tool says where and how to find
it) and the first `pulumi up` imports it instead of making a second one. Then, if the recorded
plans (tests/data/plans/) differ, it shows the change (`tools.plan --diff`) and asks whether to
re-record them. Exit status: 0 all done, 1 something is left (said what), 2 a bad stack file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from components.core.errors import REPO_ROOT, ConfigError
from tools.adopt import matching
from tools.review import diagram, program, stackfile

COMMAND = "python -m tools.prepare"
NEW_IN_PROD = Path("data") / "new-in-prod.yaml"
MIN_REASON_WORDS = 8  # tests/test_adoption.py asks for a sentence, not a word

# Where an adopted resource's import ID goes in Pulumi.prod.yaml, by type (its logical name and
# parent's name tell which entry), and how to find the ID (docs/adoption.md).
WHERE = {
    "cloudflare:index/dnsRecord:DnsRecord": (
        "socialcoop-infra:dns.imports.{key}: <zone id>/<record id>",
        "`python -m tools.import_ids --write` finds and writes it (docs/adoption.md step 4)",
    ),
    "hcloud:index/sshKey:SshKey": (
        "the admin's hcloud_import (socialcoop-infra:admins)",
        "`hcloud ssh-key list`",
    ),
    "hcloud:index/server:Server": ("hosts.{parent}.hetzner_cloud.import.server", "`hcloud server list`"),
    "hcloud:index/firewall:Firewall": (
        "hosts.{parent}.hetzner_cloud.import.firewall",
        "`hcloud firewall list`",
    ),
    "hcloud:index/primaryIp:PrimaryIp": (
        "hosts.{parent}.hetzner_cloud.import.{version}",
        "`hcloud primary-ip list`",
    ),
    "hcloud:index/volume:Volume": ("hosts.{parent}.hetzner_cloud.import.volume", "`hcloud volume list`"),
    "digitalocean:index/spacesBucket:SpacesBucket": (
        "storage.buckets.{parent}.import: <region>,<name>",
        "the control panel (docs/storage.md)",
    ),
    "digitalocean:index/spacesBucketCorsConfiguration:SpacesBucketCorsConfiguration": (
        "storage.buckets.{parent}.import (the bucket's: its CORS rules are imported with it)",
        "the control panel (docs/storage.md)",
    ),
}


def undecided_problem(names: list[str]) -> str:
    return (
        f"prod resources with neither an import ID nor an entry in {NEW_IN_PROD}: {', '.join(names)}. "
        f"Run `{COMMAND}`: it asks whether each is created new (an entry in {NEW_IN_PROD} with the reason) "
        "or adopted (its import ID in Pulumi.prod.yaml)"
    )


def stale_entries(plan: program.Plan, new: dict[str, dict]) -> list[str]:
    """Entries of data/new-in-prod.yaml that no longer name a created prod resource (or a
    component, whose entry covers everything under it)."""
    named = {r.name: r for r in plan.resources}
    return [
        name
        for name in new
        if name not in named or (named[name].custom and named[name].options.get("import"))
    ]


def stale_problem(names: list[str]) -> str:
    return (
        f"{NEW_IN_PROD} lists {', '.join(names)}, which prod no longer creates (removed, or now imported): "
        f"run `{COMMAND}` (it removes them), or delete the entries"
    )


def remove_entries(path: Path, names: list[str]) -> None:
    """Drop whole entries (``- name: X`` up to the next entry), keeping every comment."""
    out, skipping = [], False
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith("- name:"):
            skipping = line.split(":", 1)[1].strip() in names
        elif not line.startswith((" ", "\t")) and line.strip():
            skipping = False
        if not skipping:
            out.append(line)
    path.write_text("".join(out))


def add_entry(path: Path, r: program.PlannedResource, reason: str) -> None:
    text = path.read_text()
    words = " ".join(reason.split())
    entry = f"- name: {r.name}\n  type: {r.type}\n  reason: >-\n    {words}\n"
    path.write_text(text + ("" if text.endswith("\n") else "\n") + entry)


def where(r: program.PlannedResource) -> str:
    spot, how = WHERE.get(r.type, ("", ""))
    if not spot:
        return f"{r.type} has no import ID in the stack file: it can only be created (answer 'new')"
    key = r.name.removeprefix(f"{r.parent}-") if r.parent else r.name
    version = "ipv6" if r.inputs.get("type") == "ipv6" else "ipv4"
    return (
        f"its ID goes in Pulumi.prod.yaml at {spot.format(key=key, parent=r.parent, version=version)}; {how}"
    )


def _answer(
    r: program.PlannedResource, given: dict[str, str], ask: Callable[[str], str] | None
) -> str | None:
    """The reason to create ``r`` (given ahead, or asked), or None when it is adopted or unanswered."""
    if r.name in given:
        return given[r.name]
    if ask is None:
        return None
    while True:
        choice = ask(
            f"{r.name} ({r.type}) is new in prod. Does it exist already? [n]ew / [a]dopted: "
        ).strip()
        if choice.lower().startswith("a"):
            return None
        if choice.lower().startswith("n"):
            break
    while True:
        reason = ask(f"Why is creating {r.name} safe (one sentence, for the reviewer)? ").strip()
        if len(reason.split()) >= MIN_REASON_WORDS:
            return reason
        print(f"  at least {MIN_REASON_WORDS} words, please: the reviewer reads it instead of the resource")


def decide(root: Path, given: dict[str, str], ask: Callable[[str], str] | None, check: bool) -> list[str]:
    """New prod resources: record each answer; what is left undecided (messages)."""
    path = root / NEW_IN_PROD
    plan = program.plan_stack("prod", str(root / "Pulumi.prod.yaml"))
    new = matching.load_new_in_prod(path)
    left = []
    gone = stale_entries(plan, new)
    if gone and check:
        left.append(stale_problem(gone))
    elif gone:
        remove_entries(path, gone)
        print(f"removed from {NEW_IN_PROD} (prod no longer creates them): {', '.join(gone)}")
    by_name = {r.name: r for r in plan.resources}
    unanswered = []
    for name in matching.undecided(plan.resources, matching.load_new_in_prod(path)):
        r = by_name[name]
        reason = None if check else _answer(r, given, ask)
        if reason is None:
            unanswered.append(r)
            continue
        add_entry(path, r, reason)
        print(f"{NEW_IN_PROD}: {name} is created new ({reason})")
    if unanswered:
        left.append(undecided_problem([r.name for r in unanswered]))
        left += [f"{r.name} ({r.type}): created new or adopted? If adopted, {where(r)}" for r in unanswered]
    return left


def generate(root: Path, check: bool) -> list[str]:
    """The generated files: rewritten (or, with ``check``, named when out of date)."""
    left = []
    cfg = stackfile.read_stack("prod", str(root / "Pulumi.prod.yaml")).config()
    if check:
        left += diagram.stale(cfg, "prod", root)
    else:
        for path in diagram.write(cfg, "prod", root):
            print(f"wrote {path.relative_to(root)}")
    if root == REPO_ROOT:
        from tools.check import schema

        if schema.main(["--write"] if not check else []) != 0:
            left.append(
                "schema/, Pulumi.yaml's config block or docs/config.md are out of date: run `python -m tools.schema --write`"
            )
    return left


def recorded(ask: Callable[[str], str] | None, check: bool, rerecord: bool = False) -> list[str]:
    """The recorded plans (tests/data/plans/): re-recorded only when the contributor says so."""
    from tests import recorded_plans

    changed = [
        name for name in recorded_plans.CASES if recorded_plans.current(name) != recorded_plans.recorded(name)
    ]
    if not changed:
        return []
    message = (
        f"the recorded plans of {', '.join(changed)} differ from tests/data/plans/: if the change is intended, "
        "re-record them (`python -m tests.recorded_plans --write`) and let the merge request show it"
    )
    if check or (ask is None and not rerecord):
        return [message]
    for stack in sorted({recorded_plans.CASES[name][0] for name in changed}):
        from tools.review import diff_sides
        from tools.review.diff_text import render_text

        try:
            print(render_text(diff_sides.make_diff(stack, "HEAD")))
        except diff_sides.DiffError as e:
            print(f"(no diff against HEAD: {e})")
    if rerecord or (
        ask
        and ask("Re-record the plans (the change above is intended)? [y/N] ").strip().lower().startswith("y")
    ):
        recorded_plans.main(["--write"])
        return []
    return [message]


def main(
    argv: list[str] | None = None, root: Path = REPO_ROOT, ask: Callable[[str], str] | None = None
) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; say what is left (exit 1 if any)"
    )
    parser.add_argument(
        "--new", action="append", default=[], metavar='NAME="REASON"', help="NAME is created new"
    )
    parser.add_argument(
        "--rerecord", action="store_true", help="re-record the plans without asking (after showing the diff)"
    )
    args = parser.parse_args(argv)
    given = dict(item.split("=", 1) for item in args.new if "=" in item)
    if ask is None and sys.stdin.isatty() and not args.check:
        ask = input
    try:
        left = generate(root, args.check) + decide(root, given, ask, args.check)
        if root == REPO_ROOT:
            left += recorded(ask, args.check, args.rerecord)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for line in left:
        print(f"left to do: {line}", file=sys.stderr)
    if not left:
        print("nothing left to do: generated files current, every new prod resource decided")
    return 1 if left else 0
