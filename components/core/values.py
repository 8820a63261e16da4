"""Rules for single values, shared by the loader's sections: public addresses, printable
text, SSH public keys, domain names and how a value is shown in an error message.

Each ``*_problem`` function returns None for a good value, or the "allowed" part of the
one-line error for a bad one. Pure: no Pulumi, no config.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import json
import math
import re
import unicodedata
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

# re.ASCII: with IGNORECASE alone, look-alikes such as dotless i, long s or the Kelvin sign
# match [a-z]. Patterns are used with fullmatch (``$`` alone lets a trailing newline through).
HOSTNAME_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.ASCII)
DNS_LABEL = re.compile(r"^(\*|_?[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?)$", re.IGNORECASE | re.ASCII)

# The committed stack files hold these as placeholders (RFC 5737, RFC 3849).
DOCUMENTATION = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
EXAMPLE = {4: "203.0.113.10", 6: "2001:db8::1"}


def address_problem(value: Any, version: int) -> str | None:
    """A public IPv4/IPv6 address as text: what a public DNS record or a server may hold."""
    if not isinstance(value, str):
        return f"expected an IPv{version} address as text (in quotes), e.g. {EXAMPLE[version]}"
    if len(value) > 45:  # the longest text of an IPv6 address
        return f"expected an IPv{version} address, e.g. {EXAMPLE[version]}"
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        addr = None
    if addr is None or addr.version != version:
        return f"expected an IPv{version} address, e.g. {EXAMPLE[version]}"
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id is not None:
        return "a public IPv6 address has no scope ID (%...)"
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return "an IPv4-mapped IPv6 address; give the IPv4 address as IPv4 (A record, ipv4)"
    if any(addr in net for net in DOCUMENTATION):
        return None
    if addr.is_multicast or not addr.is_global:
        return (
            f"expected a public IPv{version} address: not loopback, private, link-local, multicast, "
            "CGNAT, reserved or unspecified"
        )
    return None


def network_problem(value: str, version: int) -> str | None:
    """An SPF ip4:/ip6: term: a public address or network of that version."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"ip{version}: takes an IPv{version} address or network, e.g. ip{version}:{EXAMPLE[version]}"
    if net.version != version:
        return f"ip{version}: takes an IPv{version} address or network, e.g. ip{version}:{EXAMPLE[version]}"
    return address_problem(str(net.network_address), version)


def looks_like_address(value: str) -> bool:
    """A domain-name field holding an address (1.2.3.4, 2001:db8::1, an all-digit last label)."""
    try:
        ipaddress.ip_address(value.rstrip("."))
        return True
    except ValueError:
        return value.rstrip(".").rsplit(".", 1)[-1].isdigit()


def domain_problem(name: str) -> str | None:
    """Length limits of a domain name (RFC 1035 §2.3.4): labels 1-63, the whole 253."""
    name = name.rstrip(".")
    if len(name) > 253:
        return "a domain name may be at most 253 characters"
    if any(not 1 <= len(label) <= 63 for label in name.split(".")):
        return "each label of a domain name has 1 to 63 characters"
    return None


def one_line(message: str) -> str:
    """``message`` with control characters and line breaks escaped, so it stays one line."""
    return "".join(c.encode("unicode_escape").decode() if _unprintable(c) else c for c in message)


def _unprintable(c: str) -> bool:
    return unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def text_problem(value: str, max_chars: int | None = None, max_bytes: int | None = None) -> str | None:
    """One line of printable text: no control, format (RTL override) or line separator
    characters; at most ``max_chars`` characters and ``max_bytes`` bytes of UTF-8."""
    # str.isprintable() is False for all of those (and for spaces other than " "): a fast path
    if not value.isprintable() and any(_unprintable(c) for c in value):
        return "one line of printable text: no control characters (CR, NUL, escapes, U+2028, RTL marks)"
    if max_chars is not None and len(value) > max_chars:
        return f"at most {max_chars} characters"
    if max_bytes is not None and len(value.encode()) > max_bytes:
        return f"at most {max_bytes} bytes of UTF-8 (a letter such as é takes two)"
    return None


# --------------------------------------------------------------------------- SSH keys

