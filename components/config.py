"""The one typed config loader.

The whole stack config is read once into frozen dataclasses and validated before any
resource is registered. A mistake stops the program with one message that names the
stack file, the key path, the bad value and what is allowed (``ConfigError``).

``parse()`` is pure: it takes the raw values (already JSON-decoded, keys without the
``socialcoop-infra:`` namespace) so the offline plan, the tests and ``pulumi preview``
all validate the same way. ``load_from_pulumi()`` reads the running program's config.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import pulumi
import yaml

from components import cloudinit, dns_records, values
from components.errors import MISSING as _MISSING
from components.errors import PROJECT, REPO_ROOT, ConfigError, Secret

PROVIDERS = yaml.safe_load((REPO_ROOT / "data" / "providers.yaml").read_text())

HOSTNAME_LABEL, DNS_LABEL = values.HOSTNAME_LABEL, values.DNS_LABEL
ZONE_ID = re.compile(r"^[0-9a-f]{32}$")
ROLES = ("mastodon", "mastodon_staging", "coopcloud")
CLOUD_INIT_PARTS = ("base", "docker", "swarm")
DEFAULT_PARTS = {"mastodon": ["base", "docker"], "mastodon_staging": ["base", "docker"]}
DEFAULT_PARTS["coopcloud"] = ["base", "docker", "swarm"]
RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS")
SPF_ALL = ("-all", "~all")
DMARC_POLICIES = ("none", "quarantine", "reject")


# --------------------------------------------------------------------------- reader


class Node:
    """One mapping in the config, with its key path, read key by key.

    Every ``get_*`` call records the key as known; ``done()`` rejects any key left over,
    so a typo never passes silently.
    """

    def __init__(self, source: str, path: str, value: Any, secrets: frozenset[str] = frozenset()):
        if not isinstance(value, dict):
            raise ConfigError(source, path, value, "expected a mapping (key: value pairs)")
        self.source, self.path, self.value, self.secrets = source, path, value, secrets
        self._seen: set[str] = set()

    def _p(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, value: Any, allowed: str) -> ConfigError:
        return ConfigError(self.source, self._p(key), value, allowed)

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        self._seen.add(key)
        value = self.value.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                raise self.error(key, _MISSING, "this key is required")
            return default
        return value

    def has(self, key: str) -> bool:
        return self.value.get(key) is not None

    def str(self, key, default=_MISSING, choices=None, pattern=None, allowed=None) -> Any:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str):
            raise self.error(key, value, allowed or "expected a string")
        if choices is not None and value not in choices:
            raise self.error(key, value, f"allowed: {', '.join(choices)}")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.error(key, value, allowed or f"must match {pattern.pattern}")
        return value

    def int(self, key, default=_MISSING, lo=None, hi=None, allowed=None) -> Any:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value):
            value = int(value)  # Pulumi passes scalar config as strings
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, value, allowed or "expected a whole number")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.error(key, value, allowed or f"expected a number from {lo} to {hi}")
        return value

    def num(self, key, default=_MISSING, lo=None) -> Any:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(key, value, "expected a number")
        if lo is not None and value < lo:
            raise self.error(key, value, f"expected a number of at least {lo}")
        return float(value)

    def bool(self, key, default=_MISSING) -> Any:
        value = self.raw(key, default)
        if value in ("true", "false"):
            value = value == "true"  # Pulumi passes scalar config as strings
        if not isinstance(value, bool):
            raise self.error(key, value, "expected true or false")
        return value

    def ip(self, key, version: int, default=_MISSING) -> Any:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        problem = values.address_problem(value, version)
        if problem:
            raise self.error(key, value, problem)
        return str(ipaddress.ip_address(value))

    def secret(self, key: str) -> Secret | None:
        self._seen.add(key)
        value = self.value.get(key)
        if value is None:
            return None
        if self._p(key) not in self.secrets:
            raise self.error(
                key,
                "[not shown]",
                f"must be a secret: set it with `pulumi config set --secret {self._p(key)}`",
            )
        if not isinstance(value, str):
            raise self.error(key, "[secret]", "expected a string")
        return Secret(value)

    def node(self, key: str, default: Any = _MISSING) -> Node | None:
        value = self.raw(key, default)
        if value is None:
            return None
        return Node(self.source, self._p(key), value, self.secrets)

    def list(self, key: str, default: Any = _MISSING) -> list:
        value = self.raw(key, default)
        if not isinstance(value, list):
            raise self.error(key, value, "expected a list")
        return value

    def str_list(self, key, default=_MISSING, choices=None, pattern=None, allowed=None) -> tuple:
        items = self.list(key, default)
        for i, item in enumerate(items):
            Node(self.source, self.path, {f"{key}[{i}]": item}).str(
                f"{key}[{i}]", choices=choices, pattern=pattern, allowed=allowed
            )
        return tuple(items)

    def nodes(self, key: str, default: Any = _MISSING) -> list[Node]:
        return [
            Node(self.source, f"{self._p(key)}[{i}]", item, self.secrets)
            for i, item in enumerate(self.list(key, default))
        ]

    def mapping(self, key: str, default: Any = _MISSING) -> dict[str, Any]:
        value = self.raw(key, default)
        if not isinstance(value, dict):
            raise self.error(key, value, "expected a mapping (key: value pairs)")
        return value

    def done(self) -> None:
        for key in self.value:
            if key not in self._seen:
                allowed = ", ".join(sorted(self._seen))
                raise ConfigError(
                    self.source, self._p(key), self.value[key], f"unknown key; allowed here: {allowed}"
                )


def _each(parent: Node, key: str, name_rule: re.Pattern, what: str, default=_MISSING):
    """Yield (name, Node) for a mapping of named entries, checking each name."""
    for name, value in parent.mapping(key, default).items():
        if not isinstance(name, str) or not name_rule.fullmatch(name):
            raise parent.error(f"{key}.{name}", name, f"not a valid {what} name")
        yield name, Node(parent.source, parent._p(f"{key}.{name}"), value, parent.secrets)


def _fqdn_ok(name: str) -> bool:
    labels = name.rstrip(".").split(".")
    return len(name) <= 253 and len(labels) >= 2 and all(HOSTNAME_LABEL.fullmatch(x) for x in labels)


# --------------------------------------------------------------------------- admins


@dataclass(frozen=True)
class Admin:
    name: str
    ssh_key: str
    hcloud_import: str | None = None


# Debian/Ubuntu system accounts and cloud images' default users: an admin of that name
# would take over (or fail to create) an account the system owns.
SYSTEM_USERS = (
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy",
    "www-data", "backup", "list", "irc", "gnats", "nobody", "systemd-network", "systemd-resolve",
    "systemd-timesync", "messagebus", "syslog", "sshd", "ubuntu", "debian", "admin", "docker",
)  # fmt: skip


def _ssh_key(n: Node, key: str, types: tuple[str, ...], default: Any = _MISSING) -> str | None:
    line = n.str(key, default)
    if line is None:
        return None
    problem = values.ssh_key_problem(line, types)
    if problem:
        raise n.error(key, line, problem)
    return line


def _admins(root: Node) -> tuple[Admin, ...]:
    admins: list[Admin] = []
    for n in root.nodes("admins", []):
        name = n.str("name", pattern=HOSTNAME_LABEL, allowed="a lowercase user name (a-z, 0-9, -)")
        if name in SYSTEM_USERS or name.startswith("systemd-"):
            raise n.error(
                "name",
                name,
                "a system account's name; give the admin their own user name, not a system account",
            )
        if any(a.name == name for a in admins):
            raise n.error("name", name, "each admin name may appear only once")
        key = _ssh_key(n, "ssh_key", values.ADMIN_KEY_TYPES)
        other = next((a for a in admins if values.same_key(a.ssh_key, key)), None)
        if other is not None:
            raise n.error("ssh_key", key, f"the same key as admin {other.name}; each admin has their own key")
        admins.append(Admin(name, key, n.str("hcloud_import", None)))
        n.done()
    return tuple(admins)


# --------------------------------------------------------------------------- hosts


@dataclass(frozen=True)
class ExtraPort:
    port: int
    protocol: str
    reason: str


@dataclass(frozen=True)
class HetznerCloud:
    server_type: str
    location: str
    image: str
    backups: bool = False
    volume_gb: int | None = None
    extra_ports: tuple[ExtraPort, ...] = ()
    imports: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Price:
    amount: float
    currency: str


@dataclass(frozen=True)
class Vps:
    ipv4: str
    ipv6: str | None
    provider: str
    ssh_host_key: str | None = None
    bootstrap: bool = False
    bootstrap_user: str = "root"
    monthly_price: Price | None = None


@dataclass(frozen=True)
class Host:
    name: str
    kind: str  # "hetzner_cloud" or "vps"
    fqdn: str
    roles: tuple[str, ...]
    cloud_init: tuple[str, ...]
    ssh_port: int = 22
    hetzner: HetznerCloud | None = None
    vps: Vps | None = None


HCLOUD_IMPORT_KEYS = ("server", "firewall", "ipv4", "ipv6", "volume")


def _hetzner(n: Node) -> HetznerCloud:
    types = PROVIDERS["hetzner_cloud"]["server_types"]
    locations = PROVIDERS["hetzner_cloud"]["locations"]
    ports = []
    for p in n.nodes("extra_ports", []):
        port = p.int("port", lo=1, hi=65535)
        if port in (22, 80, 443):
            raise p.error("port", port, "22, 80 and 443 are always open; list only extra ports")
        protocol = p.str("protocol", "tcp", choices=("tcp", "udp"))
        if any((e.port, e.protocol) == (port, protocol) for e in ports):
            raise p.error("port", port, f"{port}/{protocol} is already listed; list each port once")
        ports.append(
            ExtraPort(
                port,
                protocol,
                p.str("reason", allowed="say why this port is open"),
            )
        )
        if not ports[-1].reason.strip():
            raise p.error("reason", "", "say why this port is open")
        p.done()
    imports = n.node("import", {})
    ids = {k: imports.str(k) for k in HCLOUD_IMPORT_KEYS if imports.has(k)}
    for k in HCLOUD_IMPORT_KEYS:
        imports.raw(k, None)
    imports.done()
    volume = n.node("volume", None)
    volume_gb = None
    if volume is not None:
        volume_gb = volume.int("size_gb", lo=10, hi=10240)
        volume.done()
    h = HetznerCloud(
        server_type=n.str("server_type", choices=types),
        location=n.str("location", choices=locations),
        image=n.str("image", choices=PROVIDERS["hetzner_cloud"]["images"]),
        backups=n.bool("backups", False),
        volume_gb=volume_gb,
        extra_ports=tuple(ports),
        imports=ids,
    )
    n.done()
    return h


def _vps(n: Node) -> Vps:
    price = n.node("monthly_price", None)
    monthly = None
    if price is not None:
        monthly = Price(price.num("amount", lo=0), price.str("currency", choices=("EUR", "USD")))
        price.done()
    v = Vps(
        ipv4=n.ip("ipv4", 4),
        ipv6=n.ip("ipv6", 6, None),
        provider=n.str("provider", pattern=HOSTNAME_LABEL, allowed="a short provider name, e.g. iocoop"),
        # pulumi-command pins the host key algorithm to this key's type: ssh-rsa would mean
        # SHA-1 signatures, which OpenSSH 8.8 and later refuse (docs/servers.md).
        ssh_host_key=_ssh_key(n, "ssh_host_key", values.HOST_KEY_TYPES, None),
        bootstrap=n.bool("bootstrap", False),
        bootstrap_user=n.str("bootstrap_user", "root", pattern=HOSTNAME_LABEL, allowed="a user name"),
        monthly_price=monthly,
    )
    if v.bootstrap and v.ssh_host_key is None:
        raise n.error("ssh_host_key", _MISSING, "required when bootstrap is true: the connection pins it")
    n.done()
    return v


def _host(name: str, n: Node, domain: str) -> Host:
    kind = n.str("kind", choices=("hetzner_cloud", "vps"))
    fqdn = n.str("fqdn", f"{name}.{domain}")
    if not _fqdn_ok(fqdn):
        raise n.error("fqdn", fqdn, "expected a fully qualified host name, e.g. rhizome.social.coop")
    roles = n.str_list("roles", choices=ROLES)
    if not roles:
        raise n.error("roles", [], f"give at least one role; allowed: {', '.join(ROLES)}")
    default_parts = sorted({p for r in roles for p in DEFAULT_PARTS[r]}, key=CLOUD_INIT_PARTS.index)
    parts = n.str_list("cloud_init", default_parts, choices=CLOUD_INIT_PARTS)
    if "base" not in parts:
        raise n.error("cloud_init", list(parts), "must include base (admin users, SSH hardening)")
    blocks = {"hetzner_cloud": n.node("hetzner_cloud", None), "vps": n.node("vps", None)}
    if blocks[kind] is None:
        raise n.error(kind, _MISSING, f"required because kind is {kind}")
    # The block of the other kind may stay in the file (so switching kind is one line),
    # but it is still validated: a typo there must not wait for the day of the switch.
    hetzner = _hetzner(blocks["hetzner_cloud"]) if blocks["hetzner_cloud"] else None
    vps = _vps(blocks["vps"]) if blocks["vps"] else None
    host = Host(
        name=name,
        kind=kind,
        fqdn=fqdn,
        roles=roles,
        cloud_init=parts,
        ssh_port=n.int("ssh_port", 22, lo=1, hi=65535),
        hetzner=hetzner if kind == "hetzner_cloud" else None,
        vps=vps if kind == "vps" else None,
    )
    n.done()
    return host


def _hosts_distinct(root: Node, hosts: dict[str, Host]) -> None:
    """Two entries for one machine (same fqdn or address) are a copy-paste mistake.

    A host *name* cannot repeat: YAML keeps only the last of two equal mapping keys
    (PyYAML silently, Pulumi with an error), so a copied block shows up here instead.
    """
    seen: dict[tuple[str, str], str] = {}
    for name, h in hosts.items():
        pairs = [("fqdn", h.fqdn)]
        if h.vps is not None:
            pairs += [("vps.ipv4", h.vps.ipv4), ("vps.ipv6", h.vps.ipv6)]
        for what, value in pairs:
            if value is None:
                continue
            if (what, value) in seen:
                raise root.error(
                    f"hosts.{name}.{what}",
                    value,
                    f"already used by host {seen[what, value]}; one entry per machine",
                )
            seen[what, value] = name


# --------------------------------------------------------------------------- dns


@dataclass(frozen=True)
class Record:
    """One DNS record as written in the stack file (before host addresses are resolved)."""

    name: str  # relative to the zone; "@" is the apex
    type: str
    value: str | None = None  # literal content
    host: str | None = None  # A/AAAA/CNAME: take the content from this host
    ttl: int | None = None  # None: the zone's default_ttl
    proxied: bool = False
    priority: int | None = None
    weight: int | None = None
    port: int | None = None
    id: str | None = None  # discriminator when a name has several records of one type
    comment: str | None = None
    import_id: str | None = None
    path: str = ""  # key path in the stack file, for error messages


@dataclass(frozen=True)
class Dns:
    zone_id: str
    default_ttl: int
    records: tuple[Record, ...]
    owned_subdomain: str | None  # alpha: every name must be at or under it
    reserved_subdomains: tuple[str, ...]  # prod: no name at or under these
    imports: dict[str, str] = field(default_factory=dict)  # logical key -> <zone_id>/<record_id>
    self_hosting: SelfHosting | None = None  # SOA and apex NS for a complete zone file (tools.zonefile)


@dataclass(frozen=True)
class SelfHosting:
    """The zone's own SOA and apex NS, for a complete zone file (self-hosting, a provider import)."""

    nameservers: tuple[str, ...]  # full names, e.g. ns1.example.net
    hostmaster: str  # an email address; the SOA RNAME


