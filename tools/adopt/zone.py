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
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.rdata
import dns.rdatatype
import dns.zone
import yaml

from components.core import boundary
from components.core.config import parse
from components.core.errors import ConfigError
from components.core.stack import StackConfig
from components.dns import mail_auth
from components.dns.models import RECORD_TYPES
from components.dns.records import (
    CAA_VALUE,
    MAX_TXT,
    PROXIABLE,
    TXT_TEXT,
    ResolvedRecord,
    fqdn,
    mail_records,
    relative,
)
from tools.review.plan import StackFile, cli_stack
from tools.review.zonefile import add_address_option, known_addresses

# Where each kind of mail authentication record is configured (docs/dns.md).
MAIL_SECTIONS = {
    "spf": "mail.spf (v=spf1 -all: mail.no_mail)",
    "dmarc": "mail.dmarc",
    "dkim": "mail.dkim",
    "caa": "mail.caa",
    "mta-sts": "mail.mta_sts",
    "tls-rpt": "mail.mta_sts.tlsrpt_rua",
}
# Findings, in the order they are reported, with their headings.
HEADINGS = {
    "skipped": "Not adopted (the DNS host's own, another stack's, or not supported)",
    "mail": "Made by the mail builders (not written to dns.records, so nothing is declared twice)",
    "unmapped": "Addresses of no declared host (written as value:)",
    "attributes": "Cloudflare attributes the program does not keep (an import would show them as a difference)",
    "create": (
        "Records the stack makes that the zone does not have (pulumi up would create them: "
        "list them in data/new-in-prod.yaml, or change the mail settings)"
    ),
    "note": "Notes",
}
FIELD_ORDER = ("type", "priority", "weight", "port", "value", "host", "ttl", "proxied", "id", "comment")
PLAIN_NAME = re.compile(r"^[a-z0-9_][a-z0-9_.-]*$")


class AdoptError(Exception):
    """The zone file cannot be read as a zone of this domain."""


@dataclass(frozen=True)
class ZoneRecord:
    """One record of the zone file, with Cloudflare's inline attributes."""

    name: str  # relative to the zone, "@" for the apex
    type: str
    ttl: int
    rdata: dns.rdata.Rdata
    comment: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """TXT: the character-strings joined (RFC 1035 §3.3: a long text is split in 255-byte strings)."""
        return b"".join(self.rdata.strings).decode("utf-8", "replace")

    def shown(self, domain: str) -> str:
        data = self.rdata.to_text()
        return f"{fqdn(self.name, domain)} {self.type} {data if len(data) <= 70 else data[:67] + '...'}"


@dataclass(frozen=True)
class Finding:
    kind: str  # a key of HEADINGS
    record: str  # the record as a reader recognises it ("" for general notes)
    message: str


@dataclass
class Adoption:
    records: dict[str, list[dict]]  # name -> records, as in the stack file's dns.records
    findings: list[Finding]
    read: int  # records in the file

    def of(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]


# --------------------------------------------------------------------------- reading


def cf_attributes(comment: str | None) -> tuple[str | None, dict[str, str]]:
    """Split Cloudflare's inline ``; <comment> cf_tags=<tags>``.

    The last ``cf_tags=`` starts the tags (Cloudflare adds an empty ``cf_tags=`` when the
    comment itself mentions it). Tags are ``name`` or ``name:value``, comma-separated,
    values with ``"``, ``=``, ``,`` or ``\\`` written as JSON strings.
    """
    text = (comment or "").strip()
    head, sep, tail = text.rpartition("cf_tags=")
    if not sep or (head and not head[-1].isspace()):
        return text or None, {}
    tags = {}
    for m in re.finditer(r'([A-Za-z0-9_-]+)(?::("(?:[^"\\]|\\.)*"|[^,]*))?\s*(?:,|$)', tail.strip()):
        value = m.group(2) or ""
        tags[m.group(1).lower()] = json.loads(value) if value.startswith('"') else value.strip()
    return head.strip() or None, tags


def read_zone(text: str, domain: str) -> list[ZoneRecord]:
    """Every record of a BIND zone file of ``domain`` (Cloudflare's export or any other).

    Records of one name and type share one TTL in a zone (RFC 2181 §5.2); dnspython
    keeps the lowest if the file gives several.
    """
    header = re.search(r"^;; Domain:\s+(\S+)", text, flags=re.MULTILINE)  # Cloudflare's export says
    if header and header.group(1).rstrip(".").lower() != domain:
        raise AdoptError(f"this is the zone file of {header.group(1)}, not of {domain}")
    # Cloudflare writes the SOA owner without its final dot ("social.coop 3600 IN SOA"),
    # which a zone file reader takes as relative to the origin: social.coop.social.coop.
    text = re.sub(rf"^{re.escape(domain)}(?=[ \t])", f"{domain}.", text, flags=re.MULTILINE | re.IGNORECASE)
    try:
        zone = dns.zone.from_text(text, origin=f"{domain}.", relativize=False, check_origin=False)
    except (dns.exception.DNSException, ValueError) as e:
        raise AdoptError(f"not a readable zone file of {domain}: {e}") from None
    out = []
    for name, ttl, rd in zone.iterate_rdatas():  # dnspython leaves out names outside the zone
        comment, tags = cf_attributes(rd.rdcomment)
        out.append(
            ZoneRecord(
                relative(name.to_text(), domain), dns.rdatatype.to_text(rd.rdtype), ttl, rd, comment, tags
            )
        )
    if not out:
        raise AdoptError(f"no records of {domain} in this file: is it the zone file of {domain}?")
    order = {t: i for i, t in enumerate(RECORD_TYPES)}
    return sorted(out, key=lambda r: (r.name != "@", r.name, order.get(r.type, 99), r.rdata.to_text()))


