"""The offline plans of the committed stacks, recorded: what `tests/test_recorded_plans.py`
compares every change with, byte for byte.

A change that moves code (a module into another folder, a file split in two) must leave the
plans exactly as they were: same logical names, type tokens, parents, inputs and options. A
change that means to change a plan (a new record, another default) re-records them, on purpose
and visibly, with

    python -m tests.recorded_plans --write

and the merge request then shows the recorded plans' diff next to the change that made it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from tools.review import plan as plan_tool
from tools.review import program, stackfile

HERE = Path(__file__).resolve().parent / "data" / "plans"
# (recording, stack, how its stack file is made from the committed one)
CASES = {
    "prod": ("prod", None),
    "alpha": ("alpha", None),
    "alpha-hetzner": ("alpha", ("kind: vps", "kind: hetzner_cloud")),  # alpha's one-line switch
}


def current(name: str) -> dict[str, str]:
    """The plan of one case now: {"json": ..., "tree": ...} as `python -m tools.plan` prints them."""
    stack, swap = CASES[name]
    if swap is None:
        plan = program.plan_stack(stack)
    else:
        text = (stackfile.REPO_ROOT / f"Pulumi.{stack}.yaml").read_text()
        assert swap[0] in text, f"Pulumi.{stack}.yaml no longer has {swap[0]!r}"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"Pulumi.{stack}.yaml"
            path.write_text(text.replace(swap[0], swap[1], 1))
            plan = program.plan_stack(stack, str(path))
            tree = plan_tool.render_tree(plan).replace(str(path), f"Pulumi.{stack}.yaml ({name})")
            return {"json": _json(plan), "tree": tree}
    return {"json": _json(plan), "tree": plan_tool.render_tree(plan)}


def _json(plan) -> str:
    return json.dumps(plan_tool.to_json(plan), indent=2, sort_keys=False, default=str) + "\n"


def recorded(name: str) -> dict[str, str]:
    return {kind: (HERE / f"{name}.{ext}").read_text() for kind, ext in (("json", "json"), ("tree", "txt"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.recorded_plans", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--write", action="store_true", help="re-record the plans (a change of them is intended)"
    )
    args = parser.parse_args(argv)
    changed = []
    for name in CASES:
        now = current(name)
        for kind, ext in (("json", "json"), ("tree", "txt")):
            path = HERE / f"{name}.{ext}"
            if not path.exists() or path.read_text() != now[kind]:
                changed.append(path.relative_to(stackfile.REPO_ROOT))
                if args.write:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(now[kind])
    verb = "re-recorded" if args.write else "differ from the recording (re-record with --write)"
    for path in changed:
        print(f"{verb}: {path}")
    return 1 if changed and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
