"""The rules DNS records keep, checked before anything is registered (docs/dns.md).

``check(cfg)`` runs every rule on the declared records and on everything ``resolve(cfg)``
makes of the stack file (the generated mail records too), and raises one ConfigError naming
the key path, the value and the rule for the first that breaks.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from components.core import boundary, values
from components.core.errors import ConfigError
from components.core.stack import StackConfig
from components.core.values import DNS_LABEL
from components.dns.models import Record
from components.dns.providers import hetzner
from components.dns.records import (
    ADDRESS_TYPES,
    CAA_VALUE,
    TARGET_TYPES,
    ResolvedRecord,
    at_or_under,
    fqdn,
    migration_entry,
    no_mail_names,
    relative,
    resolve,
)

PROXIABLE = ("A", "AAAA", "CNAME")
PROVIDER_NAMES = {"cloudflare": "Cloudflare", "hetzner": hetzner.NAME}
MAX_TXT = 2048  # Cloudflare's limit for a TXT record's content
TXT_TEXT = re.compile(r"^[\x20-\x7e]*$")
SRV_NAME = re.compile(r"^_[a-z0-9-]+\._(tcp|udp|tls)(\.|$)", re.IGNORECASE | re.ASCII)


def check(cfg: StackConfig) -> None:
    """Raise ConfigError for the first record that breaks a rule (see docs/dns.md)."""

    def fail(path: str, value: Any, allowed: str) -> ConfigError:
        return ConfigError(cfg.source, path, value, allowed)

    for r in cfg.dns.records:
        _check_declared(cfg, r, fail)
    records = resolve(cfg)
    _check_generated_txt(records, fail)
    _check_providers(cfg, records, fail)
    _check_ownership(cfg, records, fail)
    _check_together(cfg, records, fail)
    _check_mail(cfg, records, fail)
    _check_migration(cfg, records, fail)
    _check_imports(cfg, records, fail)


def _check_declared(cfg: StackConfig, r: Record, fail) -> None:
    """Rules about one declared record on its own."""
    domain = cfg.domain
    name = r.name.lower()
    if r.host is not None and r.host not in cfg.hosts:
        raise fail(
            f"{r.path}.host", r.host, f"not a host in hosts; known: {', '.join(cfg.hosts) or '(none)'}"
        )
    if name != "@" and (at_or_under(name, domain) or name.endswith(f".{domain}.")):
        short = relative(name, domain)
        raise fail(r.path, r.name, f"names are relative to the zone {domain}: write {short!r} instead")
    if len(fqdn(name, domain)) > 253:
        raise fail(r.path, r.name, "a full name may be at most 253 characters")
    if r.type == "CNAME" and name == "@":
        raise fail(
            r.path, r.name, "no CNAME at the apex (RFC 1034 §3.6.2: the apex has SOA and NS); use A/AAAA"
        )
    if r.type == "NS" and name == "@":
        owners = " and ".join(f"{PROVIDER_NAMES[p]}'s" for p in cfg.dns.providers)
        raise fail(r.path, r.name, f"the apex NS records are {owners}; NS is only for delegating a subdomain")
    if r.type == "SRV" and not SRV_NAME.match(name):
        raise fail(r.path, r.name, "an SRV name starts with _service._proto, e.g. _imaps._tcp")
    if r.proxied and r.type not in PROXIABLE:
        raise fail(f"{r.path}.proxied", True, "proxied is only for A, AAAA and CNAME records")
    if r.proxied and r.ttl not in (None, 1):
        raise fail(f"{r.path}.ttl", r.ttl, "a proxied record's TTL is automatic: use 1 or leave ttl out")
    _check_fields(r, fail)
    _check_value(cfg, r, fail)


def _check_fields(r: Record, fail) -> None:
    """priority (MX, SRV), weight and port (SRV) present where needed, absent elsewhere."""
    needs = {"MX": ("priority",), "SRV": ("priority", "weight", "port")}.get(r.type, ())
    for field in ("priority", "weight", "port"):
        value = getattr(r, field)
        if field in needs and value is None:
            raise fail(f"{r.path}.{field}", None, f"required for {r.type} records")
        if field not in needs and value is not None:
            where = "MX and SRV" if field == "priority" else "SRV"
            raise fail(f"{r.path}.{field}", value, f"{field} is only for {where} records")


def _check_value(cfg: StackConfig, r: Record, fail) -> None:
    if r.host is not None:
        host = cfg.hosts[r.host]
        if r.type == "AAAA" and host.vps is not None and host.vps.ipv6 is None:
            raise fail(
                f"{r.path}.host", r.host, f"host {r.host} has no IPv6 address (hosts.{r.host}.vps.ipv6)"
            )
        return
    path, v = f"{r.path}.value", r.value
    assert v is not None, "a record has a value or a host (Record._one_source)"
    if r.type in ADDRESS_TYPES:
        version = 4 if r.type == "A" else 6
        problem = values.address_problem(v, version)
        if problem:
            raise fail(path, v, f"an {r.type} record: {problem}")
    elif r.type in TARGET_TYPES:
        labels = v.rstrip(".").split(".")
        if not v.rstrip(".") or len(labels) < 2 or not all(DNS_LABEL.fullmatch(x) for x in labels):
            raise fail(path, v, f"a {r.type} record points at a full domain name, e.g. mail.example.org")
        if values.looks_like_address(v):
            raise fail(
                path,
                v,
                f"a {r.type} record points at a domain name, not an address; use A/AAAA for addresses",
            )
    elif r.type == "TXT":
        if not TXT_TEXT.match(v) or '"' in v or "\\" in v:
            raise fail(
                path,
                v,
                "TXT text is printable ASCII without quotes or backslashes; write the text itself "
                "(long text is split into 255-byte strings for you)",
            )
        if len(v.encode()) > MAX_TXT:
            raise fail(path, v, f"TXT text may be at most {MAX_TXT} characters (Cloudflare's limit)")
    elif r.type == "CAA" and not CAA_VALUE.match(v):
        raise fail(path, v, 'a CAA value like 0 issue "letsencrypt.org" (tags: issue, issuewild, iodef)')


def _check_providers(cfg: StackConfig, records: list[ResolvedRecord], fail) -> None:
    """What each listed provider can hold (dns.providers): Cloudflare takes every record the
    models allow; Hetzner (components/dns/providers/hetzner.py) no proxy, no TTL under 60, one
    TTL per name and type, only its record types, and never the zone's SOA or apex NS."""
    dns = cfg.dns
    if dns.zone_id is None:  # Cloudflare is not listed (the model requires the ID when it is)
        for r in dns.records:
            if r.import_id is not None:
                raise fail(
                    f"{r.path}.import_id",
                    r.import_id,
                    "a Cloudflare import ID, but there is no dns.zone_id (cloudflare is not in dns.providers): remove it",
                )
        for k, v in dns.imports.items():
            raise fail(
                f"dns.imports.{k}",
                v,
                "a Cloudflare import ID, but there is no dns.zone_id (cloudflare is not in dns.providers): remove it",
            )
    if "hetzner" not in dns.providers:
        return
    if dns.hetzner is not None and dns.hetzner.adopt and cfg.environment != boundary.ZONE_OWNER:
        raise fail(
            "dns.hetzner.adopt",
            True,
            "only prod imports existing resources; alpha creates (and destroys) its own: remove it",
        )
    floor = f"at least {hetzner.MIN_TTL} while hetzner is in dns.providers (Hetzner's lowest TTL)"
    if dns.default_ttl < hetzner.MIN_TTL:
        raise fail("dns.default_ttl", dns.default_ttl, floor)
    if cfg.migration is not None and cfg.migration.ttl < hetzner.MIN_TTL:
        raise fail("migration.ttl", cfg.migration.ttl, floor)
    for declared in dns.records:
        if declared.proxied:
            raise fail(
                f"{declared.path}.proxied",
                True,
                "Hetzner has no proxy (nor an automatic TTL): remove proxied while hetzner is in dns.providers",
            )
        if declared.ttl is not None and declared.ttl < hetzner.MIN_TTL:
            raise fail(f"{declared.path}.ttl", declared.ttl, floor)
    first: dict[tuple[str, str], ResolvedRecord] = {}
    for rec in records:
        if rec.type not in hetzner.TYPES or rec.type in hetzner.OWN:
            held = ", ".join(t for t in hetzner.TYPES if t not in hetzner.OWN)
            raise fail(rec.path, rec.type, f"Hetzner DNS holds {held}; not {rec.type}")
        if rec.ttl < hetzner.MIN_TTL:
            raise fail(rec.path, rec.ttl, floor)
        other = first.setdefault((rec.name, rec.type), rec)
        if other.ttl != rec.ttl:
            raise fail(
                rec.path,
                rec.ttl,
                f"Hetzner keeps one TTL per name and type, and {fqdn(rec.name, cfg.domain)} {rec.type} "
                f"from {other.path} has {other.ttl}: give them the same ttl",
            )


