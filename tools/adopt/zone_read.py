"""Reading a zone file exported from Cloudflare, and sorting its records: which the stack
adopts as dns.records, which the mail builders make, which are the DNS host's own or the other
stack's (the command: tools/adopt/zone.py)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.rdata
import dns.rdatatype
import dns.zone

from components.core import boundary
from components.core.stack import StackConfig
from components.dns import mail_auth
from components.dns.models import RECORD_TYPES
from components.dns.records import (
    ResolvedRecord,
    fqdn,
    relative,
)

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


class AdoptError(Exception):
    """The zone file cannot be read as a zone of this domain."""


@dataclass(frozen=True)
class ZoneRecord:
    """One record of the zone file, with Cloudflare's inline attributes."""

    name: str  # relative to the zone, "@" for the apex
    type: str
    ttl: int
    rdata: Any  # a dnspython rdata of its type's class: .address, .target, .strings, .exchange...
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
    for name, ttl, rd in zone.iterate_rdatas():
        owner = relative(name.to_text(), domain)
        if owner is None:  # dnspython has left out names outside the zone already
            continue
        comment, tags = cf_attributes(rd.rdcomment)
        out.append(ZoneRecord(owner, dns.rdatatype.to_text(rd.rdtype), ttl, rd, comment, tags))
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


def mail_finding(
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
        made = ", ".join(g.own_content for g in same_place)
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
