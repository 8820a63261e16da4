"""Picture of a stack: hosts, the DNS names and services on each, buckets and which key reaches them.

    python -m tools.diagram prod                          # Mermaid text on stdout
    python -m tools.diagram prod --write       # the committed pictures: docs/diagram-prod.md and README's
    python -m tools.diagram prod --out /tmp/d.md   # a Markdown page (or Mermaid text) elsewhere
    python -m tools.diagram alpha --config /tmp/Pulumi.alpha.yaml

Writes a Mermaid flowchart, which GitLab renders in Markdown (```mermaid blocks). It is
drawn from the stack's config only (hosts, DNS records with ``host:``, storage), so it needs
no cloud access and does not depend on how the components are built.
No SVG: rendering Mermaid needs a headless browser (mermaid-cli), which is neither a
pure-Python nor a Debian tool; GitLab renders the Markdown file instead.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from components.core import boundary
from components.core.errors import REPO_ROOT
from components.core.stack import StackConfig
from components.core.values import line_safe
from components.dns import records as dns_records
from components.dns.checks import PROVIDER_NAMES
from components.storage.settings import DUMP_ROLES
from tools.review.stackfile import cli_stack

ROLE_TEXT = {
    "mastodon": "Mastodon",
    "mastodon_staging": "Mastodon staging",
    "coopcloud": "Co-op Cloud apps (abra)",
}
HOST_RECORD_TYPES = ("A", "AAAA", "CNAME")
OTHER_STACK = {"prod": "alpha", "alpha": "prod"}


class Ids:
    """Mermaid node ids: letters, digits and _ only, unique, never a keyword like ``end``."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str], str] = {}

    def __call__(self, kind: str, name: str) -> str:
        if (kind, name) not in self.ids:
            base = f"{kind}_" + re.sub(r"[^A-Za-z0-9]", "_", name)
            nid, n = base, 2
            while nid in self.ids.values():
                nid, n = f"{base}_{n}", n + 1
            self.ids[(kind, name)] = nid
        return self.ids[(kind, name)]


def _label(*lines: str) -> str:
    text = "<br/>".join(line_safe(line, "diagram label").replace('"', "#quot;") for line in lines)
    return f'"{text}"'


def _host_lines(name: str, cfg: StackConfig) -> list[str]:
    h = cfg.hosts[name]
    if h.hetzner is not None:
        where = f"Hetzner Cloud {h.hetzner.server_type} ({h.hetzner.location})"
    elif h.vps is not None:
        where = f"VPS at {h.vps.provider} (no cloud API)"
    else:  # never: a host is of one kind or the other (Host._consistent)
        raise ValueError(f"host {name} has no settings for its kind")
    services = ", ".join(ROLE_TEXT.get(r, r) for r in h.roles)
    return [name, h.fqdn, where, services]


def render_mermaid(cfg: StackConfig) -> str:
    """The stack as a Mermaid flowchart (text)."""
    ids = Ids()
    env = cfg.environment
    out = ["flowchart LR"]

    # DNS names that point at a host, and CNAMEs to those names
    pointing: dict[str, dict[str, list[str]]] = {}  # fqdn -> target node -> record types
    for r in cfg.dns.records:
        if r.host is not None:
            pointing.setdefault(dns_records.fqdn(r.name, cfg.domain), {}).setdefault(
                ids("host", r.host), []
            ).append(r.type)
    for r in cfg.dns.records:
        target = (r.value or "").rstrip(".")
        if r.type == "CNAME" and r.host is None and target in pointing:
            pointing.setdefault(dns_records.fqdn(r.name, cfg.domain), {}).setdefault(
                ids("dns", target), []
            ).append("CNAME")

    if pointing:
        hosted = ", ".join(PROVIDER_NAMES[p] for p in cfg.dns.providers)  # dns.providers, in order
        out.append(f'  subgraph dns["DNS names in {cfg.domain} ({hosted})"]')
        out += [f"    {ids('dns', fqdn)}([{_label(fqdn)}])" for fqdn in pointing]
        out.append("  end")

    out.append(f'  subgraph hosts["Hosts ({env} stack)"]')
    out += [f"    {ids('host', name)}[{_label(*_host_lines(name, cfg))}]" for name in cfg.hosts]
    out.append("  end")

    for fqdn, targets in pointing.items():
        for target, types in targets.items():
            out.append(f"  {ids('dns', fqdn)} -->|{_label(', '.join(types))}| {target}")

    storage = cfg.storage
    if storage is not None and storage.buckets:
        buckets = tuple(storage.buckets.values())
        out.append(f'  subgraph spaces["DigitalOcean Spaces ({storage.region})"]')
        for b in buckets:
            uses = ["Mastodon media"] if b.mastodon else []
            if b.backups_prefix:
                uses.append(f"dumps under {b.backups_prefix}, kept {b.backup_expire_days} days")
            if b.alias_host:
                uses.append(f"served as {b.alias_host}")
            out.append(f"    {ids('bucket', b.name)}[({_label(b.name, *uses)})]")
        out.append("  end")
        key, other = ids("key", env), ids("key", OTHER_STACK[env])
        out.append(
            f"  {key}{{{{{_label(f'{env} stack Spaces key', 'read/write on its own buckets only')}}}}}"
        )
        other_reach = ", ".join(sorted(boundary.claims(OTHER_STACK[env]).buckets)) or "its own buckets"
        out.append(
            f"  {other}{{{{{_label(f'{OTHER_STACK[env]} stack Spaces key', f'reaches only {other_reach}')}}}}}"
        )
        for b in buckets:
            out.append(f'  {key} -->|"read/write"| {ids("bucket", b.name)}')
            out.append(f'  {other} -.-x|"no access"| {ids("bucket", b.name)}')
        # hosts that hold the key: Mastodon media and the nightly database dumps
        dumps = next((b.backups_prefix for b in buckets if b.backups_prefix), None)
        media = any(b.mastodon for b in buckets)
        for name, h in cfg.hosts.items():
            use = (["media"] if media else []) + ([f"dumps to {dumps}{name}/"] if dumps else [])
            if use and set(h.roles) & set(DUMP_ROLES[env]):
                out.append(f"  {ids('host', name)} -.->|{_label('uses key: ' + ', '.join(use))}| {key}")
        out.append("  classDef other stroke-dasharray: 5 5")
        out.append(f"  class {other} other")
    return "\n".join(out) + "\n"