FQDN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$")
EMAIL = re.compile(r"^[a-z0-9._+-]+@([a-z0-9-]+\.)+[a-z]{2,63}$")


def _self_hosting(n: Node) -> SelfHosting | None:
    sh = n.node("self_hosting", None)
    if sh is None:
        return None
    names = sh.str_list(
        "nameservers", pattern=FQDN, allowed="a name server's full name, e.g. ns1.example.net"
    )
    if not names:
        raise sh.error("nameservers", [], "at least one name server, e.g. [ns1.example.net, ns2.example.org]")
    hostmaster = sh.str("hostmaster", pattern=EMAIL, allowed="an email address, e.g. hostmaster@social.coop")
    sh.done()
    return SelfHosting(tuple(x.rstrip(".").lower() for x in names), hostmaster)


def _ttl_ok(ttl: int) -> bool:
    return ttl == 1 or 60 <= ttl <= 86400


TTL_ALLOWED = "1 (automatic) or 60 to 86400 seconds"
RECORD_IMPORT = re.compile(r"^[0-9a-f]{32}/[0-9a-f]{32}$")


def _record(name: str, n: Node) -> Record:
    rtype = n.str("type", choices=RECORD_TYPES)
    ttl = n.int("ttl", None)
    if ttl is not None and not _ttl_ok(ttl):
        raise n.error("ttl", ttl, TTL_ALLOWED)
    r = Record(
        name=name,
        type=rtype,
        value=n.str("value", None),
        host=n.str("host", None, pattern=HOSTNAME_LABEL, allowed="the name of a host in hosts"),
        ttl=ttl,
        proxied=n.bool("proxied", False),
        priority=n.int("priority", None, lo=0, hi=65535),
        weight=n.int("weight", None, lo=0, hi=65535),
        port=n.int("port", None, lo=0, hi=65535),
        id=n.str("id", None, pattern=re.compile(r"^[a-z0-9-]{1,40}$"), allowed="a short id: a-z, 0-9, -"),
        comment=n.str("comment", None),
        import_id=n.str(
            "import_id",
            None,
            pattern=RECORD_IMPORT,
            allowed="<zone_id>/<record_id>, both 32 hex characters",
        ),
        path=n.path,
    )
    if (r.value is None) == (r.host is None):
        raise n.error("value", r.value, "give exactly one of value or host")
    if r.host is not None and rtype not in ("A", "AAAA", "CNAME"):
        raise n.error("host", r.host, "host is only for A, AAAA and CNAME records")
    n.done()
    return r


