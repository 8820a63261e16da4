"""What a stack file says about admins and hosts (components/hosts/hetzner_server.py, vps_host.py,
cloudinit.py)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints, field_validator, model_validator

from components.core import values
from components.core.types import (
    PROVIDERS,
    Bool,
    Model,
    Named,
    Refused,
    UserName,
    address,
    amount,
    choice,
    host_name,
    label,
    pattern,
    text,
    whole,
)

ROLES = ("mastodon", "mastodon_staging", "coopcloud")
CLOUD_INIT_PARTS = ("base", "docker", "swarm")
DEFAULT_PARTS = {"mastodon": ["base", "docker"], "mastodon_staging": ["base", "docker"]}
DEFAULT_PARTS["coopcloud"] = ["base", "docker", "swarm"]
HCLOUD = PROVIDERS["hetzner_cloud"]
WEB_PORTS = (80, 443)  # always open on every host (components/hosts/firewall.py), with 22

# Debian/Ubuntu system accounts and cloud images' default users: an admin of that name
# would take over (or fail to create) an account the system owns.
SYSTEM_USERS = (
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy",
    "www-data", "backup", "list", "irc", "gnats", "nobody", "systemd-network", "systemd-resolve",
    "systemd-timesync", "messagebus", "syslog", "sshd", "ubuntu", "debian", "admin", "docker",
)  # fmt: skip

COMMENT = r"( [^\x00-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]*)?$"  # one printable line


def openssh_key(types: tuple[str, ...]) -> BeforeValidator:
    """One OpenSSH public key line whose key data really is a key of its type, kept as the
    canonical line rebuilt from what was parsed (values.parse_ssh_key)."""

    def check(v: Any) -> str:
        if not isinstance(v, str):
            raise Refused("expected a string")
        line, problem = values.parse_ssh_key(v, types)
        if line is None:
            raise Refused(problem or "an OpenSSH public key line")  # a private key: its -----BEGIN line only
        return line

    kinds = "|".join(t.replace(".", r"\.") for t in types)
    schema = f"^({kinds}) [A-Za-z0-9+/]+={{0,2}}" + COMMENT
    # the longest key data is an RSA key's of 16384 bits: about 2,800 characters of base64
    longest = 40 + 2800 + 1 + values.MAX_KEY_COMMENT
    constraints = StringConstraints(pattern=schema, max_length=longest)
    return BeforeValidator(check, json_schema_input_type=Annotated[str, constraints])


AdminKey = Annotated[str, openssh_key(values.ADMIN_KEY_TYPES)]
# pulumi-command pins the host key algorithm to this key's type: ssh-rsa would mean
# SHA-1 signatures, which OpenSSH 8.8 and later refuse (docs/servers.md).
SshHostKey = Annotated[str, openssh_key(values.HOST_KEY_TYPES)]
# Hetzner Cloud numbers its objects (servers, firewalls, primary IPs, volumes, SSH keys).
HetznerId = Annotated[
    str,
    pattern(
        re.compile(r"^[0-9]{1,19}$"),
        'the object\'s numeric ID, in quotes, e.g. "12345678" (hcloud ... list)',
        max_length=19,
    ),
]
Port = Annotated[int, whole(1, 65535)]


class Admin(Model):
    name: UserName = Field(
        description="a user name: a lowercase letter, then a-z, 0-9, `-`, at most 32 characters (Debian's "
        "`useradd` takes no more); each name once; not a system account (`root`, `nobody`, `ubuntu`, ...)"
    )
    ssh_key: AdminKey = Field(
        description="exactly one OpenSSH public key line: `ssh-ed25519`, `ecdsa-sha2-nistp256/384/521`, "
        "`sk-ssh-ed25519@openssh.com` or `ssh-rsa` (2048 to 16384 bits), the key (strict base64 that must "
        f"parse whole as that type), an optional one-line comment of at most {values.MAX_KEY_COMMENT} "
        "characters (every admin's key goes into each server's user-data: 32 KiB in all); each admin's key "
        "is their own. Kept as `<type> <key> <comment>` with single spaces"
    )
    hcloud_import: HetznerId | None = Field(
        None, description="numeric ID of this key in Hetzner Cloud, to adopt it instead of creating a copy"
    )

    @field_validator("name")
    @classmethod
    def _not_a_system_account(cls, name: str) -> str:
        if name in SYSTEM_USERS or name.startswith("systemd-"):
            raise Refused("a system account's name; give the admin their own user name, not a system account")
        return name


class ExtraPort(Model):
    port: Port = Field(
        description="1 to 65535, not 22, 80, 443 or the host's `ssh_port` (always open); each port/protocol once"
    )
    protocol: Annotated[str, choice(("tcp", "udp"))] = Field("tcp", description="`tcp` or `udp`")
    reason: Annotated[str, text(100, "say why this port is open", max_bytes=128)] = Field(
        description="why the port is open: one line, at most 100 characters and 128 bytes (nftables' "
        "limit on a rule comment)"
    )

    @model_validator(mode="after")
    def _extra(self) -> ExtraPort:
        if self.port in (22, 80, 443):
            raise Refused("22, 80 and 443 are always open; list only extra ports", "port", self.port)
        if not self.reason.strip():
            raise Refused("say why this port is open", "reason", self.reason)
        return self


class Volume(Model):
    size_gb: Annotated[int, whole(10, 10240)] = Field(description="10 to 10240")


class HcloudImport(Model):
    server: HetznerId | None = Field(None, description="the server's numeric ID")
    firewall: HetznerId | None = Field(None, description="the firewall's numeric ID")
    ipv4: HetznerId | None = Field(None, description="the primary IPv4's numeric ID")
    ipv6: HetznerId | None = Field(None, description="the primary IPv6's numeric ID")
    volume: HetznerId | None = Field(None, description="the volume's numeric ID")


class HetznerCloud(Model):
    server_type: Annotated[str, choice(HCLOUD["server_types"])] = Field(
        description="a Hetzner Cloud server type from `data/providers.yaml`, e.g. `cx23`, `cpx32` "
        "(cx22-cx52 and cpx11-cpx51 are removed from the API)"
    )
    location: Annotated[str, choice(HCLOUD["locations"])] = Field(
        description=f"{', '.join(f'`{x}`' for x in HCLOUD['locations'])} (`data/providers.yaml`)"
    )
    image: Annotated[str, choice(HCLOUD["images"])] = Field(
        description=f"{' or '.join(f'`{x}`' for x in HCLOUD['images'])} (`data/providers.yaml`: "
        "the user-data installs Ubuntu-only packages)"
    )
    backups: Bool = Field(False, description="Hetzner's daily server backups (cost extra)")
    volume: Volume | None = Field(None, description="an attached block volume")
    extra_ports: tuple[ExtraPort, ...] = Field(
        (), description="firewall openings besides 22, 80 and 443 (always open)"
    )
    import_: HcloudImport = Field(
        HcloudImport(),
        alias="import",
        description="IDs of existing Hetzner Cloud objects to adopt instead of create (prod)",
        json_schema_extra={"x-default": "`{}`"},
    )

    @field_validator("extra_ports")
    @classmethod
    def _each_port_once(cls, ports: tuple[ExtraPort, ...]) -> tuple[ExtraPort, ...]:
        for i, p in enumerate(ports):
            if any((e.port, e.protocol) == (p.port, p.protocol) for e in ports[:i]):
                raise Refused(
                    f"{p.port}/{p.protocol} is already listed; list each port once", f"[{i}].port", p.port
                )
        return ports

    @property
    def volume_gb(self) -> int | None:
        return self.volume.size_gb if self.volume else None

    @property
    def imports(self) -> dict[str, str]:
        """The IDs to adopt, by object (server, firewall, ipv4, ipv6, volume)."""
        return {k: v for k, v in self.import_.model_dump().items() if v is not None}


MAX_PRICE = 100_000
MonthlyAmount = Annotated[float, amount(MAX_PRICE, f"a monthly price from 0 to {MAX_PRICE:,}")]


class Price(Model):
    amount: MonthlyAmount = Field(
        description=f"0 to {MAX_PRICE:,} a month (the cost report adds prices up to the cent)"
    )
    currency: Annotated[str, choice(("EUR", "USD"))] = Field(description="`EUR` or `USD`")


class Vps(Model):
    provider: Annotated[str, label("a short provider name, e.g. iocoop")] = Field(
        description="a short provider name (DNS label rules), e.g. `iocoop`, `hetzner-robot`"
    )
    ipv4: Annotated[str, address(4)] = Field(description="the host's public IPv4 address")
    ipv6: Annotated[str, address(6)] | None = Field(
        None,
        description="the host's public IPv6 address",
        json_schema_extra={"x-default": "none (no AAAA records for it)"},
    )
    ssh_host_key: SshHostKey | None = Field(
        None,
        description="the host's public key line, from `/etc/ssh/ssh_host_ed25519_key.pub`; the bootstrap "
        "connection pins it, so only `ssh-ed25519` or `ecdsa-sha2-nistp256/384/521` (pulumi-command would "
        "pin `ssh-rsa` to SHA-1 signatures, which OpenSSH 8.8+ refuses)",
        json_schema_extra={"x-default": "none; required when `bootstrap: true`"},
    )
    bootstrap: Bool = Field(
        False, description="run first-boot bootstrap over SSH (needs `bootstrap_ssh_key`)"
    )
    bootstrap_user: UserName = Field(
        "root", description="the user the bootstrap connects as (a user name, at most 32 characters)"
    )
    monthly_price: Price | None = Field(None, description="what the host costs, for the cost report")

    @model_validator(mode="after")
    def _pinned(self) -> Vps:
        if self.bootstrap and self.ssh_host_key is None:
            raise Refused("required when bootstrap is true: the connection pins it", "ssh_host_key")
        return self


class Host(Named):
    """`<name>` is the host's short name (`rhizome`, `hypha`, `alpha`); records refer to it with `host:`."""

    kind: Annotated[str, choice(("hetzner_cloud", "vps"))] = Field(
        description="`hetzner_cloud` (the program creates or adopts a Hetzner Cloud server) or `vps` "
        "(a machine without a cloud API: the program only knows its addresses)"
    )
    roles: tuple[Annotated[str, choice(ROLES)], ...] = Field(
        description=", ".join(f"`{r}`" for r in ROLES),
        json_schema_extra={"x-default": "required, at least one"},
    )
    cloud_init: tuple[Annotated[str, choice(CLOUD_INIT_PARTS)], ...] = Field(
        (),  # not set: from the roles (_default_parts)
        description="parts of first-boot config: `base`, `docker`, `swarm`; must include `base`",
        json_schema_extra={
            "x-default": "from the roles: `[base, docker]` for Mastodon roles, `[base, docker, swarm]` for `coopcloud`"
        },
    )
    fqdn: Annotated[str, host_name("expected a fully qualified host name, e.g. rhizome.social.coop")] = Field(
        "",  # not set: <name>.<zone> (StackConfig._defaults)
        description="the host's full name, e.g. `rhizome.social.coop`; alpha's at or under "
        "`alpha.social.coop`, prod's not (components/core/boundary.py)",
        json_schema_extra={"x-default": "`<name>.social.coop`"},
    )
    ssh_port: Port = Field(
        22, description="1 to 65535, not 80 or 443 (HTTP and HTTPS are always open for the web server)"
    )
    hetzner_cloud: HetznerCloud | None = Field(
        None,
        description="see below. May stay in the file when `kind: vps` (switching is then one line); it is still checked",
        json_schema_extra={"x-default": "required when `kind: hetzner_cloud`"},
    )
    vps_: Vps | None = Field(
        None,
        alias="vps",
        description="see below; may also stay when `kind: hetzner_cloud`",
        json_schema_extra={"x-default": "required when `kind: vps`"},
    )

    @model_validator(mode="before")
    @classmethod
    def _default_parts(cls, data: Any) -> Any:
        roles = data.get("roles") if isinstance(data, dict) else None
        if isinstance(roles, list) and data.get("cloud_init") is None and set(map(str, roles)) <= set(ROLES):
            parts = {p for r in roles for p in DEFAULT_PARTS[r]}
            data = {**data, "cloud_init": sorted(parts, key=CLOUD_INIT_PARTS.index)}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Host:
        if not self.roles:
            raise Refused(f"give at least one role; allowed: {', '.join(ROLES)}", "roles", [])
        if "base" not in self.cloud_init:
            raise Refused(
                "must include base (admin users, SSH hardening)", "cloud_init", list(self.cloud_init)
            )
        # The block of the other kind may stay in the file (so switching kind is one line),
        # but it is still validated: a typo there must not wait for the day of the switch.
        if (self.hetzner_cloud if self.kind == "hetzner_cloud" else self.vps_) is None:
            raise Refused(f"required because kind is {self.kind}", self.kind)
        if self.ssh_port in WEB_PORTS:
            raise Refused(
                "80 and 443 are HTTP and HTTPS, always open for the web server: SSH on 22 (the default) "
                "or a port of its own",
                "ssh_port",
                self.ssh_port,
            )
        for i, p in enumerate(self.hetzner_cloud.extra_ports if self.hetzner_cloud else ()):
            if (p.port, p.protocol) == (self.ssh_port, "tcp"):
                raise Refused(
                    f"{p.port}/tcp is this host's ssh_port, always open; list only extra ports",
                    f"hetzner_cloud.extra_ports[{i}].port",
                    p.port,
                )
        return self

    @property
    def hetzner(self) -> HetznerCloud | None:
        """The Hetzner Cloud settings, when this host is one (kind: hetzner_cloud)."""
        return self.hetzner_cloud if self.kind == "hetzner_cloud" else None

    @property
    def vps(self) -> Vps | None:
        """The VPS settings, when this host is one (kind: vps)."""
        return self.vps_ if self.kind == "vps" else None


def check_admins(admins: tuple[Admin, ...]) -> tuple[Admin, ...]:
    """Each admin once: their own name and their own key."""
    for i, a in enumerate(admins):
        if any(b.name == a.name for b in admins[:i]):
            raise Refused("each admin name may appear only once", f"[{i}].name", a.name)
        other = next((b for b in admins[:i] if values.same_key(b.ssh_key, a.ssh_key)), None)
        if other is not None:
            raise Refused(
                f"the same key as admin {other.name}; each admin has their own key",
                f"[{i}].ssh_key",
                a.ssh_key,
            )
    return admins
