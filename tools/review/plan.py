"""Offline plan: run the Pulumi program under Pulumi's mock monitor and show what it declares.

    python -m tools.plan alpha            # readable tree
    python -m tools.plan prod --json      # one object per resource
    python -m tools.plan prod --config /tmp/Pulumi.prod.yaml   # a stack file outside the repo
    python -m tools.plan prod --live      # also measure SPF lookups through public DNS
    python -m tools.plan prod --diff origin/main    # what changes against another commit
    python -m tools.plan prod --diff-config /tmp/old.yaml   # ... or another stack file

Needs no cloud credentials and no ``pulumi`` CLI. The stack's config is assembled the way
Pulumi does it: the project defaults from ``Pulumi.yaml`` overlaid with the stack file.
Encrypted ``secure:`` values cannot be decrypted here; they stand in as ``[secret]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from typing import Any

import yaml

from components.core.stack import PROVIDER_NAMESPACES, PROVIDER_SETTINGS, StackConfig
from components.dns import mail_auth, spf_lookups
from components.dns.records import fqdn
from tools.check import resolver
from tools.review.program import Plan, PlannedResource, is_placeholder, placeholder_networks, run_program
from tools.review.stackfile import cli_stack

SECRET = "[secret]"
# Config namespaces besides the project's: provider settings (only those PROVIDER_SETTINGS allows).
OTHER_NAMESPACES = PROVIDER_NAMESPACES


def to_json(plan: Plan) -> list[dict[str, Any]]:
    return [
        {"type": r.type, "name": r.name, "parent": r.parent, "inputs": r.inputs, "options": r.options}
        for r in plan.resources
    ]


SUMMARY_KEYS = {
    "hcloud:index/server:Server": ("serverType", "image", "location"),
    "hcloud:index/primaryIp:PrimaryIp": ("type", "location"),
    "hcloud:index/rdns:Rdns": ("ipAddress", "dnsPtr"),
    "hcloud:index/volume:Volume": ("size",),
    "cloudflare:index/dnsRecord:DnsRecord": ("type", "name", "content", "ttl"),
    "hcloud:index/zone:Zone": ("name", "mode"),
    "hcloud:index/zoneRrset:ZoneRrset": ("type", "name", "ttl"),
    "digitalocean:index/spacesBucket:SpacesBucket": ("name", "region", "acl"),
}


def _short_type(token: str) -> str:
    pkg, _, rest = token.partition(":")
    return f"{pkg}:{rest.rsplit(':', 1)[-1]}" if pkg != "socialcoop" else token


def _show_input(key: str, value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Cloudflare's TTL is a number: 3600, not 3600.0
    return f"ttl {value}" if key == "ttl" else str(value)


PLACEHOLDER = "(placeholder)"
PLACEHOLDER_NOTE = (
    "{placeholder} addresses: {addresses}. The cloud assigns these (Hetzner's primary IPs and servers): "
    "the offline plan cannot know them, so it shows stand-ins from the documentation ranges; the real "
    "ones exist once `pulumi up` has created the resource (an imported one keeps its own: `hcloud "
    "primary-ip list`)."
)


def _summary(r: PlannedResource, nets: list | None = None) -> str:
    keys = SUMMARY_KEYS.get(r.type, ())
    parts = [
        _show_input(k, r.inputs[k]) + (f" {PLACEHOLDER}" if is_placeholder(r.inputs[k], nets or []) else "")
        for k in keys
        if r.inputs.get(k) is not None
    ]
    text = " ".join(parts)
    return text if len(text) <= 70 else text[:67] + "..."


def _flags(r: PlannedResource) -> str:
    o = r.options
    flags = []
    if r.custom:
        flags.append(f"import {o['import']}" if o.get("import") else "create")
    if o.get("protect"):
        flags.append("protect")
    if o.get("retain_on_delete"):
        flags.append("retain on delete")
    if o.get("delete_before_replace"):
        flags.append("delete before replace")
    if o.get("ignore_changes"):
        flags.append("ignore " + ",".join(o["ignore_changes"]))
    return f"  [{'; '.join(flags)}]" if flags else ""


def _mark_placeholders(text: str, nets: list) -> tuple[str, set[str]]:
    """Each line holding a stand-in address gets ``# placeholder`` at its end; the addresses found."""
    found: set[str] = set()
    lines = []
    for line in text.split("\n"):
        hits = [w for w in ADDRESS.findall(line) if is_placeholder(w, nets)]
        found.update(hits)
        lines.append(f"{line}  # placeholder" if hits else line)
    return "\n".join(lines), found


ADDRESS = re.compile(r"[0-9A-Fa-f:.]*[:.][0-9A-Fa-f:.]+")