HOST_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")
ADMIN_KEY_TYPES = (*HOST_KEY_TYPES, "sk-ssh-ed25519@openssh.com", "ssh-rsa")
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 16384  # OpenSSH refuses larger RSA keys (SSH_RSA_MAXIMUM_MODULUS_SIZE)
# A comment names the key's owner (`ssh-keygen -C alice@laptop`). Every admin's line goes into
# each Hetzner server's user-data, which takes at most 32 KiB for everything (checked per host).
MAX_KEY_COMMENT = 2048
_KEY_CLASSES = {
    "ssh-ed25519": ed25519.Ed25519PublicKey,
    "sk-ssh-ed25519@openssh.com": ed25519.Ed25519PublicKey,
    "ssh-rsa": rsa.RSAPublicKey,
}
# The fields of each type's key data after its type name (RFC 4253 §6.6, RFC 5656 §3.1,
# OpenSSH PROTOCOL.u2f): "s" a string of any length, a number a string of exactly that many
# bytes, "m" an mpint. Nothing may follow the last field.
_KEY_FIELDS = {
    "ssh-ed25519": (32,),
    "sk-ssh-ed25519@openssh.com": (32, "s"),
    "ssh-rsa": ("m", "m"),
    **{f"ecdsa-sha2-{c}": (c, "s") for c in ("nistp256", "nistp384", "nistp521")},
}
_KEY_LINE = re.compile(r" *([^ ]+) +([^ ]+)(?: +(.*?))? *", re.DOTALL)
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
PRIVATE_KEY_PASTED = (
    "this is a PRIVATE key, which never goes in a stack file: put the public key line here "
    "(the .pub file). If it was ever committed or pushed, it is compromised: make a new key pair "
    "and remove the old public key everywhere it is authorized"
)


@functools.lru_cache(maxsize=256)  # pure; the same few keys are checked again and again
def parse_ssh_key(line: str, types: tuple[str, ...]) -> tuple[str | None, str | None]:
    """An OpenSSH public key line ``<type> <base64 key data> [comment]``, parsed whole:
    ``(canonical line, None)``, or ``(None, problem)``.

    Exactly one line of printable text; the key data strict base64 whose every byte is read
    (its embedded type the line's type, nothing after the last field) and a key of that type
    (RSA of 2048 to 16384 bits); the comment bounded. The canonical line is rebuilt from the
    parsed parts, single spaces, so what the renderers write is what was parsed."""
    if looks_private(line):
        return None, PRIVATE_KEY_PASTED
    problem = text_problem(line)
    if problem:
        return None, "exactly one OpenSSH public key line: " + problem
    m = _KEY_LINE.fullmatch(line)
    if m is None or m.group(1) not in types:
        return (
            None,
            f"an OpenSSH public key line: {' | '.join(types)}, then the key, then an optional comment",
        )
    kind, blob, comment = m.group(1), m.group(2), m.group(3) or ""

    def bad(why: str) -> tuple[None, str]:
        return None, f"the key data does not parse as a {kind} key ({why}); copy the whole .pub line again"

    if not _BASE64.fullmatch(blob):
        return bad("not base64")
    data = base64.b64decode(blob)
    if base64.b64encode(data).decode() != blob:
        return bad("not canonical base64")
    fields = _wire_fields(data, ("s", *_KEY_FIELDS[kind]))
    if fields is None:
        return bad("its fields do not add up")
    if fields[0] != kind.encode():
        return bad(f"it holds a {fields[0][:40].decode('ascii', 'replace')} key")
    if kind.startswith("ecdsa-") and fields[1] != kind.rsplit("-", 1)[1].encode():
        return bad("its curve is not the type's")
    try:
        key = load_ssh_public_key(f"{kind} {blob}".encode())
    except (ValueError, TypeError, UnicodeError):
        return bad("not a valid key")
    if not isinstance(key, _KEY_CLASSES.get(kind, ec.EllipticCurvePublicKey)):
        return bad(f"not a {kind} key")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return None, f"an RSA key of {key.key_size} bits; use at least {MIN_RSA_BITS} (better: ssh-ed25519)"
    if isinstance(key, rsa.RSAPublicKey) and key.key_size > MAX_RSA_BITS:
        return None, f"an RSA key of {key.key_size} bits; OpenSSH takes at most {MAX_RSA_BITS}"
    if len(comment) > MAX_KEY_COMMENT:
        return None, f"the key's comment may be at most {MAX_KEY_COMMENT} characters"
    return f"{kind} {blob}" + (f" {comment}" if comment else ""), None