def render_markdown(cfg: StackConfig, stack: str) -> str:
    """The Markdown page committed as docs/diagram-<stack>.md."""
    return (
        f"# The {stack} stack\n\n"
        f"Generated by `python -m tools.diagram {stack} --write` from "
        f"`{Path(cfg.source).name}`; do not edit by hand (a test checks it is up to date).\n\n"
        "```mermaid\n" + render_mermaid(cfg) + "```\n"
    )


# The README embeds prod's picture between these lines; `--write` replaces what is between them.
README_START = "<!-- diagram:prod: generated by `python -m tools.diagram prod --write`, do not edit -->"
README_END = "<!-- /diagram:prod -->"
COMMAND = "python -m tools.diagram prod --write"


def generated(cfg: StackConfig, stack: str, root: Path = REPO_ROOT) -> dict[Path, str]:
    """The committed files with the stack's picture, as they should read: docs/diagram-<stack>.md,
    and for prod the README's block between its markers."""
    out = {root / "docs" / f"diagram-{stack}.md": render_markdown(cfg, stack)}
    if stack == "prod":
        readme = root / "README.md"
        text = readme.read_text()
        if README_START in text and README_END in text:
            head, rest = text.split(README_START, 1)
            tail = rest.split(README_END, 1)[1]
            block = "\n```mermaid\n" + render_mermaid(cfg) + "```\n"
            out[readme] = f"{head}{README_START}{block}{README_END}{tail}"
        else:
            out[readme] = ""  # the markers are gone: stale() says so
    return out


def stale(cfg: StackConfig, stack: str, root: Path = REPO_ROOT) -> list[str]:
    """What is out of date, each naming the file and the command that fixes it."""
    problems = []
    for path, text in generated(cfg, stack, root).items():
        name = path.relative_to(root)
        if not text:
            problems.append(
                f"{name}: the lines {README_START!r} and {README_END!r} are missing: put them back"
            )
        elif not path.exists() or path.read_text() != text:
            problems.append(
                f"{name} is out of date with Pulumi.{stack}.yaml: run `{COMMAND}` (or `python -m tools.prepare`)"
            )
    return problems


def write(cfg: StackConfig, stack: str, root: Path = REPO_ROOT) -> list[Path]:
    """Rewrite what is out of date; the files written."""
    written = []
    for path, text in generated(cfg, stack, root).items():
        if text and (not path.exists() or path.read_text() != text):
            path.write_text(text)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.diagram", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: prod or alpha")
    parser.add_argument("--config", metavar="PATH", help="draw this stack file instead of Pulumi.STACK.yaml")
    parser.add_argument("--out", metavar="PATH", help="write to PATH (Markdown page if it ends in .md)")
    parser.add_argument(
        "--write",
        action="store_true",
        help="update the committed pictures (docs/diagram-STACK.md, README's for prod)",
    )
    args = parser.parse_args(argv)
    loaded = cli_stack(args.stack, args.config)
    if loaded is None:
        return 2
    cfg = loaded[1]
    if args.write:
        for path in write(cfg, args.stack):
            print(f"wrote {path.relative_to(REPO_ROOT)}")
        return 0
    if args.out is None:
        print(render_mermaid(cfg), end="")
        return 0
    out = Path(args.out)
    out.write_text(render_markdown(cfg, args.stack) if out.suffix == ".md" else render_mermaid(cfg))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
