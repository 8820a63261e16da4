"""Find the Cloudflare record ID of each of the stack's DNS records (``dns.imports``).

    # offline, from a response saved with curl (docs/adoption.md):
    python -m tools.import_ids --from-json records.json --address hypha=203.0.113.30,2001:db8:30::2
    # online, with a read-only token in the environment (never printed):
    python -m tools.import_ids --zone-id ZONE_ID --token-env CLOUDFLARE_API_TOKEN --address ... --write
    # the same IDs in Pulumi's bulk import format, for `pulumi import --file`:
    python -m tools.import_ids --from-json records.json --address ... --pulumi-import-file import.json

Each record the stack declares or generates is matched with Cloudflare's records by full
name, type and content (names and targets compared without case or final dot, addresses
as addresses, TXT with its quoted strings joined, MX/SRV priority and CAA fields compared
as fields). A record with no match, or with more than one, is reported and gets no ID:
nothing is guessed, and the exit status is 1. Records listed in data/new-in-prod.yaml are
expected to have no match. Matches whose TTL, proxy status or comment differ are reported
too (the import would refuse them until the stack file says what Cloudflare has).

stdout: the ``imports:`` block for ``socialcoop-infra:dns``; ``--write`` puts it in the
stack file instead, keeping its comments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from components.core.errors import PROJECT, REPO_ROOT
from tools.adopt.cloudflare_api import API, ImportIdsError, fetch, read_json
from tools.adopt.matching import ZONE_COMPONENT, Match, match
from tools.review.stackfile import cli_stack
from tools.review.zonefile import add_address_option, known_addresses

ZONE_TYPE = "socialcoop:dns:Zone"
RECORD_TYPE = "cloudflare:index/dnsRecord:DnsRecord"


# --------------------------------------------------------------------------- output


def render_imports(imports: dict[str, str], stack: str) -> str:
    lines = [
        f"# dns.imports for Pulumi.{stack}.yaml: Cloudflare record IDs by logical key (python -m tools.import_ids).",
        "# Paste under socialcoop-infra:dns, replacing its imports: block (or run again with --write).",
        "imports:",
    ]
    lines += [f"  {k}: {v}" for k, v in imports.items()]
    return "\n".join(lines) + "\n"


def write_imports(path: Path, imports: dict[str, str]) -> None:
    """Replace dns.imports in a stack file in place; comments, order and quoting stay as they are."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    rt = YAML()  # round-trip mode
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    doc = rt.load(path)
    section = doc["config"][f"{PROJECT}:dns"]
    block = section.get("imports")
    if block is None:
        section["imports"] = CommentedMap(imports)
    else:
        for k in list(block):
            del block[k]
        block.update(imports)
    rt.dump(doc, path)


def pulumi_import_file(ids: dict[str, str], stack: str, zone_in_state: bool = False) -> dict:
    """Pulumi's bulk import file (``pulumi import --file``) for the records.

    Each record's parent is the Zone component, as in the program. On a stack without the
    Zone yet, the file declares it as an empty component to create (``component: true``,
    what ``pulumi preview --import-file`` writes); once it is in the state, ``zone_in_state``
    refers to it by URN through ``nameTable`` instead.
    """
    doc: dict[str, Any] = {}
    resources: list[dict[str, Any]] = []
    if zone_in_state:
        doc["nameTable"] = {ZONE_COMPONENT: f"urn:pulumi:{stack}::{PROJECT}::{ZONE_TYPE}::{ZONE_COMPONENT}"}
    else:
        resources.append({"type": ZONE_TYPE, "name": ZONE_COMPONENT, "component": True})
    for key, import_id in ids.items():
        resources.append(
            {
                "type": RECORD_TYPE,
                "name": f"{ZONE_COMPONENT}-{key}",
                "id": import_id,
                "parent": ZONE_COMPONENT,
            }
        )
    doc["resources"] = resources
    return doc


def report(m: Match) -> str:
    lines = [f"{len(m.ids)} records matched."]
    for heading, items in (
        ("Not matched (no import ID written)", m.problems),
        ("Matched, but different (fix the stack file before `pulumi preview`)", m.warnings),
        ("Notes", m.notes),
    ):
        if items:
            lines += ["", f"{heading}:"] + [f"  {item}" for item in items]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.import_ids", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="prod", help="stack name (default: prod)")
    parser.add_argument("--config", metavar="PATH", help="read this stack file instead of Pulumi.STACK.yaml")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--from-json",
        metavar="FILE",
        action="append",
        help="a saved list-records response; repeat for each page",
    )
    source.add_argument(
        "--zone-id", help="fetch the records of this zone from Cloudflare's API (the stack's dns.zone_id)"
    )
    parser.add_argument(
        "--token-env",
        metavar="NAME",
        default="CLOUDFLARE_API_TOKEN",
        help="environment variable holding the API token (default: %(default)s)",
    )
    parser.add_argument("--api", default=API, help="API base URL (default: %(default)s)")
    add_address_option(parser)
    parser.add_argument(
        "--write", action="store_true", help="write dns.imports into the stack file (comments kept)"
    )
    parser.add_argument(
        "--pulumi-import-file",
        metavar="OUT",
        help="also write Pulumi's bulk import file (pulumi import --file OUT)",
    )
    parser.add_argument(
        "--zone-in-state",
        action="store_true",
        help="with --pulumi-import-file: the Zone component is already in the stack's state",
    )
    args = parser.parse_args(argv)
    loaded = cli_stack(args.stack, args.config)
    if loaded is None:
        return 2
    sf, cfg = loaded
    if "cloudflare" not in cfg.dns.providers:
        print(
            f"error: {sf.source}: dns.providers has no cloudflare: there is nothing to import from Cloudflare",
            file=sys.stderr,
        )
        return 2
    addresses = known_addresses(cfg, args.address, parser)
    try:
        if args.from_json:
            records = read_json(args.from_json)
        else:
            if args.zone_id != cfg.dns.zone_id:
                raise ImportIdsError(
                    f"--zone-id {args.zone_id} is not the stack's dns.zone_id ({cfg.dns.zone_id}): set dns.zone_id first"
                )
            token = os.environ.get(args.token_env)
            if not token:
                raise ImportIdsError(
                    f"${args.token_env} is not set: export a Cloudflare API token with Zone DNS Read"
                )
            records = fetch(args.api, args.zone_id, token)
        result = match(cfg, records, addresses)
    except ImportIdsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    sys.stderr.write(report(result))
    if args.write:
        path = Path(args.config) if args.config else REPO_ROOT / f"Pulumi.{args.stack}.yaml"
        write_imports(path, result.imports)
        print(f"wrote {len(result.imports)} import IDs to {path} (dns.imports)", file=sys.stderr)
    else:
        sys.stdout.write(render_imports(result.imports, args.stack))
    if args.pulumi_import_file:
        doc = pulumi_import_file(result.ids, args.stack, args.zone_in_state)
        Path(args.pulumi_import_file).write_text(json.dumps(doc, indent=2) + "\n")
        print(
            f"wrote {len(result.ids)} records to {args.pulumi_import_file} (pulumi import --file)",
            file=sys.stderr,
        )
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
