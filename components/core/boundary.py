"""The alpha/prod boundary, in one place: which stack owns which names, buckets and machines.

No stack file can move it. The zone, the two stack names and what alpha owns are the
constants below; a stack file holds no `domain`, no subdomain it owns and no list of the
other stack's buckets any more (the loader refuses those keys). On top of the fixed rules,
each stack is checked against what the OTHER stack's committed file declares (``claims``):
alpha may never declare a bucket or a host name that Pulumi.prod.yaml declares, nor
bootstrap a machine prod declares, and prod never alpha's.

Both readers use this module: the loader (components/core/rules.py and the record check in
components/dns/records.py) and the policy pack (policy/rules.py). Each ``*_problem`` function
returns None, or the "allowed" part of the loader's one-line error, which the policy pack
also shows as its violation message.

Changing the boundary on purpose is a merge request that edits this file (docs/ci.md,
"The boundary between the stacks"): the reviewer sees it in the diff, and the offline plans
and previews of both stacks in the same pipeline show what moves.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Any

from components.core.errors import PROJECT, REPO_ROOT, ConfigError

ZONE = "social.coop"  # the zone both stacks write into (at each DNS provider in dns.providers)
STACKS = ("prod", "alpha")  # the only stacks; the stack named X holds `environment: X`
# The stack that owns the zone itself where a provider makes it an object (Hetzner DNS): prod.
# alpha never declares a zone; it writes its record sets into prod's, by the zone's name.
ZONE_OWNER = "prod"
ALPHA_DOMAIN = f"alpha.{ZONE}"  # alpha owns this name and every name under it; prod the rest
ALPHA_BUCKET_PREFIX = "alpha-"  # every alpha bucket name starts with it; no prod bucket name does
HERE = "components/core/boundary.py"
# prod's machines alpha may run on: point its names and its playbook at them, never bootstrap
# them. alpha.social.coop lives on pando (docs/servers.md); any other machine prod declares
# (rhizome) is off limits to alpha altogether.
ALPHA_RUNS_ON = ("pando",)


def spaces_key_name(stack: str) -> str:
    """The stack's Spaces access key, as the DigitalOcean control panel lists it."""
    return f"socialcoop-infra-{stack}"


def other(stack: str) -> str:
    return "alpha" if stack == "prod" else "prod"


