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
import ipaddress
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.rdata
import yaml

from components.core import boundary
from components.core.errors import PROJECT, REPO_ROOT
from components.core.stack import StackConfig
from components.dns.records import CAA_VALUE, ResolvedRecord, fqdn, relative, resolve
from tools.pipeline import safe_http
from tools.review.plan import cli_stack
from tools.review.zonefile import add_address_option, host_content, known_addresses

API = "https://api.cloudflare.com/client/v4"
PER_PAGE = 1000  # Cloudflare allows up to 5,000,000 per page; result_info says how many pages there are
ZONE_COMPONENT = "social-coop"  # the Zone's name in __main__.py: its records are social-coop-<key>
ZONE_TYPE = "socialcoop:dns:Zone"
RECORD_TYPE = "cloudflare:index/dnsRecord:DnsRecord"
NEW_IN_PROD = REPO_ROOT / "data" / "new-in-prod.yaml"


class ImportIdsError(Exception):
    """Records cannot be read (file, API, zone): stops with exit status 2."""


# --------------------------------------------------------------------------- decisions


def load_new_in_prod(path: Path = NEW_IN_PROD) -> dict[str, dict]:
    """data/new-in-prod.yaml by resource name: the prod resources that are created, not imported."""
    return {entry["name"]: entry for entry in yaml.safe_load(path.read_text()) or []}


def undecided(resources: list, new: dict[str, dict]) -> list[str]:
    """Names of the plan's cloud resources with neither an import ID nor an entry in ``new``."""
    return [r.name for r in resources if r.custom and not r.options.get("import") and r.name not in new]


# --------------------------------------------------------------------------- Cloudflare's records


def _results(body: Any, source: str) -> list[dict]:
    if isinstance(body, list):  # a bare list of records
        return body
    if not isinstance(body, dict) or not isinstance(body.get("result"), list):
        raise ImportIdsError(f"{source}: not a Cloudflare list-records response (no result list)")
    if body.get("success") is False:
        raise ImportIdsError(f"{source}: Cloudflare reported failure: {_errors(body)}")
    return body["result"]


def _errors(body: Any) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors or []) or "no details"


def read_json(paths: list[str]) -> list[dict]:
    """Records from saved responses (one file per page)."""
    records = []
    for path in paths:
        try:
            body = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ImportIdsError(f"{path}: {e}") from None
        records += _results(body, path)
    return records


def check_api_url(api: str) -> None:
    """The token travels in a header: only over HTTPS (tools/pipeline/safe_http.py)."""
    problem = safe_http.url_problem(api)
    if problem:
        raise ImportIdsError(f"--api {api}: {problem}")