def _wire_fields(data: bytes, shape: tuple) -> list[bytes] | None:
    """``data`` read as SSH wire strings of ``shape``, all of it; None if it does not fit."""
    out, at = [], 0
    for want in shape:
        if at + 4 > len(data):
            return None
        size = int.from_bytes(data[at : at + 4], "big")
        value, at = data[at + 4 : at + 4 + size], at + 4 + size
        if len(value) != size or (isinstance(want, int) and size != want):
            return None
        if want == "m" and (not value or value[0] & 0x80):  # an mpint here is positive
            return None
        out.append(value)
    return out if at == len(data) else None


def same_key(a: str, b: str) -> bool:
    """Two canonical key lines hold the same key (the comment does not count)."""
    return a.split(" ")[:2] == b.split(" ")[:2]


# --------------------------------------------------------------------------- renderers


def line_safe(value: Any, what: str) -> str:
    """``value`` as a renderer writes it into one line of a host file, shell text or config
    line. The loader refuses control characters in every value; this is each renderer's own
    guard: a value with a line break or a control character is a bug, never a second line."""
    if not isinstance(value, str) or any(_unprintable(c) for c in value):
        raise ValueError(
            f"{what}: refusing to write {show(value)} into one line (not text, or a control or "
            "line-break character)"
        )
    return value


# --------------------------------------------------------------------------- showing values

PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
# The body of an OpenSSH private key without its header: base64 of "openssh-key-v1\0".
PRIVATE_BODY = "b3BlbnNzaC1rZXktdjE"
SECRET_NAME = re.compile(r"secret|token|passw|passphrase|private|api_?key|bootstrap_ssh", re.IGNORECASE)
# Tokens by their published prefixes: DigitalOcean (API tokens, Spaces access key IDs), GitLab,
# GitHub, Slack, AWS, age, Pulumi, Mailgun.
TOKEN_PREFIX = re.compile(
    r"(?:do[opr]_v1_|gl(?:pat|dt|rt|ptt|cbt|oas|soat|ffct|imt|agent|ft|wt)-|gh[pousr]_|github_pat_"
    r"|xox[abposr]-|(?:AKIA|ASIA)[0-9A-Z]{16}|AGE-SECRET-KEY-|pul-[0-9a-f]{40}|\bDO[0-9A-Z]{18}\b"
    r"|\bkey-[0-9a-f]{32}\b)"
)
# Any other long run of token characters that reads like random data, not words.
TOKEN_RUN = re.compile(r"[A-Za-z0-9+/=_-]{20,}")
# Public data that looks random and is shown: an SSH public key line that parses (its comment is
# still checked), a DKIM public key (`public_key`), and Cloudflare IDs where the key holds IDs
# (zone_id, import IDs: not secrets; the plan prints them for review).
SSH_LINE = re.compile(r"(?:ssh-|ecdsa-sha2-|sk-ssh-)[a-z0-9@.-]+ AAAA")
CLOUDFLARE_ID = re.compile(r"[0-9a-f]{32}(?:/[0-9a-f]{32})?")
DKIM_PUBLIC = re.compile(r"MII[A-Za-z0-9+/]+=*")
ID_KEYS = re.compile(r"zone_id|import", re.IGNORECASE)
PLACEHOLDERS = ("[secret]", "[not shown]")  # what the loader puts in place of a secret
SAFE_PREFIX = 4
MAX_SHOWN = 80
HUGE = 10**18  # a whole number beyond 64 bits is shown by its size, never converted to text


def looks_private(text: str) -> bool:
    """A private key, with or without its -----BEGIN ... PRIVATE KEY----- line."""
    return bool(PRIVATE_KEY.search(text)) or PRIVATE_BODY in text


