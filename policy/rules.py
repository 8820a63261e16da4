"""The policy pack's rules as plain functions: (resource, stack facts) -> violation messages.

Each function takes a `Res` (type token, input properties, the resource options the engine shows a
policy) and a `Stack` (the stack's name and config, and what the other stack's committed file
declares), and returns a list of messages, empty when the resource complies. No Pulumi runtime
here, so tests call them directly.

The boundary between the stacks comes from components/core/boundary.py, the module the loader reads
too: the same constants, the same reading of the other stack's committed file, the same messages.

What a policy can't see: the engine's analyzer protocol (pulumi 3.260) passes `protect`,
`ignoreChanges`, aliases and parent, but neither `retainOnDelete` nor `import`. "Imported prod
resources are retained on delete" therefore stays a program rule (components/core/protection.py), tested
under mocks in tests/test_adoption.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from components.core import boundary
from components.core.boundary import Claims

PROJECT = "socialcoop-infra"
SERVER = "hcloud:index/server:Server"
PRIMARY_IP = "hcloud:index/primaryIp:PrimaryIp"
FIREWALL = "hcloud:index/firewall:Firewall"
VOLUME = "hcloud:index/volume:Volume"
VOLUME_ATTACHMENT = "hcloud:index/volumeAttachment:VolumeAttachment"
RDNS = "hcloud:index/rdns:Rdns"
RECORD = "cloudflare:index/dnsRecord:DnsRecord"
ZONE = "hcloud:index/zone:Zone"  # Hetzner DNS: the zone (prod's) and its record sets
RRSET = "hcloud:index/zoneRrset:ZoneRrset"
# The DNS provider (dns.providers) each DNS type belongs to: while it is `dns.retiring`, prod
# declares its resources unprotected (and retained on delete) on purpose (docs/dns-cutover.md).
DNS_PROVIDER_OF = {RECORD: "cloudflare", ZONE: "hetzner", RRSET: "hetzner"}
BUCKET = "digitalocean:index/spacesBucket:SpacesBucket"
BUCKET_CORS = "digitalocean:index/spacesBucketCorsConfiguration:SpacesBucketCorsConfiguration"
SPACES_KEY = "digitalocean:index/spacesKey:SpacesKey"
REMOTE = ("command:remote:Command", "command:remote:CopyToRemote")  # the bootstrap of a VPS
LOCAL = "command:local:Command"  # the Ansible hand-off (components/hosts/playbook.py)

# Stateful or traffic-carrying: what prod must protect. A volume holds data; detaching one
# (deleting its attachment) takes the disk from under a running server.
PROTECTED_IN_PROD = (SERVER, PRIMARY_IP, RECORD, ZONE, RRSET, BUCKET, SPACES_KEY, VOLUME, VOLUME_ATTACHMENT)
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
    environment: str  # the stack's name: "prod" or "alpha"
    theirs: Claims = Claims("")  # what the other stack's committed file declares
    declared_ports: frozenset[tuple[str, int]] = field(default_factory=frozenset)  # (protocol, port)
    decommission: str | None = None  # prod with protect: false, and why (docs/config.md)
    problem: str | None = None  # not a stack of the boundary, or its config says another one
    retiring: frozenset[str] = frozenset()  # dns.retiring: DNS providers being let go


def stack_is_prod_or_alpha(r: Res, s: Stack) -> list[str]:
    return [f"{r.name}: {s.problem}"] if s.problem else []


def prod_protects_stateful(r: Res, s: Stack) -> list[str]:
    if s.environment == "prod" and r.type in PROTECTED_IN_PROD and not r.protect and not s.decommission:
        if DNS_PROVIDER_OF.get(r.type) in s.retiring:  # let go on purpose, retained on delete
            return []
        return [f"{r.name} ({r.type}) must be protected in prod (protect: true)"]
    return []


def prod_servers_ignore_rebuild_inputs(r: Res, s: Stack) -> list[str]:
    if s.environment != "prod" or r.type != SERVER or s.decommission:
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


def prod_decommission_is_announced(r: Res, s: Stack) -> list[str]:
    """Advisory: while prod's protection is off for a decommission, what the two rules above would
    refuse is shown (a warning on the preview and the up), with the reason, instead."""
    if s.environment != "prod" or not s.decommission:
        return []
    guarded = replace(s, decommission=None)
    found = prod_protects_stateful(r, guarded) + prod_servers_ignore_rebuild_inputs(r, guarded)
    return [f"{m}; allowed for the decommission: {s.decommission}" for m in found]


def _off_limits(r: Res, s: Stack) -> list[str]:
    """What this resource claims of the other stack's (components/core/boundary.py)."""
    env, theirs = s.environment, s.theirs
    if env not in boundary.STACKS:
        return []
    if theirs.error:
        return [f"{r.name}: {theirs.source}: {boundary.unreadable(theirs)}"]
    claims: list[tuple[Any, Any]] = []  # (value, rule)
    if r.type == RECORD:
        claims.append((r.props.get("name"), boundary.name_problem))
    elif r.type == ZONE:
        claims.append((r.props.get("name"), boundary.zone_problem))
    elif r.type == RRSET:
        name = r.props.get("name")
        if isinstance(name, str) and name:
            claims.append(
                (boundary.ZONE if name == "@" else f"{name}.{boundary.ZONE}", boundary.name_problem)
            )
        claims.append((r.props.get("zone"), boundary.zone_reference_problem))
    elif r.type == RDNS:
        claims.append((r.props.get("dnsPtr"), boundary.name_problem))
    elif r.type == BUCKET:
        claims.append((r.props.get("name"), boundary.bucket_problem))
    elif r.type == BUCKET_CORS:
        claims.append((r.props.get("bucket"), boundary.bucket_problem))
    elif r.type == SPACES_KEY:
        grants = [g for g in r.props.get("grants") or [] if isinstance(g, Mapping)]
        claims += [(g.get("bucket"), boundary.bucket_problem) for g in grants]
        claims.append((r.props.get("name"), boundary.key_name_problem))
    elif r.type in (SERVER, FIREWALL):
        claims.append((r.props.get("name"), boundary.host_problem))
    if r.type.startswith("hcloud:") and isinstance(r.props.get("labels"), Mapping):
        claims.append((r.props["labels"].get("stack"), boundary.label_problem))
    if r.type in REMOTE:
        connection = r.props.get("connection")
        connection = connection if isinstance(connection, Mapping) else {}  # "[secret]" in the offline plan
        claims += [(connection.get(k), boundary.bootstrap_problem) for k in ("host", "hostKey")]
        claims += [(connection.get("host"), boundary.machine_problem)]
    if r.type == LOCAL:  # the machines the playbook runs on: each host's ansible_host
        claims += [(address, boundary.machine_problem) for address in _inventory_hosts(r.props)]
    out = []
    for value, rule in claims:
        problem = rule(env, str(value), theirs) if isinstance(value, str) and value else None
        if problem:
            out.append(f"{r.name}: {value!r}: {problem}")
    return out