def _check_generated_txt(records: list[ResolvedRecord], fail) -> None:
    """SPF, DMARC, DKIM... text built from the mail section fits Cloudflare's TXT limit too."""
    for r in records:
        if r.type == "TXT" and len(r.own_content.encode()) > MAX_TXT:
            size = len(r.own_content.encode())
            raise fail(r.path, r.content, f"makes a TXT record of {size} bytes; at most {MAX_TXT}")


def _check_ownership(cfg: StackConfig, records: list[ResolvedRecord], fail) -> None:
    """Each stack's names only (components/core/boundary.py); generated records too."""
    if cfg.environment != "prod" and cfg.dns.self_hosting is not None:
        raise fail(
            "dns.self_hosting",
            list(cfg.dns.self_hosting.nameservers),
            f"the SOA and apex NS of {cfg.domain} belong to the stack that owns the apex (prod); remove it here",
        )
    theirs = boundary.claims(boundary.other(cfg.environment))
    for r in records:
        name = fqdn(r.name, cfg.domain)
        problem = boundary.name_problem(cfg.environment, name, theirs)
        if problem:
            raise fail(r.path, name, problem)


def _check_together(cfg: StackConfig, records: list[ResolvedRecord], fail) -> None:
    """Rules across records: CNAME alone, no duplicates, unique logical keys."""
    by_name: dict[str, list[ResolvedRecord]] = {}
    keys: dict[str, ResolvedRecord] = {}
    seen: dict[tuple, ResolvedRecord] = {}
    for r in records:
        by_name.setdefault(r.name, []).append(r)
        value = _known_value(cfg, r)
        value = value.lower() if r.type in TARGET_TYPES + ADDRESS_TYPES else value
        same = (r.name, r.type, value, r.priority, r.weight, r.port)
        if same in seen:
            raise fail(
                r.path,
                r.value,
                f"the same {r.type} record at {fqdn(r.name, cfg.domain)} is already declared "
                f"({seen[same].path}); remove one",
            )
        seen[same] = r
        if r.key in keys:
            raise fail(
                r.path,
                r.value,
                f"{fqdn(r.name, cfg.domain)} has two {r.type} records with the logical name {r.key!r} "
                f"(the other: {keys[r.key].path}); give each a different id:, e.g. id: mx1",
            )
        keys[r.key] = r
    for name, rs in by_name.items():
        cnames = [r for r in rs if r.type == "CNAME"]
        if cnames and len(rs) > 1:
            other = next(r for r in rs if r is not cnames[0])
            raise fail(
                cnames[0].path,
                cnames[0].value,
                f"a CNAME must be the only record at its name (RFC 1034 §3.6.2), but "
                f"{fqdn(name, cfg.domain)} also has {other.type} from {other.path}",
            )


