"""DNS records as data: the stack's records, resolved into the full list the zone gets.

``resolve(cfg)`` turns the stack file into the full list of records the zone gets: the
declared ``dns.records``, the mail authentication records built from ``mail`` (SPF, DMARC,
DKIM, CAA, MTA-STS, TLS-RPT) and the ``migration`` TTLs. Each record has a stable logical
key made of its name, type and a discriminator (the record's ``id:``, or ``spf``, ``dmarc``,
``dkim``... for generated ones), never its content or host, so editing a value or pointing
a name at another host updates the record in place.

Records that point at a host keep the reference symbolic here (``content=None``,
``host="rhizome"``); the Zone component fills in the host's addresses, the zone-file tool
the configured ones. The rules the records must keep are components/dns/checks.py's; how
each DNS provider holds them, components/dns/providers/.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from dataclasses import dataclass, replace

from components.core.stack import StackConfig
from components.dns import mail_auth
from components.dns.models import Record

ADDRESS_TYPES = ("A", "AAAA")
TARGET_TYPES = ("CNAME", "MX", "NS", "SRV")  # the value is a domain name
MAX_TXT_STRING = 255  # bytes per TXT character-string (RFC 1035 §3.3)
CAA_VALUE = re.compile(r'^(0|128) (issue|issuewild|iodef) "([^"\\]*)"$')


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
    def own_content(self) -> str:
        """The content of a record that holds its own: every one but a host reference (which
        only A, AAAA and CNAME records may be), so every MX, TXT, SRV, CAA and NS record."""
        if self.content is None:
            raise ValueError(f"DNS record {self.key} ({self.path}) takes its content from host {self.host}")
        return self.content

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
    for i, k in enumerate(mail.dkim):
        txt(
            mail_auth.dkim_name(k.name, k.selector),
            "dkim",
            mail_auth.dkim(k.public_key, k.key_type),
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


def migration_entry(entry: str) -> tuple[str, str]:
    name, rtype = entry.split(" ")
    return name.lower(), rtype


def resolve(cfg: StackConfig) -> list[ResolvedRecord]:
    """Every record of the stack: declared, then generated; migration TTLs applied."""
    records = [_declared(r, cfg.dns.default_ttl) for r in cfg.dns.records] + mail_records(cfg)
    if cfg.dns.imports:
        records = [replace(r, import_id=r.import_id or cfg.dns.imports.get(r.key)) for r in records]
    if cfg.migration is not None:
        moving = {migration_entry(e) for e in cfg.migration.records}
        records = [
            replace(r, ttl=cfg.migration.ttl) if (r.name, r.type) in moving and not r.proxied else r
            for r in records
        ]
    return records