def stack_file(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def normal_name(name: str) -> str:
    return name.rstrip(".").lower()


def at_or_under(name: str, domain: str) -> bool:
    name, domain = normal_name(name), normal_name(domain)
    return name == domain or name.endswith(f".{domain}")


def normal_address(value: Any) -> str:
    """One spelling per address (2001:db8:0:0::2 and 2001:DB8::2 are one machine)."""
    try:
        return ipaddress.ip_address(str(value).strip()).compressed
    except ValueError:
        return str(value).strip().lower()


def normal_key(value: Any) -> str:
    """An SSH public key without its comment: its type and key data."""
    return " ".join(str(value).split()[:2])


# --------------------------------------------------------------------------- what the other file claims


@dataclass(frozen=True)
class Claims:
    """What one stack's committed file declares, as far as the other stack must keep off it."""

    stack: str
    names: frozenset[str] = frozenset()  # full DNS names: records, hosts, instance, bucket aliases
    buckets: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()  # short names: Hetzner server, firewall and address names
    machines: frozenset[str] = frozenset()  # addresses and SSH host keys of machines it manages
    shared: frozenset[str] = frozenset()  # those of its machines alpha may run on (ALPHA_RUNS_ON)
    error: str | None = None  # the file could not be read: nothing is known

    @property
    def source(self) -> str:
        return stack_file(self.stack)


def claims(stack: str) -> Claims:
    """What the committed Pulumi.<stack>.yaml at the repository's root declares.

    Read leniently (only the keys needed, anything malformed skipped), once per version of the
    file in a process. A machine both files declare is prod's: alpha may run on it (pando), and
    prod manages it."""
    own = _claims(stack)
    if stack != "alpha" or own.error:
        return own
    prod = _claims("prod")
    return Claims(own.stack, own.names, own.buckets, own.hosts, own.machines - prod.machines)


def _claims(stack: str) -> Claims:
    path = REPO_ROOT / stack_file(stack)
    try:
        st = path.stat()
    except OSError as e:
        return Claims(stack, error=f"can't read it ({e.strerror})")
    return _read(str(path), stack, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _read(path: str, stack: str, _mtime: int, _size: int) -> Claims:
    from components.core import safe_yaml  # here: safe_yaml's ConfigError needs nothing of this module

    try:
        with open(path, "rb") as f:
            doc = safe_yaml.load(f.read(), stack_file(stack))
    except OSError as e:
        return Claims(stack, error=f"can't read it ({e.strerror})")
    except ConfigError as e:
        return Claims(stack, error=e.allowed)
    config = doc.get("config") if isinstance(doc, dict) else None
    if not isinstance(config, dict):
        return Claims(stack, error="it has no config: mapping")
    return claims_of(stack, {str(k): v for k, v in config.items()})


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def claims_of(stack: str, config: dict[str, Any]) -> Claims:
    """The claims in a stack file's ``config:`` mapping (keys with the namespace)."""

    def key(name: str) -> str:
        return f"{PROJECT}:{name}"

    names, buckets, hosts, machines, shared = set(), set(), set(), set(), set()
    if isinstance(config.get(key("instance_domain")), str):
        names.add(normal_name(config[key("instance_domain")]))
    for name, h in _mapping(config.get(key("hosts"))).items():
        h = _mapping(h)
        hosts.add(str(name).lower())
        fqdn = h.get("fqdn")
        names.add(normal_name(fqdn if isinstance(fqdn, str) else f"{name}.{ZONE}"))
        vps = _mapping(h.get("vps"))
        mine = {normal_address(vps[k]) for k in ("ipv4", "ipv6") if isinstance(vps.get(k), str)}
        if isinstance(vps.get("ssh_host_key"), str):
            mine.add(normal_key(vps["ssh_host_key"]))
        machines |= mine
        if stack == "prod" and str(name).lower() in ALPHA_RUNS_ON:
            shared |= mine
    for name, records in _mapping(_mapping(config.get(key("dns"))).get("records")).items():
        names.add(normal_name(ZONE if name == "@" else f"{name}.{ZONE}"))
        for r in records if isinstance(records, list) else [records]:
            r = _mapping(r)
            if r.get("type") in ("A", "AAAA") and isinstance(r.get("value"), str):
                machines.add(normal_address(r["value"]))
    for name, b in _mapping(_mapping(config.get(key("storage"))).get("buckets")).items():
        buckets.add(str(name).lower())
        if isinstance(_mapping(b).get("alias_host"), str):
            names.add(normal_name(b["alias_host"]))
    return Claims(
        stack, frozenset(names), frozenset(buckets), frozenset(hosts), frozenset(machines), frozenset(shared)
    )


# --------------------------------------------------------------------------- the rules


def name_owner(name: str) -> str:
    """The stack a DNS or host name belongs to: alpha's subdomain to alpha, the rest to prod."""
    return "alpha" if at_or_under(name, ALPHA_DOMAIN) else "prod"


def name_problem(stack: str, name: str, theirs: Claims) -> str | None:
    """A DNS or host name this stack declares (records, hosts, the instance, a bucket alias)."""
    owner = name_owner(name)
    if stack == "alpha" and owner != "alpha":
        return f"the alpha stack owns only {ALPHA_DOMAIN} and names under it ({HERE}); the rest is prod's"
    if stack == "prod" and owner != "prod":
        return (
            f"{ALPHA_DOMAIN} and the names under it are the alpha stack's ({HERE}); "
            "declare them in Pulumi.alpha.yaml"
        )
    if normal_name(name) in theirs.names:
        return f"{theirs.source} declares this name: it is the {theirs.stack} stack's ({HERE})"
    return None


def bucket_problem(stack: str, bucket: str, theirs: Claims) -> str | None:
    alpha_named = bucket.lower().startswith(ALPHA_BUCKET_PREFIX)
    if stack == "alpha" and not alpha_named:
        return f"alpha's bucket names start with {ALPHA_BUCKET_PREFIX} ({HERE}); the others are prod's"
    if stack == "prod" and alpha_named:
        return f"bucket names starting with {ALPHA_BUCKET_PREFIX} are the alpha stack's ({HERE})"
    if bucket.lower() in theirs.buckets:
        return f"{theirs.source} declares this bucket: it is the {theirs.stack} stack's ({HERE})"
    return None


def host_problem(stack: str, host: str, theirs: Claims) -> str | None:
    """A host's short name, which also names its Hetzner server, firewall and addresses."""
    if host.lower() in theirs.hosts:
        return (
            f"{theirs.source} declares a host of this name: host names are each stack's own ({HERE}); "
            "pick another"
        )
    return None


def bootstrap_problem(stack: str, machine: str, theirs: Claims) -> str | None:
    """``machine``: an address or an SSH host key that this stack would bootstrap (manage the
    users, SSH and firewall of). alpha may run on a prod machine, never manage it."""
    if normal_address(machine) in theirs.machines or normal_key(machine) in theirs.machines:
        return (
            f"{theirs.source} declares this machine: the {theirs.stack} stack's; only its own stack "
            f"bootstraps it ({HERE}). Point names at it without bootstrap: true"
        )
    return None


def machine_problem(stack: str, machine: str, theirs: Claims) -> str | None:
    """``machine``: an address or SSH host key of a host this stack declares (and so points its
    names and its playbook at). alpha may run on the prod machines ALPHA_RUNS_ON names, no other."""
    ours = normal_address(machine) in theirs.machines or normal_key(machine) in theirs.machines
    shared = normal_address(machine) in theirs.shared or normal_key(machine) in theirs.shared
    if not ours or shared:
        return None
    where = f"of prod's machines alpha runs only on {', '.join(ALPHA_RUNS_ON)}; " if stack == "alpha" else ""
    return (
        f"{theirs.source} declares this machine: the {theirs.stack} stack's ({HERE}); {where}"
        "a host here runs on its own stack's machines"
    )


def zone_problem(stack: str, zone: str, theirs: Claims) -> str | None:
    """A DNS zone object (Hetzner's ``Zone``): only ZONE_OWNER declares one, and only ZONE."""
    if stack != ZONE_OWNER:
        return (
            f"the zone {ZONE} is the {ZONE_OWNER} stack's ({HERE}); {stack} writes only its record sets "
            f"at or under {ALPHA_DOMAIN} into it"
        )
    if normal_name(zone) != ZONE:
        return f"the only zone is {ZONE} ({HERE})"
    return None


def zone_reference_problem(stack: str, zone: str, theirs: Claims) -> str | None:
    """The zone a record set is written into: ZONE, by its name (the one form both stacks use)."""
    return None if zone == ZONE else f"record sets go into the zone {ZONE}, named so ({HERE})"


def label_problem(stack: str, label: str, theirs: Claims) -> str | None:
    """The `stack` label of a Hetzner object (servers, firewalls, addresses, keys, volumes)."""
    return None if label == stack else f"this stack's objects carry stack: {stack} ({HERE})"


def key_name_problem(stack: str, name: str, theirs: Claims) -> str | None:
    own = spaces_key_name(stack)
    return None if name == own else f"this stack's Spaces key is {own} ({HERE})"


def unreadable(theirs: Claims) -> str:
    """The other committed file can't be read: nothing is known of it, so nothing passes."""
    return (
        f"the {theirs.stack} stack's committed file, which the other stack is checked against: {theirs.error}"
    )
