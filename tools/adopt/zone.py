"""Turn a zone file exported from Cloudflare into the program's DNS record data.

    python -m tools.adopt_zone social.coop.txt --address hypha=203.0.113.30,2001:db8:30::2
    python -m tools.adopt_zone social.coop.txt --stack alpha --config /tmp/Pulumi.alpha.yaml

Export the zone in Cloudflare's dashboard (DNS → Records → Import and Export → Export).
stdout: a ``records:`` block for the stack file's ``socialcoop-infra:dns`` section: names
relative to the zone (``"@"`` for the apex), the address (A/AAAA) or name (CNAME) of a
declared host written as ``host: <name>``, Cloudflare's ``cf-proxied`` tag as ``proxied``,
record comments as ``comment``, TXT strings joined. stderr: every record it did not write
and why (SOA and apex NS are Cloudflare's; the other stack's names; unsupported types; the
mail authentication records, which the mail builders make, each checked against its
builder), addresses of no declared host, and the records the stack would add.
docs/adoption.md has the whole procedure.
"""

from __future__ import annotations

import argparse
import collections
import copy
import ipaddress
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from components.core.config import parse
from components.core.errors import ConfigError
from components.core.stack import StackConfig
from components.dns.checks import MAX_TXT, PROXIABLE, TXT_TEXT
from components.dns.models import RECORD_TYPES
from components.dns.records import (
    CAA_VALUE,
    fqdn,
    mail_records,
)
from tools.adopt.zone_read import (
    HEADINGS,
    AdoptError,
    Adoption,
    Finding,
    ZoneRecord,
    caa_content,
    mail_finding,
    mail_kind,
    read_zone,
    skip_reason,
)
from tools.review.stackfile import StackFile, cli_stack
from tools.review.zonefile import add_address_option, known_addresses

FIELD_ORDER = ("type", "priority", "weight", "port", "value", "host", "ttl", "proxied", "id", "comment")
PLAIN_NAME = re.compile(r"^[a-z0-9_][a-z0-9_.-]*$")


# --------------------------------------------------------------------------- converting


def _target(name) -> str:
    return name.to_text().rstrip(".").lower()


def _record(r: ZoneRecord, cfg: StackConfig, by_address: dict, by_fqdn: dict) -> dict[str, Any] | str:
    """The stack-file entry for a record, or the reason (text) it cannot be written."""
    rd, d = r.rdata, dict[str, Any](type=r.type)
    if r.type in ("A", "AAAA"):
        address = str(ipaddress.ip_address(rd.address))
        host = by_address.get((r.type, address))
        d.update({"host": host} if host else {"value": address})
    elif r.type == "CNAME":
        target = _target(rd.target)
        d.update({"host": by_fqdn[target]} if target in by_fqdn else {"value": target})
    elif r.type in ("MX", "NS", "SRV"):
        target = _target(rd.exchange if r.type == "MX" else rd.target)
        if not target:
            return f'a {r.type} record pointing at the root (".", e.g. a null MX) is not supported'
        if r.type == "MX":
            d["priority"] = rd.preference
        if r.type == "SRV":
            d.update(priority=rd.priority, weight=rd.weight, port=rd.port)
        d["value"] = target
    elif r.type == "TXT":
        text = r.text
        if not TXT_TEXT.match(text) or '"' in text or "\\" in text:
            return "TXT text with quotes, backslashes or non-ASCII characters is not supported"
        if len(text) > MAX_TXT:
            return f"TXT text longer than {MAX_TXT} characters (Cloudflare's limit)"
        d["value"] = text
    elif r.type == "CAA":
        content = caa_content(rd)
        if not CAA_VALUE.match(content):
            return "only CAA issue, issuewild and iodef with flags 0 or 128 are supported"
        d["value"] = content
    if r.tags.get("cf-proxied") == "true" and r.type in PROXIABLE:
        d["proxied"] = True  # the TTL of a proxied record is always automatic
    elif r.ttl != cfg.dns.default_ttl:
        d["ttl"] = r.ttl
    if r.comment:
        d["comment"] = r.comment
    return d


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-")


