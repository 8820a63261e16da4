"""Rules for single values, shared by the loader's sections: public addresses, printable
text, SSH public keys, domain names and how a value is shown in an error message.

Each ``*_problem`` function returns None for a good value, or the "allowed" part of the
one-line error for a bad one. Pure: no Pulumi, no config.
"""

from __future__ import annotations

import ipaddress
import json
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
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        addr = None
    if addr is None or addr.version != version:
        return f"expected an IPv{version} address, e.g. {EXAMPLE[version]}"
    if version == 6 and addr.scope_id is not None:
        return "a public IPv6 address has no scope ID (%...)"
    if version == 6 and addr.ipv4_mapped is not None:
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


def text_problem(value: str, max_chars: int | None = None) -> str | None:
    """One line of printable text: no control, format (RTL override) or line separator characters."""
    if any(_unprintable(c) for c in value):
        return "one line of printable text: no control characters (CR, NUL, escapes, U+2028, RTL marks)"
    if max_chars is not None and len(value) > max_chars:
        return f"at most {max_chars} characters"
    return None


# --------------------------------------------------------------------------- SSH keys

HOST_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")
ADMIN_KEY_TYPES = (*HOST_KEY_TYPES, "sk-ssh-ed25519@openssh.com", "ssh-rsa")
MIN_RSA_BITS = 2048
_KEY_CLASSES = {
    "ssh-ed25519": ed25519.Ed25519PublicKey,
    "sk-ssh-ed25519@openssh.com": ed25519.Ed25519PublicKey,
    "ssh-rsa": rsa.RSAPublicKey,
}


def ssh_key_problem(line: str, types: tuple[str, ...]) -> str | None:
    """An OpenSSH public key line ``<type> <base64 blob> [comment]`` whose blob is really a
    key of that type (and RSA of at least 2048 bits)."""
    parts = line.split(" ", 2)
    if len(parts) < 2 or parts[0] not in types:
        return f"an OpenSSH public key line: {' | '.join(types)}, then the key, then an optional comment"
    if len(parts) == 3 and text_problem(parts[2]):
        return "the key's comment must be " + text_problem(parts[2])
    try:
        key = load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
    except (ValueError, TypeError, UnicodeError):
        return f"the key data does not parse as a {parts[0]} key; copy the whole .pub line again"
    expected = _KEY_CLASSES.get(parts[0], ec.EllipticCurvePublicKey)
    if not isinstance(key, expected):
        return f"the key data is not a {parts[0]} key"
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"an RSA key of {key.key_size} bits; use at least {MIN_RSA_BITS} (better: ssh-ed25519)"
    return None


def same_key(a: str, b: str) -> bool:
    """Two key lines hold the same key (the comment does not count)."""
    return a.split(" ")[:2] == b.split(" ")[:2]


# --------------------------------------------------------------------------- showing values

PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
SECRET_NAME = re.compile(r"secret|token|passw|passphrase|private|api_?key|bootstrap_ssh", re.IGNORECASE)
TOKEN_LIKE = re.compile(r"^(?=.*[a-z])(?=.*[A-Z])(?=.*\d)[A-Za-z0-9_\-+/=.]{32,}$")
PLACEHOLDERS = ("[secret]", "[not shown]")  # what the loader puts in place of a secret
SAFE_PREFIX = 4
MAX_SHOWN = 80


def show(value: Any, path: str = "") -> str:
    """A value as an error message shows it: JSON, at most 80 characters, and never more than
    a safe prefix of anything that looks like a secret (a private key, a token, the value
    of a key named like a secret)."""
    text = json.dumps(value, default=str)
    if value in PLACEHOLDERS:
        return text
    key = path.rsplit(".", 1)[-1]
    marker = PRIVATE_KEY.search(text)
    if marker:
        return text[: marker.end()] + '..." (rest not shown)'
    if (
        isinstance(value, str)
        and (SECRET_NAME.search(key) or TOKEN_LIKE.match(value))
        and len(value) > SAFE_PREFIX
    ):
        return text[: SAFE_PREFIX + 1] + '..." (rest not shown)'
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."
