"""Hetzner DNS (Cloud API, ``hcloud.ZoneRrset``): the resolved records as record sets (pure).

Hetzner's model is the RRset: one ``hcloud.ZoneRrset`` per (name, type), holding every value
of that name and type and one TTL. What the API wants (pulumi-hcloud 1.43.3; the provider
sends each value verbatim and reads it back verbatim, so only the canonical form gives a
preview without a diff; sources in docs/dns.md, "Hetzner DNS"):

- ``name`` relative to the zone, ``@`` for the apex, lower case, no trailing dot (always
  passed: the SDK makes it optional only because the bridge would autoname it);
- values in zone-file presentation form, read relative to the zone: a CNAME, MX, SRV or NS
  target therefore ends with a dot (``mailgun.org.``), or it would become
  ``mailgun.org.social.coop``;
- MX and SRV carry priority (and weight, port) inside the value: ``10 mxa.mailgun.org.``;
- TXT as quoted character-strings of at most 255 bytes each, ``"`` and ``\\`` escaped
  (``quoted()``; hcloud-go's FormatTXTRecord, the provider's ``txt_record`` function, escapes
  no backslash and may split an escape, so it is not used);
- no empty comment (the API answers null for it: a diff on every preview): left out;
- TTL 60 to 2147483647, one per RRset (the loader refuses anything else while ``hetzner`` is
  listed: components/dns/checks.py);
- Hetzner makes the zone's SOA and apex NS itself: never declared here.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.dns.records import ResolvedRecord, logical_key, quoted

# The record types the Hetzner Cloud API holds (hcloud-go zone_rrset.go, ZoneRRSetType*).
TYPES = (
    "A",
    "AAAA",
    "CAA",
    "CNAME",
    "DS",
    "HINFO",
    "HTTPS",
    "MX",
    "NS",
    "PTR",
    "RP",
    "SOA",
    "SRV",
    "SVCB",
    "TLSA",
    "TXT",
)
MIN_TTL, MAX_TTL = 60, 2147483647  # the API's bounds for a TTL
OWN = ("SOA",)  # made by Hetzner with the zone, like the apex NS set: never declared
NAME = "Hetzner"


@dataclass(frozen=True)
class RRset:
    """One record set: every resolved record of one name and type."""

    key: str  # logical key, from name and type only: "apex-mx", "_dmarc-txt"
    name: str  # "@" or relative to the zone
    type: str
    ttl: int
    records: tuple[ResolvedRecord, ...]


def rrsets(records: list[ResolvedRecord]) -> list[RRset]:
    """The records grouped by (name, type), in the order their first record comes."""
    groups: dict[tuple[str, str], list[ResolvedRecord]] = {}
    for r in records:
        groups.setdefault((r.name, r.type), []).append(r)
    out = []
    for (name, rtype), rs in groups.items():
        ttls = {r.ttl for r in rs}
        if len(ttls) > 1:  # the loader refuses it first (one line naming both records)
            raise ValueError(f"{name} {rtype}: one TTL per record set, not {sorted(ttls)}")
        out.append(RRset(logical_key(name, rtype), name, rtype, rs[0].ttl, tuple(rs)))
    return out


def absolute(name: str) -> str:
    """A domain name written absolute, as the zone-relative API needs it: ``mailgun.org.``."""
    return name.rstrip(".").lower() + "."


def value(r: ResolvedRecord, content: str) -> str:
    """The record's value as Hetzner holds it; ``content``: the record's content, or for a
    ``host:`` reference the host's address or name."""
    if r.type in ("CNAME", "NS"):
        return absolute(content)
    if r.type == "MX":
        return f"{r.priority} {absolute(content)}"
    if r.type == "SRV":
        return f"{r.priority} {r.weight} {r.port} {absolute(content)}"
    if r.type == "TXT":
        return quoted(content)
    return content  # A, AAAA (canonical already), CAA (`0 issue "letsencrypt.org"`)


def record(r: ResolvedRecord, content: str) -> dict[str, str]:
    """One entry of ``ZoneRrset.records``: the value, and the comment when there is one."""
    entry = {"value": value(r, content)}
    if r.comment:
        entry["comment"] = r.comment
    return entry


def distinct(entries: list[dict[str, str]], where: str) -> list[dict[str, str]]:
    """The entries, refusing two equal values (the API wants them distinct). Values come from
    distinct records, but two ``host:`` records may resolve to one address."""
    seen: set[str] = set()
    for e in entries:
        if e["value"] in seen:
            raise ValueError(f"{where}: the value {e['value']!r} twice; Hetzner keeps each value once")
        seen.add(e["value"])
    return entries


def import_id(zone: str, rrset: RRset) -> str:
    """``ZONE/NAME/TYPE``; ZONE in the form the program's ``zone`` input takes (its name)."""
    return f"{zone}/{rrset.name}/{rrset.type}"
