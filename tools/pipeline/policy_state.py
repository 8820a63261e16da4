"""The policy pack's boundary rules over a stack's state: what `pulumi destroy` would delete.

    pulumi stack export --show-secrets --stack alpha | python -m tools.policy_state alpha

`pulumi destroy` takes no `--policy-pack` (pulumi 3.260: only preview, up and watch do), and it
runs no program, so no policy sees what it deletes. destroy:alpha (.gitlab-ci.yml) therefore
checks the state first: every resource in it, with the rules of policy/rules.py that read what a
state records (inputs and `protect`; not `ignore_changes`): the stack is prod or alpha, and
nothing in it is the other stack's (components/core/boundary.py). A prod bucket, record, host or
machine in alpha's state would be deleted by the destroy: exit 1, naming each.

The export is read from stdin and never written anywhere; secrets are decoded only to read the
bootstrap's connection (host, host key), and no value is printed but the ones a rule names.
Exit status: 0 nothing found, 1 violations or unreadable input, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from components.core.errors import REPO_ROOT, ConfigError

sys.path.insert(0, str(REPO_ROOT / "policy"))
import rules  # noqa: E402

STATE_RULES = ("stack-is-prod-or-alpha", "alpha-stays-in-its-lane", "prod-stays-out-of-alpha")
SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")


def plain(value: Any) -> Any:
    """A state value with its secrets decoded (`--show-secrets` puts the JSON in `plaintext`)."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG[0]) == SECRET_SIG[1]:
            try:
                return plain(json.loads(value["plaintext"]))
            except (KeyError, TypeError, ValueError):
                return None  # exported without --show-secrets: unknown here
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def violations(export: dict, stack: str, config: dict[str, str]) -> list[str]:
    facts = rules.facts(config, stack)
    out = []
    for r in (export.get("deployment") or {}).get("resources") or []:
        if not isinstance(r, dict) or not r.get("custom"):
            continue
        res = rules.Res(
            type=str(r.get("type", "")),
            name=str(r.get("urn", "")).rsplit("::", 1)[-1],
            props=plain(r.get("inputs") or {}),
            protect=bool(r.get("protect")),
        )
        for name in STATE_RULES:
            out += [f"{name}: {m}" for m in rules.RULES[name][0](res, facts)]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.policy_state", description=__doc__.split("\n\n")[0])
    ap.add_argument("stack", help="the stack whose state is on stdin: prod or alpha")
    args = ap.parse_args(argv)
    from tools.review.stackfile import read_stack

    try:
        config = read_stack(args.stack).pulumi_config()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        export = json.loads(sys.stdin.read())
    except ValueError:
        print("error: stdin is not a `pulumi stack export` (JSON); did the export fail?", file=sys.stderr)
        return 1
    if not isinstance(export, dict) or "deployment" not in export:
        print("error: stdin is not a `pulumi stack export` (no deployment)", file=sys.stderr)
        return 1
    found = violations(export, args.stack, config)
    for line in found:
        print(f"policy violation: {line}", file=sys.stderr)
    count = len(export["deployment"].get("resources") or [])
    print(f"{args.stack}: {count} resources in the state, {len(found)} policy violation(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