def render_tree(plan: Plan) -> str:
    nets = placeholder_networks(to_json(plan))
    children: dict[str | None, list[PlannedResource]] = {}
    for r in plan.resources:
        children.setdefault(r.parent, []).append(r)
    custom = [r for r in plan.resources if r.custom]
    imports = sum(1 for r in custom if r.options.get("import"))
    protected = sum(1 for r in custom if r.options.get("protect"))
    lines = [
        f"Stack {plan.stack.stack} ({plan.stack.source}): {len(custom)} resources, "
        f"{imports} to import, {len(custom) - imports} to create, {protected} protected",
        "",
    ]
    if plan.stack.other:  # allowed provider settings, never silent (components/core/stack.py)
        lines.append("Provider settings from the stack file:")
        lines += [f"  {k} = {v}  ({PROVIDER_SETTINGS.get(k, '')})" for k, v in plan.stack.other.items()]
        lines.append("")

    def walk(parent: str | None, prefix: str) -> None:
        kids = children.get(parent, [])
        for i, r in enumerate(kids):
            last = i == len(kids) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            summary = _summary(r, nets)
            lines.append(
                f"{prefix}{branch}{r.name}  ({_short_type(r.type)})"
                + (f"  {summary}" if summary else "")
                + _flags(r)
            )
            walk(r.name, prefix + ("" if parent is None else ("   " if last else "│  ")))

    walk(None, "")
    found = {
        str(v) for r in plan.resources for v in r.inputs.values() if is_placeholder(v, nets)
    }  # shown in the resources' summaries
    lines += ["", "Outputs:"]
    outputs_from = len(lines)
    for key in sorted(plan.outputs):
        if key in plan.secret_outputs:
            lines.append(f"  {key}: {SECRET}")
            continue
        value = plan.outputs[key]
        text = (
            value
            if isinstance(value, str)
            else yaml.safe_dump(value, sort_keys=False, default_flow_style=False).rstrip()
        )
        if "\n" in text:
            lines.append(f"  {key}:")
            lines += [f"    {line}" for line in text.splitlines()]
        else:
            lines.append(f"  {key}: {text}")
    marked, in_outputs = _mark_placeholders("\n".join(lines[outputs_from:]), nets)
    lines[outputs_from:] = marked.split("\n")
    found |= in_outputs
    if found:
        shown = ", ".join(sorted(found, key=lambda a: (":" in a, a)))
        lines += ["", PLACEHOLDER_NOTE.format(placeholder="Placeholder", addresses=shown)]
    if plan.invokes:
        lines += [
            "",
            f"Warning: {len(plan.invokes)} provider invokes (data-source lookups): {', '.join(plan.invokes)}",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: prod or alpha")
    parser.add_argument("--json", action="store_true", help="print one JSON object per resource")
    parser.add_argument("--config", metavar="PATH", help="plan this stack file instead of Pulumi.STACK.yaml")
    parser.add_argument("--cost", action="store_true", help="print the monthly cost estimate (docs/costs.md)")
    base = parser.add_mutually_exclusive_group()
    base.add_argument(
        "--diff",
        metavar="REF",
        help="what changes from the plan of git REF (its own code and stack files) to this one (docs/reviewing.md)",
    )
    base.add_argument("--diff-config", metavar="FILE", help="what changes from the plan of stack file FILE")
    resolver.add_options(parser, "also measure each SPF record's DNS lookups through public DNS")
    args = parser.parse_args(argv)
    if args.diff is not None or args.diff_config is not None:
        from tools.review import diff_sides

        return diff_sides.main(args.stack, args.diff, args.diff_config, args.config, args.json)
    loaded = cli_stack(args.stack, args.config)
    if loaded is None:
        return 2
    sf, cfg = loaded
    if args.cost:
        from components.core import costs

        print(costs.render_text(costs.estimate(cfg, costs.load_prices())))
        return 0
    plan = run_program(sf)
    if args.json:
        print(json.dumps(to_json(plan), indent=2, sort_keys=False, default=str))
    else:
        print(render_tree(plan))
    return spf_section(cfg, args)


def spf_section(cfg: StackConfig, args: argparse.Namespace) -> int:
    """The SPF records' lookups: declared, and measured through DNS with --live/--nameserver
    (components/dns/spf_lookups.py); 1 if a measured count breaks the limit or a claim. With
    --json it goes to stderr, leaving stdout JSON."""
    if cfg.mail is None or not cfg.mail.spf:
        return 0
    out = sys.stderr if args.json else sys.stdout
    resolvers = resolver.from_options(args, cfg.domain)
    if resolvers is None:
        if args.json:
            return 0
        print("\nSPF lookups (declared in mail.senders; measure them with --live):")
        for s in cfg.mail.spf:
            costs = [(n, mail_auth.lookups(cfg.mail.senders[n])) for n in s.senders]
            detail = ", ".join(f"{n} {c}" for n, c in costs)
            print(
                f"  {fqdn(s.name, cfg.domain)}: {sum(c for _, c in costs)} of {mail_auth.MAX_LOOKUPS}: {detail}"
            )
        return 0
    where = f"{args.nameserver}:{args.port}" if args.nameserver else "public DNS"
    print(f"\nSPF lookups (measured through {where}, RFC 7208 section 4.6.4):", file=out)
    reports = spf_lookups.check_stack(cfg, resolvers[1])
    problems = [p for r in reports for p in r.problems]
    for r in reports:
        print(f"  {r.line()}", file=out)
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    asyncio.set_event_loop(asyncio.new_event_loop())
    try:
        sys.exit(main())
    except BrokenPipeError:  # `... | head`: the reader stopped early; no traceback for that
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
