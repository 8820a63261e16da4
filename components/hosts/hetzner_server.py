"""A Hetzner Cloud server (hypha; alpha when its `kind` is hetzner_cloud).

Children: the server, its firewall, a primary IPv4 and IPv6 of their own (so the
addresses, and the DNS records that point at them, survive a server replacement),
reverse DNS for both, and an optional volume. In prod (``protect: true``) the server,
addresses and volume carry Hetzner's delete protection and Pulumi ``protect``, and the
volume's attachment Pulumi ``protect``.

The ``*_CONVERGE`` lists: what an imported resource keeps as it is while ``adopting: true``
(components/core/protection.py); Hetzner changes all of them in place. Never location,
server type, image or an address's type: those must match when importing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_hcloud as hcloud

from components.core.protection import Protection, child_opts
from components.hosts.addresses import HostAddresses
from components.hosts.cloudinit import render_user_data
from components.hosts.firewall import inbound_rules
from components.hosts.models import Admin, HetznerCloud, Host

PRIMARY_IP_CONVERGE = ("name", "labels", "autoDelete", "deleteProtection")
FIREWALL_CONVERGE = ("name", "labels", "rules")
SERVER_CONVERGE = ("name", "labels", "backups", "firewallIds", "deleteProtection", "rebuildProtection") + (
    # provider-side settings that the provider's read doesn't return: an import sees them unset
    "keepDisk",
    "shutdownBeforeDeletion",
    "ignoreRemoteFirewallIds",
)
# An imported server ignores these in both phases. The provider never reads public_net back
# (hetznercloud/terraform-provider-hcloud#1381), so the import would fail on it; and once in
# state, any update of it powers the server off and unassigns its primary IP. The primary IPs
# are adopted as resources of their own; this only stops the server from re-attaching them.
SERVER_IMPORTED_IGNORE = ("publicNets",)
VOLUME_CONVERGE = ("name", "labels", "deleteProtection")


def firewall_rules(h: HetznerCloud, ssh_port: int = 22) -> list[dict]:
    """Inbound rules (components/hosts/firewall.py); no outbound rule: Hetzner then allows all."""
    return inbound_rules(ssh_port, h.extra_ports)


def first_address(network: str) -> str:
    """Hetzner gives a server a /64; the server itself answers on its first address (::1)."""
    return str(ipaddress.ip_network(network, strict=False).network_address + 1)


@dataclass
class HetznerServerArgs:
    host: Host
    admins: tuple[Admin, ...]
    environment: str
    protection: Protection
    ssh_key_ids: Sequence[pulumi.Input[str]]


class HetznerServer(pulumi.ComponentResource):
    ipv4: pulumi.Output[str]
    ipv6: pulumi.Output[str]
    addresses: HostAddresses

    def __init__(self, name: str, args: HetznerServerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("socialcoop:hetzner:Server", name, None, opts)
        host, h, policy = args.host, args.host.hetzner, args.protection
        protect = policy.protect
        if h is None:
            raise ValueError(f"host {host.name} is not kind hetzner_cloud")
        labels = {"stack": args.environment, "role": "-".join(host.roles)}

        def opts_for(key: str | None, stateful: bool, adopt_ignore=(), **extra) -> pulumi.ResourceOptions:
            import_id = h.imports.get(key) if key else None
            return child_opts(
                policy, self, stateful=stateful, import_id=import_id, adopt_ignore=adopt_ignore, **extra
            )

        ips = {
            version: hcloud.PrimaryIp(
                f"{name}-{version}",
                name=f"{host.name}-{version}",
                type=version,
                location=h.location,  # the server's; `datacenter` is deprecated
                # no assignee_type: without an assignee_id the provider warns; the server's
                # public_nets assigns the address
                auto_delete=False,  # outlives the server: DNS keeps pointing at it
                delete_protection=protect,
                labels=labels,
                opts=opts_for(version, stateful=True, adopt_ignore=PRIMARY_IP_CONVERGE),
            )
            for version in ("ipv4", "ipv6")
        }
        firewall = hcloud.Firewall(
            f"{name}-firewall",
            name=host.name,
            rules=[hcloud.FirewallRuleArgs(**r) for r in firewall_rules(h, host.ssh_port)],
            labels=labels,
            opts=opts_for("firewall", stateful=False, adopt_ignore=FIREWALL_CONVERGE),
        )
        # In prod, changes to what only matters at creation are ignored: user_data and
        # ssh_keys force Hetzner to *replace* the server (a new, empty machine: an
        # outage and data loss), and a newer image name would do the same. A running
        # server's users, keys and packages are Ansible's job; cloud-init edits reach
        # new servers (alpha) only. See docs/servers.md.
        ignore = ["userData", "image", "sshKeys"] if protect else []
        if h.imports.get("server"):
            ignore += SERVER_IMPORTED_IGNORE
        server = hcloud.Server(
            f"{name}-server",
            name=host.name,
            server_type=h.server_type,
            image=h.image,
            location=h.location,
            backups=h.backups,
            ssh_keys=args.ssh_key_ids,
            user_data=render_user_data(host, args.admins, args.environment),
            firewall_ids=[firewall.id.apply(int)],
            public_nets=[
                {
                    "ipv4_enabled": True,
                    "ipv4": ips["ipv4"].id.apply(int),
                    "ipv6_enabled": True,
                    "ipv6": ips["ipv6"].id.apply(int),
                }
            ],
            labels=labels,
            delete_protection=protect,  # Hetzner requires both protections to match
            rebuild_protection=protect,
            opts=opts_for("server", stateful=True, adopt_ignore=SERVER_CONVERGE, ignore_changes=ignore),
        )
        self.ipv4 = ips["ipv4"].ip_address
        self.ipv6 = ips["ipv6"].ip_network.apply(first_address)
        for version, address in (("ipv4", self.ipv4), ("ipv6", self.ipv6)):
            hcloud.Rdns(
                f"{name}-ptr-{version}",
                primary_ip_id=ips[version].id.apply(int),
                ip_address=address,
                dns_ptr=host.fqdn,
                opts=opts_for(None, stateful=False),
            )
        if h.volume_gb is not None:
            volume = hcloud.Volume(
                f"{name}-volume",
                name=f"{host.name}-data",
                size=h.volume_gb,
                location=h.location,
                format="ext4",
                delete_protection=protect,
                labels=labels,
                opts=opts_for("volume", stateful=True, adopt_ignore=VOLUME_CONVERGE),
            )
            hcloud.VolumeAttachment(
                f"{name}-volume-attachment",
                server_id=server.id.apply(int),
                volume_id=volume.id.apply(int),
                automount=True,
                # deleting it takes the disk from under the running server: protected in prod
                opts=opts_for(None, stateful=True),
            )
        self.addresses = HostAddresses(host.fqdn, self.ipv4, self.ipv6)
        self.register_outputs({"ipv4": self.ipv4, "ipv6": self.ipv6})