# --------------------------------------------------------------------------- classifying


def skip_reason(r: ZoneRecord, cfg: StackConfig) -> str | None:
    """Why a record is not the program's to declare, or None."""
    if r.type == "SOA":
        return "the zone's SOA belongs to the DNS host (Cloudflare)"
    if r.type == "NS" and r.name == "@":
        return "the apex NS records are Cloudflare's own name servers"
    owner = boundary.name_owner(fqdn(r.name, cfg.domain))
    if owner != cfg.environment:
        return f"not the {cfg.environment} stack's: the {owner} stack's ({boundary.HERE}); adopt it with --stack {owner}"
    if r.type not in RECORD_TYPES:
        return (
            f"type {r.type} is not supported (the program manages {', '.join(RECORD_TYPES)}); "
            "it stays in Cloudflare as it is, unmanaged"
        )
    return None


def mail_kind(r: ZoneRecord) -> str | None:
    """Which mail builder makes a record like this one (a key of MAIL_SECTIONS), or None."""
    if r.type == "CAA":
        return "caa"
    if r.type != "TXT":
        return None
    labels = r.name.split(".")
    if r.text.startswith("v=spf1"):
        return "spf"
    if labels[0] == "_dmarc":
        return "dmarc"
    if len(labels) > 1 and labels[1] == "_domainkey":
        return "dkim"
    if labels[0] == "_mta-sts":
        return "mta-sts"
    if labels[:2] == ["_smtp", "_tls"]:
        return "tls-rpt"
    return None


def caa_content(rd) -> str:
    """A zone file's CAA rdata in the form the CAA builder writes."""
    return mail_auth.caa_content(rd.tag.decode(), rd.value.decode(), rd.flags)


def _mail_finding(
    r: ZoneRecord, kind: str, generated: list[ResolvedRecord], domain: str
) -> tuple[Finding, str | None]:
    """Compare a mail record of the zone with what its builder makes. Returns the finding
    and the logical key of the generated record it corresponds to."""
    content = caa_content(r.rdata) if kind == "caa" else r.text
    same_place = [
        g
        for g in generated
        if g.name == r.name and g.type == r.type and (kind == "caa" or g.key.endswith(f"-{kind}"))
    ]
    shown = r.shown(domain)
    for g in same_place:
        if g.content == content:
            return Finding("mail", shown, f"made by {g.path} (same text)"), g.key
    if same_place and kind == "caa":
        made = ", ".join(g.content for g in same_place)
        return (
            Finding(
                "mail",
                shown,
                f"mail.caa does not make this one (it makes {made}): describe it there before adopting",
            ),
            None,
        )
    if same_place:
        g = same_place[0]
        return (
            Finding(
                "mail",
                shown,
                f"made by {g.path}, but the builder's text differs: {g.content!r}. Before adopting, "
                "make the mail settings produce the zone's text (an import refuses a difference); "
                f"if they cannot, declare the record in dns.records with its exact text instead of {g.path}",
            ),
            g.key,
        )
    return (
        Finding(
            "mail",
            shown,
            f"no mail builder makes it yet: describe it under {MAIL_SECTIONS[kind]} (docs/dns.md), "
            "or declare it in dns.records with its exact text",
        ),
        None,
    )


# --------------------------------------------------------------------------- converting


def _target(name) -> str:
    return name.to_text().rstrip(".").lower()


def _record(
    r: ZoneRecord, cfg: StackConfig, by_address: dict, by_fqdn: dict
) -> tuple[dict | None, str | None]:
    """The stack-file entry for a record, or the reason it cannot be written."""
    rd, d = r.rdata, {"type": r.type}
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
            return None, f'a {r.type} record pointing at the root (".", e.g. a null MX) is not supported'
        if r.type == "MX":
            d["priority"] = rd.preference
        if r.type == "SRV":
            d.update(priority=rd.priority, weight=rd.weight, port=rd.port)
        d["value"] = target
    elif r.type == "TXT":
        text = r.text
        if not TXT_TEXT.match(text) or '"' in text or "\\" in text:
            return None, "TXT text with quotes, backslashes or non-ASCII characters is not supported"
        if len(text) > MAX_TXT:
            return None, f"TXT text longer than {MAX_TXT} characters (Cloudflare's limit)"
        d["value"] = text
    elif r.type == "CAA":
        content = caa_content(rd)
        if not CAA_VALUE.match(content):
            return None, "only CAA issue, issuewild and iodef with flags 0 or 128 are supported"
        d["value"] = content
    if r.tags.get("cf-proxied") == "true" and r.type in PROXIABLE:
        d["proxied"] = True  # the TTL of a proxied record is always automatic
    elif r.ttl != cfg.dns.default_ttl:
        d["ttl"] = r.ttl
    if r.comment:
        d["comment"] = r.comment
    return d, None


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
    if d["type"] == "CAA":
        _, tag, data = CAA_VALUE.match(value).groups()
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
    by_address = {}
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
            finding, key = _mail_finding(r, kind, generated, domain)
            findings.append(finding)
            covered.add(key)
            continue
        d, problem = _record(r, cfg, by_address, by_fqdn)
        if problem is not None:
            findings.append(Finding("skipped", shown, problem))
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
