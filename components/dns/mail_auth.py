"""Mail authentication builders: typed parameters in, the exact TXT/CAA text out.

Like DNSControl's SPF_BUILDER and DMARC_BUILDER: the stack file names the senders and the
policy, these functions write the record. They are pure (no Pulumi, no DNS); the strings
they return are shown, one by one, in docs/dns.md and tests/test_mail_auth.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from components.core.errors import ConfigError
from components.dns.mail_models import (
    DKIM_KEY,
    DMARC_POLICIES,
    DMARC_URI,
    ISSUER,
    MECHANISM,
    POLICY_ID,
    SPF_ALL,
    URI,
    Sender,
)

# RFC 7208 §4.6.4: these terms make the receiver query DNS; at most 10 per check_host().
DNS_QUERYING = ("include", "a", "mx", "ptr", "exists", "redirect")
MAX_LOOKUPS = 10
NO_MAIL_SPF = "v=spf1 -all"  # RFC 7208 §10.1.2 / M3AAWG: a name that sends no mail


CAA_TAGS = ("issue", "issuewild", "iodef")


def _must(ok: bool, what: str, value: object) -> None:
    """The builders' own guard: a value that would end its term, tag or quoted string (or the
    record) is refused even when a builder is called without the loader's checks."""
    if not ok:
        raise ValueError(f"{value!r} is not {what}: it would break out of its place in the record")


def lookups(sender: Sender) -> int:
    """DNS lookups a sender's mechanism costs: the configured count, at least 1 if it queries."""
    kind = sender.mechanism.split(":", 1)[0].split("/", 1)[0]
    return max(sender.lookups, 1) if kind in DNS_QUERYING else 0


def spf(senders: Sequence[Sender], all: str = "-all", *, source: str = "", path: str = "mail.spf") -> str:
    """``v=spf1 <each sender's mechanism> -all``; refuses more than 10 DNS lookups."""
    for s in senders:
        _must(bool(MECHANISM.fullmatch(s.mechanism)), "one SPF mechanism", s.mechanism)
    _must(all in SPF_ALL, "-all or ~all", all)
    total = sum(lookups(s) for s in senders)
    if total > MAX_LOOKUPS:
        costs = ", ".join(f"{s.name} {lookups(s)}" for s in senders)
        raise ConfigError(
            source,
            f"{path}.senders",
            [s.name for s in senders],
            f"this SPF record needs {total} DNS lookups ({costs}); RFC 7208 section 4.6.4 allows "
            f"at most {MAX_LOOKUPS}: drop a sender or replace an include: by its ip4:/ip6: ranges",
        )
    return " ".join(["v=spf1", *(s.mechanism for s in senders), all])


def dmarc(
    p: str,
    sp: str | None = None,
    pct: int = 100,
    rua: Sequence[str] = (),
    ruf: Sequence[str] = (),
    adkim: str = "r",
    aspf: str = "r",
) -> str:
    """``v=DMARC1; p=...`` with tags in RFC 7489's order.

    ``sp`` only when given (absent, subdomains get ``p``); ``pct`` only when below 100
    (RFC 9989 dropped it); ``adkim``/``aspf`` always, so a reviewer sees the alignment.
    """
    for policy in (p, sp or p):
        _must(policy in DMARC_POLICIES, "a DMARC policy (none, quarantine, reject)", policy)
    _must(type(pct) is int and 0 <= pct <= 100, "a percentage (0-100)", pct)
    for alignment in (adkim, aspf):
        _must(alignment in ("r", "s"), "r or s", alignment)
    for uri in (*rua, *ruf):
        _must(bool(DMARC_URI.fullmatch(uri)), "a DMARC report URI (RFC 7489 section 6.4)", uri)
    tags = [("v", "DMARC1"), ("p", p)]
    if sp is not None:
        tags.append(("sp", sp))
    if pct != 100:
        tags.append(("pct", str(pct)))
    if rua:
        tags.append(("rua", ",".join(rua)))
    if ruf:
        tags.append(("ruf", ",".join(ruf)))
    tags += [("adkim", adkim), ("aspf", aspf)]
    return "; ".join(f"{k}={v}" for k, v in tags)


def dkim(public_key: str, key_type: str = "rsa") -> str:
    """The DKIM key record (RFC 6376 §3.6.1)."""
    _must(bool(DKIM_KEY.fullmatch(public_key)), "base64 key data", public_key)
    _must(key_type in ("rsa", "ed25519"), "rsa or ed25519", key_type)
    return f"v=DKIM1; k={key_type}; p={public_key}"


def under(prefix: str, name: str) -> str:
    """``prefix`` at a zone-relative name: under("_dmarc", "@") == "_dmarc"."""
    return prefix if name == "@" else f"{prefix}.{name}"


def dmarc_name(name: str) -> str:
    return under("_dmarc", name)


def dkim_name(name: str, selector: str) -> str:
    return under(f"{selector}._domainkey", name)


def caa(issuers: Sequence[str], iodef: str, wildcard: bool = False) -> list[tuple[str, str]]:
    """CAA (RFC 8659) as (tag, value) pairs: who may issue, and where to report.

    Without ``wildcard``, ``issuewild ";"`` forbids wildcard certificates from any CA
    (nobody here uses one: certbot and Traefik get one certificate per name)."""
    for i in issuers:
        _must(bool(ISSUER.fullmatch(i)), "a CA's domain name", i)
    _must(bool(URI.fullmatch(iodef)), "a mailto: or https: URI (RFC 8659 section 4.4)", iodef)
    pairs = [("issue", i) for i in issuers]
    if not wildcard:
        pairs.append(("issuewild", ";"))
    return [*pairs, ("iodef", iodef)]


def caa_content(tag: str, value: str, flags: int = 0) -> str:
    """The CAA record in presentation form; the value a character-string without `"` or `\\`."""
    _must(tag in CAA_TAGS, "a CAA tag (issue, issuewild, iodef)", tag)
    _must(flags in (0, 128), "0 or 128", flags)
    _must(value.isascii() and value.isprintable() and not set(value) & set('"\\'), "a CAA value", value)
    return f'{flags} {tag} "{value}"'


def mta_sts(policy_id: str) -> str:
    """``_mta-sts`` TXT (RFC 8461 §3.1); the policy itself is served over HTTPS."""
    _must(bool(POLICY_ID.fullmatch(policy_id)), "1-32 letters and digits", policy_id)
    return f"v=STSv1; id={policy_id}"


def tls_rpt(rua: Sequence[str]) -> str:
    """``_smtp._tls`` TXT (RFC 8460 §3)."""
    for uri in rua:
        _must(bool(URI.fullmatch(uri)), "a TLS-RPT report URI (RFC 8460 section 3)", uri)
    return f"v=TLSRPTv1; rua={','.join(rua)}"