def _random_looking(run: str) -> bool:
    """Random data rather than words: 32+ characters with lower and upper case letters and
    digits (the old rule), or letters and digits mixed with high entropy and the kind of
    character changing often (a bucket or host name has long runs of letters)."""
    lower, upper = any(c.islower() for c in run), any(c.isupper() for c in run)
    digit = any(c.isdigit() for c in run)
    if len(run) >= 32 and lower and upper and digit:
        return True
    if not ((digit and (lower or upper)) or (lower and upper)):
        return False
    counts = {c: run.count(c) for c in set(run)}
    entropy = -sum(n / len(run) * math.log2(n / len(run)) for n in counts.values())

    def kind(c: str) -> int:
        return 0 if c.isdigit() else 1 if c.islower() else 2 if c.isupper() else 3

    changes = sum(kind(a) != kind(b) for a, b in zip(run, run[1:], strict=False))
    return entropy >= 3.0 and changes >= len(run) * 0.3


def secret_at(text: str, key: str = "") -> int | None:
    """Where a secret starts in ``text`` (a private key, a token), or None. The whole text is a
    secret when ``key`` is named like one. ``key``: the last part of the value's key path."""
    if SECRET_NAME.search(key) or looks_private(text):
        m = PRIVATE_KEY.search(text)
        return m.end() if m else 0
    if SSH_LINE.match(text):
        line, _ = parse_ssh_key(text, ADMIN_KEY_TYPES)
        if line is not None:  # a public key: only its comment may hide a secret
            kind, blob, *comment = line.split(" ", 2)
            at = secret_at(comment[0]) if comment else None
            return None if at is None else len(kind) + len(blob) + 2 + at
    elif (key == "public_key" and DKIM_PUBLIC.fullmatch(text)) or (
        ID_KEYS.search(key) and CLOUDFLARE_ID.fullmatch(text)
    ):
        return None
    found = [m.start() for m in TOKEN_PREFIX.finditer(text)]
    runs = TOKEN_RUN.finditer(text[: MAX_SHOWN + 200])  # a message shows at most 80 characters
    found += [m.start() for m in runs if _random_looking(m.group())]
    return min(found, default=None)


def _masked(value: Any, key: str) -> Any:
    """``value`` with every secret-looking string cut to a short prefix, every huge number
    replaced by its size."""
    if isinstance(value, str):
        at = secret_at(value, key)
        return (
            value
            if at is None or value in PLACEHOLDERS
            else value[: max(at, SAFE_PREFIX)] + "...(rest not shown)"
        )
    if isinstance(value, dict):
        return {str(k): _masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v, key) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= HUGE:
        return f"<a whole number of {value.bit_length()} bits>"
    return value


def shown_name(name: str, limit: int = 40) -> str:
    """A name the user made up (a key), as a message shows it: short, never a token."""
    at = secret_at(name)
    if at is not None:
        return name[: max(at, SAFE_PREFIX)] + "...(rest not shown)"
    return name if len(name) <= limit else name[: limit - 3] + "..."


def shown_path(path: str) -> str:
    """A key path as a message shows it: each part short, never a token (names are the user's)."""
    shown = ".".join(shown_name(part, 80) for part in path.split("."))
    return shown if len(shown) <= 300 else shown[:297] + "..."


def show(value: Any, path: str = "") -> str:
    """A value as an error message shows it: JSON, at most 80 characters, and never more than
    a short prefix of anything that looks like a secret (a private key, a token, a long random
    string, the value of a key named like a secret); a huge number by its size."""
    key = path.rsplit(".", 1)[-1]
    if ID_KEYS.search(path):  # dns.imports.<logical key>: the values are IDs
        key = f"import:{key}"
    if isinstance(value, str) and value not in PLACEHOLDERS:
        at = secret_at(value, key)
        if at is not None and len(value) > SAFE_PREFIX:
            shown = value[: min(max(at, SAFE_PREFIX), MAX_SHOWN - 20)]
            return json.dumps(shown)[:-1] + '..." (rest not shown)'
    try:
        text = json.dumps(_masked(value, key), default=str)
    except (ValueError, RecursionError):  # nothing the loader builds, but never a traceback here
        text = f"<{type(value).__name__}>"
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."
