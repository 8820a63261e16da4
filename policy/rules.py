"""The policy pack's rules as plain functions: (resource, stack facts) -> violation messages.

Each function takes a `Res` (type token, input properties, the resource options the engine shows a
policy) and a `Stack` (what the stack config and prod's stack file say), and returns a list of
messages, empty when the resource complies. No Pulumi runtime here, so tests call them directly.

What a policy can't see: the engine's analyzer protocol (pulumi 3.260) passes `protect`,
`ignoreChanges`, aliases and parent, but neither `retainOnDelete` nor `import`. "Imported prod
resources are retained on delete" therefore stays a program rule (components/protection.py), tested
under mocks in tests/test_adoption.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PROJECT = "socialcoop-infra"
SERVER = "hcloud:index/server:Server"
PRIMARY_IP = "hcloud:index/primaryIp:PrimaryIp"
FIREWALL = "hcloud:index/firewall:Firewall"
RECORD = "cloudflare:index/dnsRecord:DnsRecord"
BUCKET = "digitalocean:index/spacesBucket:SpacesBucket"
SPACES_KEY = "digitalocean:index/spacesKey:SpacesKey"

# Stateful or traffic-carrying: what prod must protect.
PROTECTED_IN_PROD = (SERVER, PRIMARY_IP, RECORD, BUCKET, SPACES_KEY)
SERVER_IGNORES = ("userData", "sshKeys", "image")  # changing any of them rebuilds a server
BASE_TCP_PORTS = frozenset({22, 80, 443})
SPACES_KEY_PERMISSIONS = ("read", "readwrite")  # never "fullaccess"


@dataclass(frozen=True)
class Res:
    type: str
    name: str
    props: Mapping[str, Any]
    protect: bool = False
    ignore_changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stack:
    environment: str  # "prod" or "alpha"
    zone: str = "social.coop"
    alpha_domain: str = "alpha.social.coop"
    prod_buckets: frozenset[str] = frozenset()
    declared_ports: frozenset[tuple[str, int]] = field(default_factory=frozenset)  # (protocol, port)


def prod_protects_stateful(r: Res, s: Stack) -> list[str]:
    if s.environment == "prod" and r.type in PROTECTED_IN_PROD and not r.protect:
        return [f"{r.name} ({r.type}) must be protected in prod (protect: true)"]
    return []


def prod_servers_ignore_rebuild_inputs(r: Res, s: Stack) -> list[str]:
    if s.environment != "prod" or r.type != SERVER:
        return []
    missing = [p for p in SERVER_IGNORES if p not in r.ignore_changes]
    if missing:
        return [f"{r.name}: a prod server must ignore changes to {', '.join(missing)} (a change rebuilds it)"]
    return []


def spaces_keys_never_full_access(r: Res, s: Stack) -> list[str]:
    if r.type != SPACES_KEY:
        return []
    grants = r.props.get("grants") or []
    if not grants:
        return [f"{r.name}: a Spaces key needs explicit grants (no grants means full access)"]
    bad = [g for g in grants if g.get("permission") not in SPACES_KEY_PERMISSIONS or not g.get("bucket")]
    return [
        f"{r.name}: grant {g.get('permission')!r} on {g.get('bucket') or 'every bucket'!r} is not allowed; "
        f"use {' or '.join(SPACES_KEY_PERMISSIONS)} on one named bucket"
        for g in bad
    ]


def _in_alpha(name: str, s: Stack) -> bool:
    name = name.rstrip(".").lower()
    return name == s.alpha_domain or name.endswith("." + s.alpha_domain)


def alpha_stays_in_its_lane(r: Res, s: Stack) -> list[str]:
    if s.environment != "alpha":
        return []
    out = []
    if r.protect:
        out.append(f"{r.name}: nothing in alpha may be protected (alpha must tear down completely)")
    if r.type == RECORD:
        name = str(r.props.get("name", ""))
        if not _in_alpha(name, s):
            out.append(f"{r.name}: alpha may only declare names at or under {s.alpha_domain}, not {name!r}")
    if r.type == BUCKET and r.props.get("name") in s.prod_buckets:
        out.append(f"{r.name}: alpha may not declare prod's bucket {r.props.get('name')!r}")
    if r.type == SPACES_KEY:
        prod = sorted({g.get("bucket") for g in r.props.get("grants") or []} & s.prod_buckets)
        if prod:
            out.append(f"{r.name}: alpha's Spaces key may not reach prod's bucket(s) {', '.join(prod)}")
    return out


def firewalls_open_only_declared_ports(r: Res, s: Stack) -> list[str]:
    if r.type != FIREWALL:
        return []
    out = []
    for rule in r.props.get("rules") or []:
        if rule.get("direction") != "in":
            continue
        proto = rule.get("protocol")
        if proto == "icmp":
            continue
        port = str(rule.get("port", ""))
        ok = port.isdigit() and (
            (proto == "tcp" and int(port) in BASE_TCP_PORTS) or (proto, int(port)) in s.declared_ports
        )
        if not ok:
            out.append(
                f"{r.name}: inbound {proto} {port or 'any port'} is not allowed: only tcp 22, 80, 443, ICMP "
                "and the ports the stack declares (hosts.<name>.ssh_port, hetzner_cloud.extra_ports)"
            )
    return out


def facts(pulumi_config: dict[str, str], prod_stack: dict) -> Stack:
    """What the rules need, from the stack's config as the engine hands it to a policy pack
    ($PULUMI_CONFIG: "project:key" -> value, structured values JSON-encoded) and prod's stack file."""
    cfg = {}
    for key, value in pulumi_config.items():
        if key.startswith(PROJECT + ":"):
            try:
                cfg[key[len(PROJECT) + 1 :]] = json.loads(value)
            except (TypeError, ValueError):
                cfg[key[len(PROJECT) + 1 :]] = value
    zone = cfg.get("domain") or "social.coop"
    ports = set()
    for host in (cfg.get("hosts") or {}).values():
        if int(host.get("ssh_port", 22)) != 22:
            ports.add(("tcp", int(host["ssh_port"])))
        for p in (host.get("hetzner_cloud") or {}).get("extra_ports") or []:
            ports.add((p.get("protocol", "tcp"), int(p["port"])))
    storage = ((prod_stack or {}).get("config") or {}).get(f"{PROJECT}:storage") or {}
    return Stack(
        environment=str(cfg.get("environment", "")),
        zone=zone,
        alpha_domain=f"alpha.{zone}",
        prod_buckets=frozenset(storage.get("buckets") or {}),
        declared_ports=frozenset(ports),
    )


RULES = {
    "prod-protects-stateful": (
        prod_protects_stateful,
        "In prod, servers, primary IPs, records, buckets and keys are protected.",
    ),
    "prod-servers-ignore-rebuild-inputs": (
        prod_servers_ignore_rebuild_inputs,
        "Prod servers ignore userData, sshKeys and image.",
    ),
    "spaces-keys-never-full-access": (spaces_keys_never_full_access, "No Spaces key has full access."),
    "alpha-stays-in-its-lane": (
        alpha_stays_in_its_lane,
        "alpha declares nothing outside alpha.<zone>, none of prod's buckets, nothing protected.",
    ),
    "firewalls-open-only-declared-ports": (
        firewalls_open_only_declared_ports,
        "Firewalls allow inbound only 22, 80, 443, ICMP and declared ports.",
    ),
}