def _dns(root: Node, env: str) -> Dns:
    n = root.node("dns")
    zone_id = n.str(
        "zone_id", pattern=ZONE_ID, allowed="the zone's 32-character hex ID from the Cloudflare dashboard"
    )
    default_ttl = n.int("default_ttl", 3600)
    if not _ttl_ok(default_ttl):
        raise n.error("default_ttl", default_ttl, TTL_ALLOWED)
    records = []
    for name, value in n.mapping("records", {}).items():
        name_path = f"records.{name}"
        if not isinstance(name, str) or not all(
            DNS_LABEL.fullmatch(x) for x in (name.split(".") if name != "@" else ["x"])
        ):
            raise n.error(
                name_path, name, "a name relative to the zone ('@' for the apex, e.g. www or _dmarc)"
            )
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            records.append(_record(name, Node(n.source, n._p(f"{name_path}[{i}]"), item, n.secrets)))
    owned = n.str("owned_subdomain", "alpha" if env == "alpha" else None, pattern=HOSTNAME_LABEL)
    reserved = n.str_list("reserved_subdomains", ["alpha"] if env == "prod" else [], pattern=HOSTNAME_LABEL)
    # Import IDs by logical key (the plan's `social-coop-<key>`), for any record, generated
    # mail records included; dns_records.check() matches the keys.
    imports = n.node("imports", {})
    for k in imports.value:
        imports.str(k, pattern=RECORD_IMPORT, allowed="<zone_id>/<record_id>, both 32 hex characters")
    self_hosting = _self_hosting(n)
    n.done()
    return Dns(zone_id, default_ttl, tuple(records), owned, reserved, dict(imports.value), self_hosting)


