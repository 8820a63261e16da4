"""Cloudflare: a resolved record as the arguments of one ``cloudflare.DnsRecord`` (pure)."""

from __future__ import annotations

from typing import Any

from components.dns.records import CAA_VALUE, MAX_TXT_STRING, ResolvedRecord, fqdn, quoted


def caa_data(content: str) -> dict[str, Any]:
    m = CAA_VALUE.match(content)
    if m is None:  # the record checks refuse it first (components/dns/checks.py)
        raise ValueError(f"not a CAA value: {content!r}")
    flags, tag, value = m.groups()
    return {"flags": int(flags), "tag": tag, "value": value}


def cloudflare_fields(r: ResolvedRecord, domain: str) -> dict[str, Any]:
    """The ``cloudflare.DnsRecord`` arguments of a record (without zone_id; without
    content for host references, which the Zone fills in).

    Cloudflare wants the FULL name; SRV and CAA as structured ``data``; MX priority at
    the top level. TXT content: text of up to 255 bytes is passed as-is (how records made
    in the dashboard are stored, so importing them shows no diff); longer text is passed
    as quoted character-strings of at most 255 bytes each, the form Cloudflare's API
    documents for TXT (it would split an unquoted long string itself, at a boundary we
    would not see in review).
    """
    fields: dict[str, Any] = {
        "name": fqdn(r.name, domain),
        "type": r.type,
        "ttl": r.ttl,
        "proxied": r.proxied,
    }
    if r.comment:
        fields["comment"] = r.comment
    if r.type == "SRV":
        fields["priority"] = r.priority
        fields["data"] = {"priority": r.priority, "weight": r.weight, "port": r.port, "target": r.content}
    elif r.type == "CAA":
        fields["data"] = caa_data(r.own_content)
    elif r.type == "TXT":
        text = r.own_content
        fields["content"] = text if len(text.encode()) <= MAX_TXT_STRING else quoted(text)
    elif r.content is not None:
        fields["content"] = r.content
    if r.type == "MX":
        fields["priority"] = r.priority
    return fields
