"""The table of which input keys replace a resource (data/replace-keys.yaml, with the source each
entry was read from), and which keys each imported type ignores while adopting (the components'
``*_CONVERGE`` lists): what tools/review/diff.py needs to know about the providers."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from components.core.errors import REPO_ROOT

REPLACE_KEYS = REPO_ROOT / "data" / "replace-keys.yaml"


@cache
def load_table() -> dict[str, Any]:
    return yaml.safe_load(REPLACE_KEYS.read_text())


def _under(names: list[str], key: str) -> bool:
    return any(n == key or n.startswith((f"{key}.", f"{key}[")) for n in names)


def forces_replace(rtype: str, key: str) -> bool | None:
    """True: changing ``key`` replaces a ``rtype``; False: an update; None: the table does not know."""
    entry = load_table().get(rtype)
    if entry is None:
        return None
    if _under(entry.get("replace") or [], key):
        return True
    if _under(entry.get("unknown") or [], key):
        return None
    return False if _under(entry.get("update") or [], key) else None


def caveat(rtype: str, key: str) -> str:
    caveats = (load_table().get(rtype) or {}).get("update_caveats") or {}
    return caveats.get(key) or ""


def replace_order(rtype: str) -> str:
    return str((load_table().get(rtype) or {}).get("replace_order") or "")


@cache
def converge_keys() -> dict[str, frozenset[str]]:
    """What each imported type ignores while adopting (the components' *_CONVERGE lists)."""
    from components.dns.zone import TXT_CONVERGE
    from components.hosts.admin_keys import SSH_KEY_CONVERGE
    from components.hosts.hetzner_server import (
        FIREWALL_CONVERGE,
        PRIMARY_IP_CONVERGE,
        SERVER_CONVERGE,
        VOLUME_CONVERGE,
    )
    from components.storage.bucket import BUCKET_CONVERGE, CORS_CONVERGE

    return {
        "cloudflare:index/dnsRecord:DnsRecord": frozenset(TXT_CONVERGE),
        "hcloud:index/sshKey:SshKey": frozenset(SSH_KEY_CONVERGE),
        "hcloud:index/primaryIp:PrimaryIp": frozenset(PRIMARY_IP_CONVERGE),
        "hcloud:index/firewall:Firewall": frozenset(FIREWALL_CONVERGE),
        "hcloud:index/server:Server": frozenset(SERVER_CONVERGE),
        "hcloud:index/volume:Volume": frozenset(VOLUME_CONVERGE),
        "digitalocean:index/spacesBucket:SpacesBucket": frozenset(BUCKET_CONVERGE),
        "digitalocean:index/spacesBucketCorsConfiguration:SpacesBucketCorsConfiguration": frozenset(
            CORS_CONVERGE
        ),
    }