def _known_value(cfg: StackConfig, r: ResolvedRecord) -> str:
    """The content, a ``host:`` reference resolved where the config knows it (a VPS's address,
    any host's name): one address written twice at a name is a duplicate however it is written."""
    host = cfg.hosts.get(r.host) if r.host is not None else None
    if host is None:
        return r.value
    if r.type == "CNAME":
        return host.fqdn
    known = host.vps.ipv4 if r.type == "A" and host.vps else host.vps.ipv6 if host.vps else None
    return str(ipaddress.ip_address(known)) if known else r.value


def _mail_names(cfg: StackConfig, records: list[ResolvedRecord]) -> set[str]:
    """Names mail depends on: MX names and in-zone MX targets, SPF names, DKIM/DMARC domains."""
    names = set()
    for r in records:
        if r.type == "MX":
            names.add(r.name)
            target = relative(r.own_content, cfg.domain)
            if target is not None:
                names.add(target)
        if r.type == "TXT" and r.own_content.startswith(("v=spf1", "v=DMARC1", "v=DKIM1")):
            names.add(r.name)
    if cfg.mail is not None:
        names |= {d.name for d in cfg.mail.dkim} | {d.name for d in cfg.mail.dmarc}
    return names


def _check_mail(cfg: StackConfig, records: list[ResolvedRecord], fail) -> None:
    """Proxy never on SSH or mail names; one SPF and one DMARC per name; no-mail names covered."""
    ssh = {relative(h.fqdn, cfg.domain) for h in cfg.hosts.values()}
    mail = _mail_names(cfg, records)
    for r in records:
        if r.proxied and r.name in ssh:
            raise fail(
                f"{r.path}.proxied",
                True,
                f"{fqdn(r.name, cfg.domain)} is a host name used for SSH; Cloudflare's proxy only passes HTTP(S)",
            )
        if r.proxied and r.name in mail:
            raise fail(
                f"{r.path}.proxied",
                True,
                f"{fqdn(r.name, cfg.domain)} is used for mail (MX, SPF, DKIM or DMARC); mail cannot go through Cloudflare's proxy",
            )
    for prefix, what in (("v=spf1", "an SPF (RFC 7208 §4.5)"), ("v=DMARC1", "a DMARC (RFC 7489 §6.6.3)")):
        first: dict[str, ResolvedRecord] = {}
        for r in records:
            if r.type == "TXT" and r.own_content.startswith(prefix):
                if r.name in first:
                    raise fail(
                        r.path,
                        r.content,
                        f"{fqdn(r.name, cfg.domain)} already has {what} record from "
                        f"{first[r.name].path}; a second one makes both invalid",
                    )
                first[r.name] = r
    policies = {d.name for d in cfg.mail.dmarc} if cfg.mail else set()
    for name, path in no_mail_names(cfg):
        if name not in policies and "@" not in policies:
            raise fail(
                path,
                name,
                f"a name that sends no mail needs a DMARC policy as well: add {{name: {name}, p: reject}} "
                "to mail.dmarc (or a policy at '@', whose sp= covers subdomains)",
            )