def _inventory_hosts(props: Mapping[str, Any]) -> list[str]:
    """The ansible_host of every host in the inventory the Ansible hand-off hands its playbook."""
    env = props.get("environment")
    text = env.get("SOCIALCOOP_INVENTORY") if isinstance(env, Mapping) else None
    try:
        inventory = yaml.safe_load(text) if isinstance(text, str) else None
    except yaml.YAMLError:
        return []
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                if k == "ansible_host" and isinstance(v, str):
                    found.append(v)
                else:
                    walk(v)

    walk(inventory)
    return found


def alpha_stays_in_its_lane(r: Res, s: Stack) -> list[str]:
    if s.environment != "alpha":
        return []
    out = []
    if r.protect:
        out.append(f"{r.name}: nothing in alpha may be protected (alpha must tear down completely)")
    return out + _off_limits(r, s)


def prod_stays_out_of_alpha(r: Res, s: Stack) -> list[str]:
    return _off_limits(r, s) if s.environment == "prod" else []


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


def facts(pulumi_config: dict[str, str], stack: str | None = None) -> Stack:
    """What the rules need, from the stack's name ($PULUMI_STACK, maybe `org/project/name`), its
    config as the engine hands it to a policy pack ($PULUMI_CONFIG: "project:key" -> value,
    structured values JSON-encoded) and the other stack's committed file (components/core/boundary.py)."""
    cfg = {}
    for key, value in pulumi_config.items():
        if key.startswith(PROJECT + ":"):
            try:
                cfg[key[len(PROJECT) + 1 :]] = json.loads(value)
            except (TypeError, ValueError):
                cfg[key[len(PROJECT) + 1 :]] = value
    said = str(cfg.get("environment", ""))
    env = stack.rsplit("/", 1)[-1] if stack else said
    problem = None
    if env not in boundary.STACKS:
        problem = f"the stacks are {' and '.join(boundary.STACKS)} ({boundary.HERE}), not {env!r}"
    elif said != env:
        problem = f"this is the {env} stack, but its config says environment: {said!r}"
    ports = set()
    for host in _mapping(cfg.get("hosts")).values():
        host = _mapping(host)
        ssh_port = _port(host.get("ssh_port", 22))
        if ssh_port is not None and ssh_port != 22:
            ports.add(("tcp", ssh_port))
        for p in _mapping(host.get("hetzner_cloud")).get("extra_ports") or []:
            port = _port(_mapping(p).get("port"))
            if port is not None:
                ports.add((p.get("protocol", "tcp"), port))
    unprotected = cfg.get("protect") not in (True, "true")
    reason = cfg.get("decommission")
    retiring = _mapping(cfg.get("dns")).get("retiring")
    return Stack(
        environment=env,
        theirs=boundary.claims(boundary.other(env)) if not problem else Claims(""),
        declared_ports=frozenset(ports),
        decommission=str(reason) if env == "prod" and unprotected and reason else None,
        problem=problem,
        retiring=frozenset(str(p) for p in retiring) if isinstance(retiring, list) else frozenset(),
    )


