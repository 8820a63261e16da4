"""What a stack file says about admins and hosts (components/hetzner_server.py, vps_host.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from components import config
from components.models.common import Bool, HostLabel, Model, Text, whole

ServerType = Literal[tuple(config.PROVIDERS["hetzner_cloud"]["server_types"])]
Image = Literal[tuple(config.PROVIDERS["hetzner_cloud"]["images"])]
Location = Literal[tuple(config.PROVIDERS["hetzner_cloud"]["locations"])]
COMMENT = r"( [^\x00-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]*)?$"  # one printable line
SSH_KEY = (
    r"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|ssh-rsa) [A-Za-z0-9+/]+={0,3}"
    + COMMENT
)
HOST_KEY = r"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}" + COMMENT


class Admin(Model):
    name: HostLabel = Field(
        description="A user name (DNS label rules), not a system account; each name once."
    )
    ssh_key: str = Field(
        pattern=SSH_KEY, description="One OpenSSH public key line: type, key, optional comment."
    )
    hcloud_import: str | None = Field(
        None, description="ID of this key in Hetzner Cloud, to adopt it (prod)."
    )


class ExtraPort(Model):
    port: whole(1, 65535) = Field(description="A firewall opening besides 22, 80 and 443.")
    protocol: Literal["tcp", "udp"] = "tcp"
    reason: Text = Field(min_length=1, description="Why the port is open.")


class Volume(Model):
    size_gb: whole(10, 10240) = Field(description="Size of the attached block volume in GB.")


class HcloudImport(Model):
    server: str | None = Field(None, description="The server's ID.")
    firewall: str | None = Field(None, description="The firewall's ID.")
    ipv4: str | None = Field(None, description="The primary IPv4's ID.")
    ipv6: str | None = Field(None, description="The primary IPv6's ID.")
    volume: str | None = Field(None, description="The volume's ID.")


class HetznerCloud(Model):
    server_type: ServerType = Field(description="A current Hetzner Cloud server type (data/providers.yaml).")
    location: Location = Field(description="A Hetzner Cloud location (data/providers.yaml).")
    image: Image = Field(
        description="A supported image (data/providers.yaml): the user-data is tested on these."
    )
    backups: Bool = Field(False, description="Hetzner's daily server backups.")
    volume: Volume | None = None
    extra_ports: list[ExtraPort] = []
    import_: HcloudImport = Field(HcloudImport(), alias="import", description="IDs to adopt (prod only).")


class Price(Model):
    amount: float = Field(ge=0, description="What the host costs per month.")
    currency: Literal["EUR", "USD"]


class Vps(Model):
    provider: HostLabel = Field(description="A short provider name, e.g. iocoop.")
    ipv4: str = Field(description="The host's public IPv4 address.")
    ipv6: str | None = Field(None, description="The host's public IPv6 address.")
    ssh_host_key: str | None = Field(
        None, pattern=HOST_KEY, description="ssh-ed25519 or ecdsa host key line."
    )
    bootstrap: Bool = Field(False, description="Run first-boot bootstrap over SSH.")
    bootstrap_user: HostLabel = "root"
    monthly_price: Price | None = None


class Host(Model):
    kind: Literal["hetzner_cloud", "vps"]
    roles: list[Literal[config.ROLES]] = Field(min_length=1)
    cloud_init: list[Literal[config.CLOUD_INIT_PARTS]] | None = None
    fqdn: str | None = Field(None, description="The host's full name; default <name>.<domain>.")
    ssh_port: whole(1, 65535) = 22
    hetzner_cloud: HetznerCloud | None = None
    vps: Vps | None = None