# --------------------------------------------------------------------------- mail


@dataclass(frozen=True)
class Sender:
    name: str
    mechanism: str  # e.g. include:mailgun.org, ip4:192.0.2.1
    lookups: int  # DNS lookups this mechanism costs, nested ones included
    comment: str = ""


@dataclass(frozen=True)
class Spf:
    name: str  # where the record goes ("@", "mg")
    senders: tuple[str, ...]
    all: str = "-all"


@dataclass(frozen=True)
class Dmarc:
    name: str  # "@" -> _dmarc, "alpha" -> _dmarc.alpha
    p: str
    sp: str | None
    pct: int
    rua: tuple[str, ...]
    ruf: tuple[str, ...]
    adkim: str
    aspf: str


@dataclass(frozen=True)
class Dkim:
    name: str  # the sending name ("mg" for mg.social.coop, "@" for the apex)
    selector: str
    public_key: str  # the p= value (base64)
    key_type: str = "rsa"


@dataclass(frozen=True)
class Caa:
    issuers: tuple[str, ...]
    iodef: str
    wildcard: bool = False  # False: also `0 issuewild ";"` (no CA may issue wildcard certificates)


@dataclass(frozen=True)
class MtaSts:
    mode: str
    policy_id: str
    tlsrpt_rua: tuple[str, ...]


@dataclass(frozen=True)
class Mail:
    senders: dict[str, Sender]
    spf: tuple[Spf, ...]
    dmarc: tuple[Dmarc, ...]
    dkim: tuple[Dkim, ...]
    no_mail: tuple[str, ...]  # names that send no mail: v=spf1 -all
    no_mail_hosts: bool  # also every host name
    caa: Caa | None
    mta_sts: MtaSts | None


MECHANISM = re.compile(
    r"^(include:[a-z0-9._-]+|a(:[a-z0-9._-]+)?|mx(:[a-z0-9._-]+)?|exists:[!-~]+|ip4:[!-~]+|ip6:[!-~]+|ptr(:[!-~]+)?)$"
)
LOOKUP_FREE = ("ip4:", "ip6:")
URI = re.compile(r"^(mailto:[!-?A-~]+@[a-z0-9.-]+|https://[!-~]+)$", re.IGNORECASE | re.ASCII)


