"""The zone as each DNS provider would serve it, rendered from the offline plan's resource inputs
(not from the stack's record list), for tests/test_dns_hetzner.py and tests/test_dns_parity.py.

- ``cloudflare_zone``: from the ``cloudflare.DnsRecord`` inputs, with Cloudflare's reading of
  them: the full name, content that is an absolute name without its dot, MX priority and SRV/CAA
  ``data`` apart, TXT content either quoted character-strings or plain text (one string; Cloudflare
  splits longer plain text every 255 bytes), TTL 1 meaning 300 ("automatic").
- ``hetzner_zone``: from the ``hcloud.ZoneRrset`` inputs, each value written *verbatim* under
  ``$ORIGIN <zone>.`` with the name as given: Hetzner reads values and names relative to the zone,
  and so does a zone file, so a missing trailing dot or a name written with the zone's suffix shows
  up here exactly as Hetzner would serve it.
- ``hetzner_refusals``: what the Hetzner API refuses and a DNS server would not notice (Knot
  splits a 300-byte TXT string silently and keeps one TTL for a set): each TXT character-string
  at most 255 bytes, TTL 60 to 2147483647, names lower case without a trailing dot or the zone's
  suffix, no SOA or apex NS, distinct values, only the API's record types.

Both zones get a made-up SOA and apex NS (each provider has its own: never compared).
"""

from __future__ import annotations

RECORD = "cloudflare:index/dnsRecord:DnsRecord"
ZONE = "hcloud:index/zone:Zone"
RRSET = "hcloud:index/zoneRrset:ZoneRrset"
HETZNER_TYPES = {
    *("A", "AAAA", "CAA", "CNAME", "DS", "HINFO", "HTTPS", "MX"),
    *("NS", "PTR", "RP", "SOA", "SRV", "SVCB", "TLSA", "TXT"),
}


def apex(domain: str, ns: str) -> list[str]:
    return [
        f"$ORIGIN {domain}.",
        "$TTL 3600",
        f"@ 3600 IN SOA {ns} hostmaster.{domain}. 1 3600 900 1209600 300",
        f"@ 3600 IN NS {ns}",
    ]


def _escaped(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plain_txt(content: str) -> str:
    """Plain TXT content as Cloudflare serves it: one string, split every 255 bytes."""
    data = content.encode()
    chunks = [data[i : i + 255].decode() for i in range(0, len(data), 255)] or [""]
    return " ".join(_escaped(c) for c in chunks)


def number(value) -> int:
    return int(value)  # the plan's numbers come back from the engine as floats


def cloudflare_rdata(i: dict) -> str:
    t = i["type"]
    if t in ("CNAME", "NS"):
        return f"{i['content']}."
    if t == "MX":
        return f"{number(i['priority'])} {i['content']}."
    if t == "SRV":
        d = i["data"]
        return f"{number(d['priority'])} {number(d['weight'])} {number(d['port'])} {d['target']}."
    if t == "CAA":
        d = i["data"]
        return f"{number(d['flags'])} {d['tag']} {_escaped(d['value'])}"
    if t == "TXT":
        return i["content"] if i["content"].startswith('"') else _plain_txt(i["content"])
    return i["content"]


def cloudflare_zone(resources, domain: str) -> str:
    lines = apex(domain, "ada.ns.cloudflare.com.")
    for r in resources:
        if r.type == RECORD:
            i = r.inputs
            ttl = 300 if number(i["ttl"]) == 1 else number(i["ttl"])
            lines.append(f"{i['name']}. {ttl} IN {i['type']} {cloudflare_rdata(i)}")
    return "\n".join(lines) + "\n"


def hetzner_zone(resources, domain: str) -> str:
    """Every record set's values verbatim, under the zone its ``zone`` input names."""
    zones = {r.inputs["zone"] for r in resources if r.type == RRSET} or {domain}
    assert len(zones) == 1, f"record sets in several zones: {sorted(zones)}"
    lines = apex(zones.pop(), "hydrogen.ns.hetzner.com.")
    for r in resources:
        if r.type == RRSET:
            i = r.inputs
            ttl = number(i["ttl"]) if i.get("ttl") is not None else 3600
            lines += [f"{i['name']} {ttl} IN {i['type']} {rec['value']}" for rec in i["records"]]
    return "\n".join(lines) + "\n"


def txt_strings(value: str) -> list[bytes]:
    """The character-strings of a TXT value in presentation form, unescaped (RFC 1035 §5.1)."""
    out, i, n = [], 0, len(value)
    while i < n:
        if value[i] == " ":
            i += 1
            continue
        quoted = value[i] == '"'
        i += quoted
        chunk = bytearray()
        while i < n and (value[i] != '"' if quoted else value[i] != " "):
            if value[i] == "\\" and value[i + 1 : i + 4].isdigit():
                chunk.append(int(value[i + 1 : i + 4]))
                i += 4
            elif value[i] == "\\":
                chunk += value[i + 1].encode()
                i += 2
            else:
                chunk += value[i].encode()
                i += 1
        i += quoted
        out.append(bytes(chunk))
    return out


def hetzner_refusals(resources, domain: str) -> list[str]:
    """What the Hetzner API would answer 422 (or 409) to, one line each."""
    out = []
    for r in resources:
        if r.type != RRSET:
            continue
        i = r.inputs
        where = f"{r.name} ({i.get('name')} {i['type']})"
        name, ttl, values = i.get("name"), i.get("ttl"), [rec["value"] for rec in i["records"]]
        if not name or name != name.lower() or name.endswith(".") or name.endswith(domain):
            out.append(f"{where}: the name must be '@' or relative, lower case, without a dot at the end")
        if i["type"] not in HETZNER_TYPES or i["type"] == "SOA" or (i["type"] == "NS" and name == "@"):
            out.append(f"{where}: not a record set a zone may declare")
        if ttl is not None and not 60 <= number(ttl) <= 2147483647:
            out.append(f"{where}: TTL {ttl}; the API takes 60 to 2147483647")
        if len(set(values)) != len(values) or not values:
            out.append(f"{where}: values must be distinct, at least one")
        if any(rec.get("comment") == "" for rec in i["records"]):
            out.append(f"{where}: an empty comment (the API answers null: a diff forever)")
        for v in values if i["type"] == "TXT" else ():
            long = [len(s) for s in txt_strings(v) if len(s) > 255]
            if long:
                out.append(f"{where}: a TXT string of {long[0]} bytes; the API takes at most 255")
    return out
