"""DNS records as data: resolve the stack's records and check them before anything is registered.

``resolve(cfg)`` turns the stack file into the full list of records the zone gets: the
declared ``dns.records``, the mail authentication records built from ``mail`` (SPF, DMARC,
DKIM, CAA, MTA-STS, TLS-RPT) and the ``migration`` TTLs. Each record has a stable logical
key made of its name, type and a discriminator (the record's ``id:``, or ``spf``, ``dmarc``,
``dkim``... for generated ones), never its content or host, so editing a value or pointing
a name at another host updates the record in place.

Records that point at a host keep the reference symbolic here (``content=None``,
``host="rhizome"``); the Zone component fills in the host's addresses, the zone-file tool
the configured ones. ``check(cfg)`` enforces every rule in docs/dns.md with one
ConfigError naming the key path, the value and the rule.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from dataclasses import dataclass, replace
from typing import Any

from components.core import boundary, values
from components.core.errors import ConfigError
from components.core.stack import StackConfig
from components.core.values import DNS_LABEL
from components.dns import mail_auth
from components.dns.models import Record

ADDRESS_TYPES = ("A", "AAAA")
PROXIABLE = ("A", "AAAA", "CNAME")
TARGET_TYPES = ("CNAME", "MX", "NS", "SRV")  # the value is a domain name
MAX_TXT_STRING = 255  # bytes per TXT character-string (RFC 1035 §3.3)
MAX_TXT = 2048  # Cloudflare's limit for a TXT record's content
TXT_TEXT = re.compile(r"^[\x20-\x7e]*$")
CAA_VALUE = re.compile(r'^(0|128) (issue|issuewild|iodef) "([^"\\]*)"$')
SRV_NAME = re.compile(r"^_[a-z0-9-]+\._(tcp|udp|tls)(\.|$)", re.IGNORECASE | re.ASCII)


@dataclass(frozen=True)
class ResolvedRecord:
    """One record as the zone will hold it."""

    key: str  # stable logical key, e.g. "apex-a", "mg-mx-mxa", "_dmarc-txt-dmarc"
    name: str  # relative to the zone, "@" for the apex
    type: str
    content: str | None  # None: the address / fqdn of ``host``
    host: str | None = None
    ttl: int = 3600
    proxied: bool = False
    priority: int | None = None  # MX, SRV
    weight: int | None = None  # SRV
    port: int | None = None  # SRV
    comment: str | None = None
    import_id: str | None = None
    path: str = ""  # where it comes from in the stack file, for messages

    @property
    def value(self) -> str:
        """The content, or the host reference, for messages and duplicate checks."""
        return self.content if self.content is not None else f"host:{self.host}"


def logical_key(name: str, rtype: str, discriminator: str | None = None) -> str:
    label = "apex" if name == "@" else name
    return f"{label}-{rtype.lower()}" + (f"-{discriminator}" if discriminator else "")


def fqdn(name: str, domain: str) -> str:
    return domain if name == "@" else f"{name}.{domain}"


def relative(full: str, domain: str) -> str | None:
    """The zone-relative name of ``full``, or None if it is outside the zone."""
    full = full.rstrip(".").lower()
    if full == domain:
        return "@"
    return full[: -len(domain) - 1] if full.endswith(f".{domain}") else None


def at_or_under(name: str, sub: str) -> bool:
    return name == sub or name.endswith(f".{sub}")


# --------------------------------------------------------------------------- TXT strings


def txt_strings(text: str) -> list[str]:
    """Split TXT text into character-strings of at most 255 bytes (RFC 1035 §3.3)."""
    data = text.encode()
    return [data[i : i + MAX_TXT_STRING].decode() for i in range(0, len(data), MAX_TXT_STRING)] or [""]


def quoted(text: str) -> str:
    """The presentation form: ``"first 255 bytes" "next..."`` (zone files, Cloudflare), each
    string escaped as RFC 1035 section 5.1 says: ``\\"`` and ``\\\\`` for a quote and a
    backslash, ``\\DDD`` for a byte that is not printable ASCII. The loader refuses such text
    in a record; this keeps a zone file whole whatever reaches it."""
    data = text.encode()
    chunks = [data[i : i + MAX_TXT_STRING] for i in range(0, len(data), MAX_TXT_STRING)] or [b""]
    return " ".join(f'"{_escaped(c)}"' for c in chunks)


def _escaped(chunk: bytes) -> str:
    return "".join(
        "\\" + chr(b) if b in b'"\\' else chr(b) if 0x20 <= b < 0x7F else f"\\{b:03d}" for b in chunk
    )


# --------------------------------------------------------------------------- resolve


def _declared(r: Record, default_ttl: int) -> ResolvedRecord:
    content = r.value
    if content is not None and r.type in ADDRESS_TYPES:
        with contextlib.suppress(ValueError):  # check() reports it
            content = str(ipaddress.ip_address(content))
    if content is not None and r.type in TARGET_TYPES:
        content = content.rstrip(".").lower()
    return ResolvedRecord(
        key=logical_key(r.name.lower(), r.type, r.id),
        name=r.name.lower(),
        type=r.type,
        content=content,
        host=r.host,
        ttl=1 if r.proxied else (r.ttl or default_ttl),
        proxied=r.proxied,
        priority=r.priority,
        weight=r.weight,
        port=r.port,
        comment=r.comment,
        import_id=r.import_id,
        path=r.path,
    )


def no_mail_names(cfg: StackConfig) -> list[tuple[str, str]]:
    """(name, config path) of every name that sends no mail: ``v=spf1 -all``."""
    mail = cfg.mail
    if mail is None:
        return []
    with_spf = {s.name for s in mail.spf}
    names: dict[str, str] = {}
    if mail.no_mail_hosts:
        for h in cfg.hosts.values():
            name = relative(h.fqdn, cfg.domain)
            if name is not None and name not in with_spf:
                names.setdefault(name, "mail.no_mail_hosts")
    for i, name in enumerate(mail.no_mail):
        names[name.lower()] = f"mail.no_mail[{i}]"
    return list(names.items())


def mail_records(cfg: StackConfig) -> list[ResolvedRecord]:
    """The records the mail builders produce for this stack."""
    mail, ttl = cfg.mail, cfg.dns.default_ttl
    if mail is None:
        return []
    out = []

    def txt(name: str, disc: str, text: str, path: str) -> None:
        out.append(ResolvedRecord(logical_key(name, "TXT", disc), name, "TXT", text, ttl=ttl, path=path))

    for i, s in enumerate(mail.spf):
        senders = [mail.senders[n] for n in s.senders]
        txt(
            s.name,
            "spf",
            mail_auth.spf(senders, s.all, source=cfg.source, path=f"mail.spf[{i}]"),
            f"mail.spf[{i}]",
        )
    for name, path in no_mail_names(cfg):
        txt(name, "spf", mail_auth.NO_MAIL_SPF, path)
    for i, d in enumerate(mail.dmarc):
        text = mail_auth.dmarc(d.p, d.sp, d.pct, d.rua, d.ruf, d.adkim, d.aspf)
        txt(mail_auth.dmarc_name(d.name), "dmarc", text, f"mail.dmarc[{i}]")
    for i, d in enumerate(mail.dkim):
        txt(
            mail_auth.dkim_name(d.name, d.selector),
            "dkim",
            mail_auth.dkim(d.public_key, d.key_type),
            f"mail.dkim[{i}]",
        )
    if mail.caa is not None:
        for tag, value in mail_auth.caa(mail.caa.issuers, mail.caa.iodef, mail.caa.wildcard):
            disc = tag if tag != "issue" else f"issue-{value.replace('.', '-')}"
            content = mail_auth.caa_content(tag, value)
            out.append(
                ResolvedRecord(logical_key("@", "CAA", disc), "@", "CAA", content, ttl=ttl, path="mail.caa")
            )
    if mail.mta_sts is not None:
        txt("_mta-sts", "mta-sts", mail_auth.mta_sts(mail.mta_sts.policy_id), "mail.mta_sts")
        if mail.mta_sts.tlsrpt_rua:
            txt(
                "_smtp._tls", "tls-rpt", mail_auth.tls_rpt(mail.mta_sts.tlsrpt_rua), "mail.mta_sts.tlsrpt_rua"
            )
    return out


def _migration_entry(entry: str) -> tuple[str, str]:
    name, rtype = entry.split(" ")
    return name.lower(), rtype


def resolve(cfg: StackConfig) -> list[ResolvedRecord]:
    """Every record of the stack: declared, then generated; migration TTLs applied."""
    records = [_declared(r, cfg.dns.default_ttl) for r in cfg.dns.records] + mail_records(cfg)
    if cfg.dns.imports:
        records = [replace(r, import_id=r.import_id or cfg.dns.imports.get(r.key)) for r in records]
    if cfg.migration is not None:
        moving = {_migration_entry(e) for e in cfg.migration.records}
        records = [
            replace(r, ttl=cfg.migration.ttl) if (r.name, r.type) in moving and not r.proxied else r
            for r in records
        ]
    return records


# --------------------------------------------------------------------------- Cloudflare


def caa_data(content: str) -> dict[str, Any]:
    flags, tag, value = CAA_VALUE.match(content).groups()
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
        fields["data"] = caa_data(r.content)
    elif r.type == "TXT":
        fields["content"] = r.content if len(r.content.encode()) <= MAX_TXT_STRING else quoted(r.content)
    elif r.content is not None:
        fields["content"] = r.content
    if r.type == "MX":
        fields["priority"] = r.priority
    return fields


# --------------------------------------------------------------------------- check


def check(cfg: StackConfig) -> None:
    """Raise ConfigError for the first record that breaks a rule (see docs/dns.md)."""

    def fail(path: str, value: Any, allowed: str) -> ConfigError:
        return ConfigError(cfg.source, path, value, allowed)

    for r in cfg.dns.records:
        _check_declared(cfg, r, fail)
    records = resolve(cfg)
    _check_generated_txt(records, fail)
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
        raise fail(
            r.path, r.name, "the apex NS records are Cloudflare's; NS is only for delegating a subdomain"
        )
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
    path, v = f"{r.path}.value", r.value
    if r.host is not None:
        host = cfg.hosts[r.host]
        if r.type == "AAAA" and host.vps is not None and host.vps.ipv6 is None:
            raise fail(
                f"{r.path}.host", r.host, f"host {r.host} has no IPv6 address (hosts.{r.host}.vps.ipv6)"
            )
        return
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


def _check_generated_txt(records: list[ResolvedRecord], fail) -> None:
    """SPF, DMARC, DKIM... text built from the mail section fits Cloudflare's TXT limit too."""
    for r in records:
        if r.type == "TXT" and len(r.content.encode()) > MAX_TXT:
            raise fail(
                r.path, r.content, f"makes a TXT record of {len(r.content.encode())} bytes; at most {MAX_TXT}"
            )


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
        value = r.value.lower() if r.type in TARGET_TYPES + ADDRESS_TYPES else r.value
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


def _mail_names(cfg: StackConfig, records: list[ResolvedRecord]) -> set[str]:
    """Names mail depends on: MX names and in-zone MX targets, SPF names, DKIM/DMARC domains."""
    names = set()
    for r in records:
        if r.type == "MX":
            names.add(r.name)
            target = relative(r.content, cfg.domain)
            if target is not None:
                names.add(target)
        if r.type == "TXT" and r.content.startswith(("v=spf1", "v=DMARC1", "v=DKIM1")):
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
            if r.type == "TXT" and r.content.startswith(prefix):
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
        if _migration_entry(entry) not in existing:
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