def stack_of_urn(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` -> <stack> ("" for anything else)."""
    return urn.split("::", 1)[0].removeprefix("urn:pulumi:") if urn.startswith("urn:pulumi:") else ""


def committed_config(stack: str) -> dict[str, str]:
    """A committed stack file's config as the engine would hand it to the pack ("project:key" ->
    value, structured values as JSON); `secure:` values left out. Empty when unreadable."""
    from components.core import safe_yaml
    from components.core.errors import REPO_ROOT, ConfigError

    if stack not in boundary.STACKS:
        return {}
    try:
        doc = safe_yaml.load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_bytes(), f"Pulumi.{stack}.yaml")
    except (OSError, ConfigError):
        return {}
    config = _mapping(_mapping(doc).get("config"))
    flat = {}
    for key, value in config.items():
        if value is None or (isinstance(value, dict) and set(value) == {"secure"}):
            continue
        flat[str(key)] = value if isinstance(value, str) else json.dumps(value)
    return flat


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _port(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# name: (rule, description, enforcement level)
RULES = {
    "stack-is-prod-or-alpha": (
        stack_is_prod_or_alpha,
        "The stack is prod or alpha (components/core/boundary.py) and its config says so.",
        "mandatory",
    ),
    "prod-protects-stateful": (
        prod_protects_stateful,
        "In prod, servers, primary IPs, volumes and their attachments, DNS records, zones and record sets, "
        "buckets and keys are protected (unless a decommission says why, or dns.retiring lets a DNS "
        "provider go).",
        "mandatory",
    ),
    "prod-servers-ignore-rebuild-inputs": (
        prod_servers_ignore_rebuild_inputs,
        "Prod servers ignore userData, sshKeys and image (unless a decommission says why).",
        "mandatory",
    ),
    "prod-decommission-is-announced": (
        prod_decommission_is_announced,
        "While a decommission takes prod's protection off, each resource it leaves unguarded is named.",
        "advisory",
    ),
    "spaces-keys-never-full-access": (
        spaces_keys_never_full_access,
        "No Spaces key has full access.",
        "mandatory",
    ),
    "alpha-stays-in-its-lane": (
        alpha_stays_in_its_lane,
        "alpha protects nothing and declares no name, bucket, host or machine of prod's (components/core/boundary.py).",
        "mandatory",
    ),
    "prod-stays-out-of-alpha": (
        prod_stays_out_of_alpha,
        "prod declares no name, bucket, host or machine of alpha's (components/core/boundary.py).",
        "mandatory",
    ),
    "firewalls-open-only-declared-ports": (
        firewalls_open_only_declared_ports,
        "Firewalls allow inbound only 22, 80, 443, ICMP and declared ports.",
        "mandatory",
    ),
}