def _mechanism_problem(mech: str) -> str | None:
    kind, _, arg = mech.partition(":")
    if kind in ("ip4", "ip6"):
        return values.network_problem(arg, int(kind[-1]))
    if arg and kind != "exists":  # exists: takes SPF macros, not a plain domain
        return values.domain_problem(arg)
    return None


def _uris(n: Node, key: str) -> tuple[str, ...]:
    uris = n.str_list(key, [], pattern=URI, allowed="a mailto: or https:// URI")
    for i, uri in enumerate(uris):
        domain = uri.rsplit("@", 1)[-1] if uri.lower().startswith("mailto:") else uri.split("/")[2]
        if values.domain_problem(domain):
            raise n.error(f"{key}[{i}]", uri, values.domain_problem(domain))
    return uris


def _name(n: Node, key: str, default=_MISSING) -> str:
    value = n.str(key, default)
    if value != "@" and not all(DNS_LABEL.fullmatch(x) for x in value.split(".")):
        raise n.error(key, value, "a name relative to the zone, '@' for the apex")
    return value


def _mail(root: Node) -> Mail | None:
    n = root.node("mail", None)
    if n is None:
        return None
    senders = {}
    for name, s in _each(n, "senders", HOSTNAME_LABEL, "sender", {}):
        mech = s.str(
            "mechanism", pattern=MECHANISM, allowed="an SPF mechanism: include:, a, mx, exists:, ip4:, ip6:"
        )
        problem = _mechanism_problem(mech)
        if problem:
            raise s.error("mechanism", mech, problem)
        free = mech.startswith(LOOKUP_FREE)
        lookups = s.int("lookups", 0 if free else _MISSING, lo=0, hi=10)
        if not free and lookups < 1:
            raise s.error("lookups", lookups, f"{mech.split(':')[0]} costs at least one DNS lookup")
        if free and lookups:
            raise s.error("lookups", lookups, "ip4:/ip6: cost no DNS lookups; use 0")
        senders[name] = Sender(name, mech, lookups, s.str("comment", ""))
        s.done()
    spf = []
    for s in n.nodes("spf", []):
        names = s.str_list("senders", choices=tuple(senders) or ("(define senders first)",))
        spf.append(Spf(_name(s, "name"), names, s.str("all", "-all", choices=SPF_ALL)))
        s.done()
    dmarc = []
    for d in n.nodes("dmarc", []):
        dmarc.append(
            Dmarc(
                name=_name(d, "name", "@"),
                p=d.str("p", choices=DMARC_POLICIES),
                sp=d.str("sp", None, choices=DMARC_POLICIES),
                pct=d.int("pct", 100, lo=0, hi=100),
                rua=_uris(d, "rua"),
                ruf=_uris(d, "ruf"),
                adkim=d.str("adkim", "r", choices=("r", "s")),
                aspf=d.str("aspf", "r", choices=("r", "s")),
            )
        )
        d.done()
    dkim = []
    for d in n.nodes("dkim", []):
        dkim.append(
            Dkim(
                name=_name(d, "name"),
                selector=d.str("selector", pattern=HOSTNAME_LABEL, allowed="a selector label, e.g. k1"),
                public_key=d.str(
                    "public_key",
                    pattern=re.compile(r"^[A-Za-z0-9+/]+={0,2}$"),
                    allowed="the base64 p= value of the DKIM key",
                ),
                key_type=d.str("key_type", "rsa", choices=("rsa", "ed25519")),
            )
        )
        d.done()
    caa_n = n.node("caa", None)
    caa = None
    if caa_n is not None:
        caa = Caa(
            caa_n.str_list(
                "issuers",
                ["letsencrypt.org"],
                pattern=re.compile(r"^[a-z0-9.-]+$"),
                allowed="a CA domain, e.g. letsencrypt.org",
            ),
            caa_n.str("iodef", pattern=URI, allowed="a mailto: or https:// URI for reports"),
            caa_n.bool("wildcard", False),
        )
        caa_n.done()
    sts_n = n.node("mta_sts", None)
    sts = None
    if sts_n is not None:
        sts = MtaSts(
            sts_n.str("mode", "testing", choices=("testing", "enforce", "none")),
            sts_n.str(
                "policy_id",
                pattern=re.compile(r"^[A-Za-z0-9]{1,32}$"),
                allowed="1-32 letters and digits; change it when the policy changes",
            ),
            _uris(sts_n, "tlsrpt_rua"),
        )
        sts_n.done()
    mail = Mail(
        senders=senders,
        spf=tuple(spf),
        dmarc=tuple(dmarc),
        dkim=tuple(dkim),
        no_mail=tuple(
            _name(Node(n.source, n.path, {f"no_mail[{i}]": x}), f"no_mail[{i}]")
            for i, x in enumerate(n.list("no_mail", []))
        ),
        no_mail_hosts=n.bool("no_mail_hosts", True),
        caa=caa,
        mta_sts=sts,
    )
    n.done()
    return mail


# --------------------------------------------------------------------------- storage


BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
IPV4_SHAPED = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


@dataclass(frozen=True)
class Bucket:
    name: str
    region: str
    mastodon: bool  # this bucket holds the instance's media (S3_* settings)
    backups_prefix: str | None
    backup_expire_days: int | None
    versioning: bool
    noncurrent_expire_days: int | None
    cors_origins: tuple[str, ...]
    alias_host: str | None
    import_id: str | None