def fetch(api: str, zone_id: str, token: str, per_page: int = PER_PAGE) -> list[dict]:
    """GET /zones/{zone_id}/dns_records, every page. The token is only ever sent, never shown,
    and never to another host: a redirect stops the fetch."""
    check_api_url(api)
    records, page = [], 1
    while True:
        query = urllib.parse.urlencode({"page": page, "per_page": per_page})
        url = f"{api.rstrip('/')}/zones/{zone_id}/dns_records?{query}"
        request = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
        )
        try:
            with safe_http.opener().open(request, timeout=30) as response:
                body = json.load(response)
        except urllib.error.HTTPError as e:
            try:
                detail = _errors(json.loads(e.read()))
            except ValueError:
                detail = "no details"
            raise ImportIdsError(f"GET {url}: HTTP {e.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise ImportIdsError(f"GET {url}: {getattr(e, 'reason', e)}") from None
        results = _results(body, f"GET {url}")
        records += results
        total_pages = (body.get("result_info") or {}).get("total_pages") or 1
        if page >= total_pages or not results:
            return records
        page += 1


# --------------------------------------------------------------------------- matching


def _target(name: str) -> str:
    return name.rstrip(".").lower()


def txt_text(content: str) -> str:
    """TXT content as Cloudflare stores it, either as typed (``v=spf1 ...``) or as quoted
    character-strings (``"first 255 bytes" "the rest"``): the text itself."""
    content = content.strip()
    if not content.startswith('"'):
        return content
    try:
        rd = dns.rdata.from_text("IN", "TXT", content)
    except dns.exception.DNSException:
        return content
    return b"".join(rd.strings).decode("utf-8", "replace")


def cloudflare_match_key(rec: dict) -> tuple:
    """(full name, type, content) of a Cloudflare record, normalised for comparison."""
    rtype, content, data = rec.get("type"), str(rec.get("content") or ""), rec.get("data") or {}
    if rtype in ("A", "AAAA"):
        try:
            value: Any = str(ipaddress.ip_address(content))
        except ValueError:
            value = content
    elif rtype in ("CNAME", "NS"):
        value = _target(content)
    elif rtype == "MX":
        value = (int(rec.get("priority") or 0), _target(content))
    elif rtype == "SRV":
        if data:
            value = (int(data["priority"]), int(data["weight"]), int(data["port"]), _target(data["target"]))
        else:  # content: "weight port target", priority apart
            weight, port, target = content.split()
            value = (int(rec.get("priority") or 0), int(weight), int(port), _target(target))
    elif rtype == "TXT":
        value = txt_text(content)
    elif rtype == "CAA":
        if data:
            value = (int(data["flags"]), str(data["tag"]).lower(), str(data["value"]))
        else:
            m = CAA_VALUE.match(content)
            value = (int(m.group(1)), m.group(2), m.group(3)) if m else content
    else:
        value = content
    return (_target(str(rec.get("name") or "")), rtype, value)


def stack_match_key(r: ResolvedRecord, cfg: StackConfig, addresses: dict) -> tuple | None:
    """The same key for one of the stack's records; None when a host's address is not known."""
    content = host_content(r, cfg, addresses)
    if content is None:
        return None
    name = fqdn(r.name, cfg.domain)
    if r.type in ("A", "AAAA"):
        value: Any = str(ipaddress.ip_address(content))
    elif r.type in ("CNAME", "NS"):
        value = _target(content)
    elif r.type == "MX":
        value = (r.priority, _target(content))
    elif r.type == "SRV":
        value = (r.priority, r.weight, r.port, _target(content))
    elif r.type == "CAA":
        flags, tag, data = CAA_VALUE.match(content).groups()
        value = (int(flags), tag, data)
    else:
        value = content
    return (name, r.type, value)


@dataclass
class Match:
    ids: dict[str, str] = field(default_factory=dict)  # logical key -> <zone_id>/<record_id>, every match
    inline: set[str] = field(default_factory=set)  # keys whose record has import_id in dns.records
    problems: list[str] = field(default_factory=list)  # no match, several, or a listed "new" that exists
    warnings: list[str] = field(default_factory=list)  # matched, but the import would show a difference
    notes: list[str] = field(
        default_factory=list
    )  # expected: new records; Cloudflare records not the stack's

    @property
    def imports(self) -> dict[str, str]:
        """What belongs in dns.imports (records with an inline import_id keep theirs)."""
        return {k: v for k, v in self.ids.items() if k not in self.inline}


def _differences(r: ResolvedRecord, rec: dict) -> list[str]:
    out = []
    if rec.get("ttl") is not None and int(rec["ttl"]) != r.ttl:
        out.append(f"ttl: Cloudflare {rec['ttl']}, stack {r.ttl}")
    if bool(rec.get("proxied")) != r.proxied:
        out.append(f"proxied: Cloudflare {bool(rec.get('proxied'))}, stack {r.proxied}")
    if (rec.get("comment") or None) != r.comment:
        out.append(f"comment: Cloudflare {rec.get('comment')!r}, stack {r.comment!r}")
    return out


def match(
    cfg: StackConfig,
    records: list[dict],
    addresses: dict,
    new: dict[str, dict] | None = None,
) -> Match:
    """Match the stack's records (``resolve(cfg)``) with Cloudflare's ``records``."""
    new = load_new_in_prod() if new is None and cfg.environment == "prod" else (new or {})
    zone_id = cfg.dns.zone_id
    for rec in records:
        if rec.get("zone_id") not in (None, zone_id):
            raise ImportIdsError(
                f"record {rec.get('id')} is in zone {rec['zone_id']}, but the stack's dns.zone_id is {zone_id}"
            )
    by_key: dict[tuple, list[dict]] = {}
    for rec in records:
        by_key.setdefault(cloudflare_match_key(rec), []).append(rec)
    result, claimed = Match(), set()
    missed: dict[tuple[str, str], str] = {}  # (full name, type) of records without a match -> key
    inline = {d.path: d.import_id for d in cfg.dns.records if d.import_id}
    for r in resolve(cfg):
        label = f"{r.key} ({fqdn(r.name, cfg.domain)} {r.type} {r.value})"
        listed_new = f"{ZONE_COMPONENT}-{r.key}" in new
        key = stack_match_key(r, cfg, addresses)
        if key is None or len(by_key.get(key, [])) != 1:
            missed[(fqdn(r.name, cfg.domain), r.type)] = r.key
        if key is None:
            result.problems.append(
                f"{label}: {r.host}'s address is not known offline: give --address {r.host}=IPV4,IPV6 "
                "(`hcloud server list`)"
            )
            continue
        found = by_key.get(key, [])
        if len(found) > 1:
            ids = ", ".join(rec["id"] for rec in found)
            result.problems.append(f"{label}: {len(found)} Cloudflare records match ({ids}); not guessing")
            continue
        if not found:
            if listed_new:
                result.notes.append(f"{label}: new, as listed in data/new-in-prod.yaml")
            else:
                result.problems.append(
                    f"{label}: no Cloudflare record has this name, type and content. If it exists with "
                    "other content, make the stack file say what Cloudflare has; if it is really new, "
                    "list it in data/new-in-prod.yaml"
                )
            continue
        rec = found[0]
        claimed.add(id(rec))
        import_id = f"{zone_id}/{rec['id']}"
        result.ids[r.key] = import_id
        if r.path in inline:
            result.inline.add(r.key)
            if inline[r.path] != import_id:
                result.problems.append(
                    f"{label}: {r.path}.import_id is {inline[r.path]} but Cloudflare's record is {import_id}"
                )
        if listed_new:
            result.problems.append(
                f"{label}: listed in data/new-in-prod.yaml but exists in Cloudflare ({rec['id']}): "
                "remove it from the list so it is imported, not created twice"
            )
        if r.type == "TXT" and str(rec.get("content") or "").strip().startswith('"'):
            result.notes.append(
                f"{label}: Cloudflare holds this TXT text in quotes (as its dashboard writes it); same text "
                "as the stack's. The import takes it as it is (TXT content is ignored while adopting); in "
                "phase 2 the preview shows `~ content` dropping the quotes: the same DNS answer, your "
                "decision (docs/adoption.md, 'Quoted TXT records')"
            )
        for diff in _differences(r, rec):
            result.warnings.append(
                f"{label}: {diff}; the import would refuse it until the stack file says what Cloudflare has"
            )
    for rec in records:
        if id(rec) not in claimed:
            result.notes.append(_unclaimed(rec, cfg, missed))
    return result


def _unclaimed(rec: dict, cfg: StackConfig, missed: dict[tuple[str, str], str]) -> str:
    shown = f"{rec.get('name')} {rec.get('type')} {str(rec.get('content'))[:60]} ({rec.get('id')})"
    place = (_target(str(rec.get("name") or "")), rec.get("type"))
    if place in missed:
        return f"{shown}: same name and type as {missed[place]}, which was not matched (see above)"
    name = relative(str(rec.get("name") or ""), cfg.domain)
    if name is not None and boundary.name_owner(fqdn(name, cfg.domain)) != cfg.environment:
        return f"{shown}: the {boundary.other(cfg.environment)} stack's ({boundary.HERE})"
    return f"{shown}: in Cloudflare but not in this stack; left alone (to manage it, add it to dns.records)"


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