def _check_migration(cfg: StackConfig, records: list[ResolvedRecord], fail) -> None:
    if cfg.migration is None:
        return
    existing = {(r.name, r.type) for r in records}
    for i, entry in enumerate(cfg.migration.records):
        if migration_entry(entry) not in existing:
            raise fail(
                f"migration.records[{i}]",
                entry,
                "names no record of this stack: write '<name> <TYPE>' of a record in dns.records, e.g. '@ A'",
            )


def _check_imports(cfg: StackConfig, records: list[ResolvedRecord], fail) -> None:
    """Import IDs: in this zone, and each ``dns.imports`` key names one record that has no other."""
    keys = {r.key: r for r in records}
    for r in cfg.dns.records:
        if r.import_id is not None and not r.import_id.startswith(f"{cfg.dns.zone_id}/"):
            raise fail(
                f"{r.path}.import_id", r.import_id, f"must start with this zone's ID: {cfg.dns.zone_id}/"
            )
    for k, import_id in cfg.dns.imports.items():
        path = f"dns.imports.{k}"
        if k not in keys:
            raise fail(
                path,
                import_id,
                f"no record has the logical key {values.shown_name(k)!r}; keys: {', '.join(keys)}",
            )
        declared = next((r for r in cfg.dns.records if r.path == keys[k].path), None)
        if declared is not None and declared.import_id is not None:
            raise fail(path, import_id, f"{declared.path} already has import_id; give it in one place")
        if not import_id.startswith(f"{cfg.dns.zone_id}/"):
            raise fail(path, import_id, f"must start with this zone's ID: {cfg.dns.zone_id}/")