@dataclass(frozen=True)
class Storage:
    region: str
    buckets: tuple[Bucket, ...]
    other_stack_buckets: tuple[str, ...]  # names this stack must never use


def _storage(root: Node, instance_domain: str, env: str) -> Storage | None:
    n = root.node("storage", None)
    if n is None:
        return None  # Mastodon keeps media on the host's disk; no bucket, no key
    regions = PROVIDERS["digitalocean_spaces"]["regions"]
    region = n.str("region", choices=regions)
    buckets = []
    if not n.mapping("buckets", {}):
        raise n.error(
            "buckets", {}, "give at least one bucket, or omit storage for Mastodon's local file storage"
        )
    for name, b in n.mapping("buckets", {}).items():
        path = f"buckets.{name}"
        if (
            not isinstance(name, str)
            or not BUCKET_NAME.fullmatch(name)
            or IPV4_SHAPED.fullmatch(name)
            or "--" in name
        ):
            raise n.error(
                path,
                name,
                "bucket names are 3-63 characters of lowercase letters, digits and single hyphens, starting and ending with a letter or digit, not shaped like an IP address",
            )
        bn = Node(n.source, n._p(path), b, n.secrets)
        prefix = bn.str(
            "backups_prefix",
            None,
            pattern=re.compile(r"^[a-z0-9][a-z0-9/_-]*/$"),
            allowed="a prefix ending in /, e.g. backups/",
        )
        days = bn.int("backup_expire_days", None, lo=1, hi=3650, allowed="a positive number of days (1-3650)")
        if (prefix is None) != (days is None):
            raise bn.error("backup_expire_days", days, "give backups_prefix and backup_expire_days together")
        versioning = bn.bool("versioning", False)
        nc_days = bn.int(
            "noncurrent_expire_days", None, lo=1, hi=3650, allowed="a positive number of days (1-3650)"
        )
        if nc_days is not None and not versioning:
            raise bn.error("noncurrent_expire_days", nc_days, "only meaningful with versioning: true")
        alias = bn.str("alias_host", None)
        if alias is not None and not _fqdn_ok(alias):
            raise bn.error("alias_host", alias, "a host name like files.social.coop")
        buckets.append(
            Bucket(
                name=name,
                region=bn.str("region", region, choices=regions),
                mastodon=bn.bool("mastodon", False),
                backups_prefix=prefix,
                backup_expire_days=days,
                versioning=versioning,
                noncurrent_expire_days=nc_days,
                cors_origins=bn.str_list(
                    "cors_origins",
                    [f"https://{instance_domain}"],
                    pattern=re.compile(r"^https://[a-z0-9.-]+$"),
                    allowed="an origin like https://social.coop",
                ),
                alias_host=alias,
                import_id=bn.str(
                    "import",
                    None,
                    pattern=re.compile(r"^[a-z0-9]+,[a-z0-9-]+$"),
                    allowed="<region>,<bucket name>",
                ),
            )
        )
        if buckets[-1].import_id and buckets[-1].import_id != f"{buckets[-1].region},{name}":
            raise bn.error("import", buckets[-1].import_id, f"must be {buckets[-1].region},{name}")
        if buckets[-1].import_id and env != "prod":
            raise bn.error(
                "import",
                buckets[-1].import_id,
                "only prod adopts buckets; alpha creates (and force-destroys) its own",
            )
        bn.done()
    if sum(b.mastodon for b in buckets) > 1:
        raise n.error(
            "buckets", [b.name for b in buckets if b.mastodon], "at most one bucket may have mastodon: true"
        )
    if sum(b.backups_prefix is not None for b in buckets) > 1:
        raise n.error(
            "buckets",
            [b.name for b in buckets if b.backups_prefix],
            "at most one bucket may have backups_prefix: the dump timers write to one place",
        )
    others = n.str_list("other_stack_buckets", [], pattern=BUCKET_NAME)
    for b in buckets:
        if b.name in others:
            raise n.error(
                f"buckets.{b.name}",
                b.name,
                "this name belongs to another stack (other_stack_buckets); pick another",
            )
    n.done()
    return Storage(region, tuple(buckets), others)


# --------------------------------------------------------------------------- migration


@dataclass(frozen=True)
class Migration:
    ttl: int
    records: tuple[str, ...]  # "<name> <TYPE>", e.g. "@ A"


def _migration(root: Node) -> Migration | None:
    n = root.node("migration", None)
    if n is None:
        return None
    ttl = n.int("ttl", 300)
    if not _ttl_ok(ttl):
        raise n.error("ttl", ttl, TTL_ALLOWED)
    m = Migration(
        ttl, n.str_list("records", pattern=re.compile(r"^\S+ [A-Z]+$"), allowed="'<name> <TYPE>', e.g. '@ A'")
    )
    n.done()
    return m


# --------------------------------------------------------------------------- ansible


@dataclass(frozen=True)
class Ansible:
    """The TWG playbook `pulumi up` runs after the hosts are up (components/ansible_playbook.py)."""

    playbook: str  # as written in the stack file: absolute, or relative to the repository
    extra_vars: dict[str, Any] = field(default_factory=dict)
    user: str | None = None  # ansible_user; default: the operator's ssh configuration


def _ansible(root: Node) -> Ansible | None:
    n = root.node("ansible", None)
    if n is None:
        return None
    playbook = n.str("playbook", allowed="a playbook file, absolute or relative to the repository")
    if not (REPO_ROOT / playbook).is_file():
        raise n.error(
            "playbook", playbook, "an existing playbook file, absolute or relative to the repository"
        )
    a = Ansible(
        playbook,
        dict(n.mapping("extra_vars", {})),
        n.str("user", None, pattern=HOSTNAME_LABEL, allowed="a user name"),
    )
    n.done()
    return a