def _id_hint(d: dict) -> str:
    if "host" in d:
        return d["host"]
    value = str(d["value"])
    if d["type"] in ("CNAME", "MX", "NS", "SRV"):
        return value.split(".")[0]
    if d["type"] == "TXT":
        return value.split("=")[0] if "=" in value else "txt"
    if d["type"] == "CAA" and (m := CAA_VALUE.match(value)):
        _, tag, data = m.groups()
        return f"{tag}-{data}"
    return value  # a literal address


def assign_ids(records: list[dict]) -> None:
    """Give each of several records of one type at one name an ``id`` (the discriminator of
    its logical name): the host, the target's first label, the TXT's ``name=`` prefix."""
    groups = collections.defaultdict(list)
    for d in records:
        groups[d["type"]].append(d)
    for group in groups.values():
        if len(group) < 2:
            continue
        taken = set()
        for d in group:
            base = _slug(_id_hint(d)) or d["type"].lower()
            candidate, n = base, 1
            while candidate in taken:
                n += 1
                candidate = f"{base}-{n}"
            taken.add(candidate)
            d["id"] = candidate


def adopt(text: str, cfg: StackConfig, addresses: dict[str, tuple[str | None, str | None]]) -> Adoption:
    """Convert a zone file into ``dns.records`` data for ``cfg``'s stack, with findings.

    ``addresses``: (ipv4, ipv6) per host (tools.review.zonefile.host_addresses, plus --address).
    """
    domain = cfg.domain
    zone = read_zone(text, domain)
    by_address: dict[tuple[str, str], str] = {}
    for name, (ipv4, ipv6) in addresses.items():
        for rtype, ip in (("A", ipv4), ("AAAA", ipv6)):
            if ip is not None:
                by_address.setdefault((rtype, str(ipaddress.ip_address(ip))), name)
    by_fqdn = {h.fqdn.lower(): name for name, h in cfg.hosts.items()}
    generated = mail_records(cfg)
    findings, covered = [], set()
    records: dict[str, list[dict]] = {}
    for r in zone:
        shown = r.shown(domain)
        reason = skip_reason(r, cfg)
        kind = mail_kind(r) if reason is None else None
        if reason is not None:
            findings.append(Finding("skipped", shown, reason))
            continue
        if kind is not None:
            finding, key = mail_finding(r, kind, generated, domain)
            findings.append(finding)
            covered.add(key)
            continue
        d = _record(r, cfg, by_address, by_fqdn)
        if isinstance(d, str):  # the reason it is not written
            findings.append(Finding("skipped", shown, d))
            continue
        if r.type in ("A", "AAAA") and "value" in d:
            findings.append(
                Finding(
                    "unmapped",
                    shown,
                    "no declared host has this address: written as value:. If it is one of the "
                    "hosts, declare it in hosts (a Hetzner Cloud host's address: --address NAME=IPV4,IPV6)",
                )
            )
        extra = sorted(t for t in r.tags if t != "cf-proxied")
        if extra:
            findings.append(
                Finding(
                    "attributes",
                    shown,
                    f"Cloudflare tags {', '.join(extra)}: the program does not keep tags, so the import "
                    "would show them as a difference. Tags are labels only (resolvers never see them): "
                    "remove them in the dashboard before adopting",
                )
            )
        records.setdefault(r.name, []).append(d)
    for name_records in records.values():
        assign_ids(name_records)
    for g in generated:
        if g.key not in covered:
            findings.append(
                Finding(
                    "create",
                    f"{fqdn(g.name, domain)} {g.type} {g.content}",
                    f"made by {g.path}; not in the zone today",
                )
            )
    findings += _ttl_note(zone, records, cfg)
    ordered = {name: [{k: d[k] for k in FIELD_ORDER if k in d} for d in rs] for name, rs in records.items()}
    return Adoption(ordered, findings, len(zone))


