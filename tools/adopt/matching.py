"""Matching the stack's DNS records with Cloudflare's, by full name, type and content: each
record's import ID, or why it has none (the command: tools/adopt/import_ids.py)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.rdata
import yaml

from components.core import boundary
from components.core.errors import REPO_ROOT
from components.core.stack import StackConfig
from components.dns.records import CAA_VALUE, ResolvedRecord, fqdn, relative, resolve
from tools.adopt.cloudflare_api import ImportIdsError
from tools.review.zonefile import host_content

# --------------------------------------------------------------------------- matching

ZONE_COMPONENT = "social-coop"  # the Zone's name in __main__.py: its records are social-coop-<key>
NEW_IN_PROD = REPO_ROOT / "data" / "new-in-prod.yaml"


def load_new_in_prod(path: Path = NEW_IN_PROD) -> dict[str, dict]:
    """data/new-in-prod.yaml by resource name: the prod resources that are created, not imported."""
    return {entry["name"]: entry for entry in yaml.safe_load(path.read_text()) or []}


def undecided(resources: list, new: dict[str, dict]) -> list[str]:
    """Names of the plan's cloud resources with neither an import ID nor an entry in ``new``;
    an entry naming a component covers everything under it (e.g. a new provider's zone). An
    explicit provider (``pulumi:providers:*``) is no cloud object: nothing to import."""
    parent = {r.name: r.parent for r in resources}

    def listed(name: str | None) -> bool:
        while name is not None:
            if name in new:
                return True
            name = parent.get(name)
        return False

    return [
        r.name
        for r in resources
        if r.custom
        and not r.type.startswith("pulumi:providers:")
        and not r.options.get("import")
        and not listed(r.name)
    ]


def _target(name: str) -> str:
    return name.rstrip(".").lower()


def txt_text(content: str) -> str:
    """TXT content as Cloudflare stores it, either as typed (``v=spf1 ...``) or as quoted
    character-strings (``"first 255 bytes" "the rest"``): the text itself."""
    content = content.strip()
    if not content.startswith('"'):
        return content
    try:
        rd: Any = dns.rdata.from_text("IN", "TXT", content)  # a TXT rdata: its .strings
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
        m = CAA_VALUE.match(content)
        value = (int(m.group(1)), m.group(2), m.group(3)) if m else content
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