# --------------------------------------------------------------------------- the stack


def _stack_rules(root: Node, cfg: StackConfig) -> None:
    """What keeps the two stacks apart: prod protected, alpha disposable, neither on the other's names."""
    if cfg.environment == "prod":
        if not cfg.protect and cfg.decommission is None:
            raise root.error(
                "protect",
                cfg.protect,
                "prod must set protect: true; to take protection off for a real decommission, "
                "also set decommission: '<why>' (docs/config.md)",
            )
        if cfg.protect and cfg.decommission is not None:
            raise root.error("decommission", cfg.decommission, "only with protect: false; remove it")
        if cfg.decommission is not None and (
            len(cfg.decommission.strip()) < 10 or values.text_problem(cfg.decommission)
        ):
            raise root.error(
                "decommission", cfg.decommission, "say in one line why protection is off (10+ characters)"
            )
        if "alpha" not in cfg.dns.reserved_subdomains:
            raise root.error(
                "dns.reserved_subdomains", list(cfg.dns.reserved_subdomains), "must include alpha"
            )
        for sub in cfg.dns.reserved_subdomains:
            if dns_records.at_or_under(cfg.instance_domain, f"{sub}.{cfg.domain}"):
                raise root.error(
                    "instance_domain", cfg.instance_domain, f"{sub}.{cfg.domain} is the alpha stack's"
                )
        if cfg.dns.owned_subdomain is not None:
            raise root.error("dns.owned_subdomain", cfg.dns.owned_subdomain, "prod owns the zone; remove it")
        return
    if cfg.protect:
        raise root.error("protect", True, "alpha is disposable: remove protect (or set it to false)")
    if cfg.decommission is not None:
        raise root.error(
            "decommission", cfg.decommission, "only for prod; alpha has no protection to take off"
        )
    if cfg.dns.owned_subdomain != "alpha":
        raise root.error(
            "dns.owned_subdomain", cfg.dns.owned_subdomain, "alpha owns alpha; the rest of the zone is prod's"
        )
    if not dns_records.at_or_under(cfg.instance_domain, f"alpha.{cfg.domain}"):
        raise root.error(
            "instance_domain", cfg.instance_domain, f"alpha's instance is at or under alpha.{cfg.domain}"
        )
    # alpha adopts nothing: every import would put a prod resource into alpha's state,
    # and `pulumi destroy -s alpha` would then delete it
    for a_i, admin in enumerate(cfg.admins):
        if admin.hcloud_import is not None:
            raise root.error(f"admins[{a_i}].hcloud_import", admin.hcloud_import, ALPHA_IMPORTS)
    for name, h in root.value.get("hosts", {}).items():  # the kind not in use too: it is one line away
        for k, v in ((h.get("hetzner_cloud") or {}).get("import") or {}).items():
            raise root.error(f"hosts.{name}.hetzner_cloud.import.{k}", v, ALPHA_IMPORTS)
    for r in cfg.dns.records:
        if r.import_id is not None:
            raise root.error(f"{r.path}.import_id", r.import_id, ALPHA_IMPORTS)
    for k, v in cfg.dns.imports.items():
        raise root.error(f"dns.imports.{k}", v, ALPHA_IMPORTS)


ALPHA_IMPORTS = "only prod imports existing resources; alpha creates (and destroys) its own: remove it"


@dataclass(frozen=True)
class StackConfig:
    source: str  # the stack file, for messages
    environment: str  # "prod" or "alpha"
    domain: str
    instance_domain: str
    protect: bool
    adopting: bool  # phase 1 of adopting prod's resources (docs/adoption.md)
    admins: tuple[Admin, ...]
    hosts: dict[str, Host]
    dns: Dns
    mail: Mail | None
    storage: Storage | None
    migration: Migration | None
    bootstrap_ssh_key: Secret | None
    decommission: str | None = None  # prod with protect: false, and why (shown in every plan)
    ansible: Ansible | None = None


# Every key parse() reads, in the order of Pulumi.yaml's `config:` block; tests keep
# Pulumi.yaml and docs/config.md in step with it. Only SECRET_KEYS may be `secure:` values.
TOP_LEVEL_KEYS = (
    "environment",
    "domain",
    "instance_domain",
    "protect",
    "adopting",
    "admins",
    "hosts",
    "dns",
    "mail",
    "storage",
    "migration",
    "bootstrap_ssh_key",
    "decommission",
    "ansible",
)
SECRET_KEYS = ("bootstrap_ssh_key",)
UNSET_WHEN_EMPTY = (
    "instance_domain",
    "hosts",
    "mail",
    "storage",
    "migration",
    "bootstrap_ssh_key",
    "decommission",
    "ansible",
)
_HIDDEN = Secret("")  # shown as [secret] in messages