def _ttl_note(zone: list[ZoneRecord], records: dict, cfg: StackConfig) -> list[Finding]:
    """Suggest dns.default_ttl when most records have another TTL (Cloudflare's automatic: 1)."""
    ttls = collections.Counter(
        r.ttl
        for r in zone
        if r.type in RECORD_TYPES and r.type != "SOA" and not (r.type == "NS" and r.name == "@")
    )
    if not ttls:
        return []
    ttl, n = ttls.most_common(1)[0]
    if ttl == cfg.dns.default_ttl:
        return []
    auto = " (Cloudflare's automatic TTL)" if ttl == 1 else ""
    return [
        Finding(
            "note",
            "",
            f"{n} of {sum(ttls.values())} records have TTL {ttl}{auto} but dns.default_ttl is "
            f"{cfg.dns.default_ttl}: set default_ttl: {ttl} and adopt again, so that records need no "
            "ttl: and the generated mail records keep the TTL they have today",
        )
    ]


# --------------------------------------------------------------------------- output


def _name(name: str) -> str:
    return name if PLAIN_NAME.match(name) else json.dumps(name)


def render(adoption: Adoption, source: str, stack: str) -> str:
    n = sum(len(rs) for rs in adoption.records.values())
    lines = [
        f"# dns.records adopted from {source} by `python -m tools.adopt_zone` ({n} records).",
        f"# Review every line, then paste as `records:` under socialcoop-infra:dns in Pulumi.{stack}.yaml.",
        "records:",
    ]
    for name, rs in adoption.records.items():
        lines.append(f"  {_name(name)}:")
        for d in rs:
            flow = yaml.safe_dump(d, default_flow_style=True, width=1_000_000, sort_keys=False).strip()
            lines.append(f"    - {flow}")
    return "\n".join(lines) + "\n"


def report(adoption: Adoption, source: str) -> str:
    n = sum(len(rs) for rs in adoption.records.values())
    lines = [f"{source}: {adoption.read} records read, {n} written to dns.records."]
    for kind, heading in HEADINGS.items():
        found = adoption.of(kind)
        if found:
            lines += ["", f"{heading}:"]
            lines += [f"  {f.record}: {f.message}" if f.record else f"  {f.message}" for f in found]
    return "\n".join(lines) + "\n"


def check_in_stack(sf: StackFile, records: dict[str, list[dict]]) -> ConfigError | None:
    """Load the stack with these records in place of its own (without its import IDs,
    which name the old records): the error a paste would give, or None."""
    values = copy.deepcopy(sf.values)
    dns_values = dict(values.get("dns") or {})
    dns_values["records"] = records
    dns_values.pop("imports", None)
    values["dns"] = dns_values
    try:
        parse(values, sf.source, sf.secret_keys, present=sf.present)
    except ConfigError as e:
        return e
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.adopt_zone", description=__doc__.split("\n\n")[0])
    parser.add_argument("zonefile", help="the zone file exported from Cloudflare")
    parser.add_argument("--stack", default="prod", help="the stack the records are for (default: prod)")
    parser.add_argument("--config", metavar="PATH", help="read this stack file instead of Pulumi.STACK.yaml")
    add_address_option(parser)
    args = parser.parse_args(argv)
    loaded = cli_stack(args.stack, args.config)
    if loaded is None:
        return 2
    sf, cfg = loaded
    addresses = known_addresses(cfg, args.address, parser)
    try:
        adoption = adopt(Path(args.zonefile).read_text(), cfg, addresses)
    except (OSError, AdoptError) as e:
        print(f"error: {args.zonefile}: {e}", file=sys.stderr)
        return 2
    source = Path(args.zonefile).name
    sys.stdout.write(render(adoption, source, args.stack))
    sys.stderr.write(report(adoption, source))
    error = check_in_stack(sf, adoption.records)
    if error is not None:
        print(f"\nerror: these records do not pass the stack's checks yet: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