def parse(
    raw: dict[str, Any], source: str, secret_keys: frozenset[str] = frozenset(), stack: str | None = None
) -> StackConfig:
    """Validate raw config (keys without namespace, values decoded) into StackConfig.

    ``stack``: the stack being planned or previewed; the stacks named prod and alpha must
    hold a file of their own environment."""
    # Pulumi.yaml gives the keys a stack may omit an empty default (the CLI requires one):
    # empty means not set.
    raw = {k: v for k, v in raw.items() if not (k in UNSET_WHEN_EMPTY and v in ("", {}))}
    root = Node(source, "", raw, secret_keys)
    # Top-level typos first: a misspelt section would otherwise surface as a confusing
    # "missing" error elsewhere. A secret where none belongs would end up in plain text.
    for k, value in raw.items():
        if k not in TOP_LEVEL_KEYS:
            shown = _HIDDEN if k in secret_keys else value
            raise root.error(k, shown, f"unknown key; allowed here: {', '.join(TOP_LEVEL_KEYS)}")
        if k in secret_keys and k not in SECRET_KEYS:
            raise root.error(
                k,
                _HIDDEN,
                f"this key takes no secret (its value would be stored in plain text); "
                f"set it without --secret. Secret keys: {', '.join(SECRET_KEYS)}",
            )
    env = root.str("environment", choices=("prod", "alpha"))
    if stack in ("prod", "alpha") and env != stack:
        raise root.error(
            "environment", env, f"this is the {stack} stack: its file says environment: {stack} (wrong file?)"
        )
    domain = root.str("domain", "social.coop")
    if not _fqdn_ok(domain):
        raise root.error("domain", domain, "a domain name like social.coop")
    instance = root.str("instance_domain", domain if env == "prod" else f"alpha.{domain}")
    if not _fqdn_ok(instance):
        raise root.error("instance_domain", instance, "a domain name like alpha.social.coop")
    admins = _admins(root)
    hosts = {name: _host(name, h, domain) for name, h in _each(root, "hosts", HOSTNAME_LABEL, "host", {})}
    if hosts and not admins:
        raise root.error("admins", [], "at least one admin with an SSH key is needed to reach the hosts")
    _hosts_distinct(root, hosts)
    cfg = StackConfig(
        source=source,
        environment=env,
        domain=domain,
        instance_domain=instance,
        protect=root.bool("protect", False),
        adopting=root.bool("adopting", False),
        admins=admins,
        hosts=hosts,
        dns=_dns(root, env),
        mail=_mail(root),
        storage=_storage(root, instance, env),
        migration=_migration(root),
        bootstrap_ssh_key=root.secret("bootstrap_ssh_key"),
        decommission=root.str("decommission", None),
        ansible=_ansible(root),
    )
    root.done()
    _stack_rules(root, cfg)
    if cfg.adopting and env != "prod":
        raise root.error(
            "adopting", True, "allowed only when environment is prod (alpha adopts nothing): remove it"
        )
    if any(h.vps and h.vps.bootstrap for h in hosts.values()) and cfg.bootstrap_ssh_key is None:
        raise root.error("bootstrap_ssh_key", _MISSING, "required when a host has bootstrap: true")
    # Rules that need the whole config (records that point at hosts, generated mail
    # records, ownership between stacks) live with the code that owns them.
    dns_records.check(cfg)
    for name, h in hosts.items():
        if h.hetzner is not None:
            size = len(cloudinit.render_user_data(h, admins, env).encode())
            if size > cloudinit.USER_DATA_LIMIT:
                raise root.error(
                    f"hosts.{name}.cloud_init",
                    list(h.cloud_init),
                    f"renders {size} bytes of user-data; Hetzner Cloud takes at most "
                    f"{cloudinit.USER_DATA_LIMIT} (fewer admins or parts, shorter key comments)",
                )
    return cfg


# Provider settings that are credentials: they come from the TWG's password store through
# environment variables (README, docs/ci.md), never from a stack file, encrypted or not.
PROVIDER_CREDENTIALS = {
    "hcloud:token": "HCLOUD_TOKEN=$(pass show social.coop/hetzner/cloud-token-{stack})",
    "cloudflare:apiToken": "CLOUDFLARE_API_TOKEN=$(pass show social.coop/cloudflare/dns-token-{stack})",
    "cloudflare:apiKey": "CLOUDFLARE_API_TOKEN=$(pass show social.coop/cloudflare/dns-token-{stack})",
    "cloudflare:apiUserServiceKey": "CLOUDFLARE_API_TOKEN=$(pass show social.coop/cloudflare/dns-token-{stack})",
    "digitalocean:token": "DIGITALOCEAN_TOKEN=$(pass show social.coop/digitalocean/token-{stack})",
    "digitalocean:spacesAccessId": "SPACES_ACCESS_KEY_ID=$(pass show social.coop/digitalocean/spaces-key-id)",
    "digitalocean:spacesSecretKey": "SPACES_SECRET_ACCESS_KEY=$(pass show social.coop/digitalocean/spaces-secret)",
}


def check_provider_keys(keys: Any, source: str, stack: str) -> None:
    """Refuse a provider credential among a stack's config keys (never showing its value)."""
    for k in keys:
        if k in PROVIDER_CREDENTIALS:
            export = PROVIDER_CREDENTIALS[k].format(stack=stack)
            raise ConfigError(
                source,
                "",
                None,
                f"{k}: provider credentials never go in a stack file; remove it "
                f"(`pulumi config rm {k}`) and run `export {export}` before pulumi (README, docs/ci.md)",
            )


def decode(value: Any) -> Any:
    """Pulumi hands structured config to the program as JSON text."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):  # the loader then reports it as the wrong type
            return value
    return value


def load_from_pulumi() -> StackConfig:
    """Read and validate the running program's config (``pulumi preview``/``up``)."""
    from pulumi.runtime import config as rc

    prefix = f"{PROJECT}:"
    everything = {**rc.get_config_env(), **rc.CONFIG.get()}
    source = f"Pulumi.{pulumi.get_stack()}.yaml"
    check_provider_keys(everything, source, pulumi.get_stack())
    raw = {k[len(prefix) :]: decode(v) for k, v in everything.items() if k.startswith(prefix)}
    secrets = frozenset(k for k in raw if rc.is_config_secret(prefix + k))
    return parse(raw, source, secrets, pulumi.get_stack())
