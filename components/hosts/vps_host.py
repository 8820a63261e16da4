"""A host without a cloud API (rhizome at Hetzner Robot, pando at iocoop): declared, and
optionally bootstrapped over SSH.

Nothing here can create or delete the machine; the component states its name and
addresses (for DNS and the inventory). With ``vps.bootstrap: true`` it also applies the
*base* concerns of cloud-init (admin users and keys, SSH hardening, fail2ban, security
updates, UTC, host name) and a host firewall with the cloud firewall's rules
(cloud-init/firewall.yaml) with cloud-init/bootstrap.sh:

1. ``remote.CopyToRemote`` uploads the script and its rendered data file;
2. ``remote.Command`` runs it as root.

Both are keyed on a sha256 of what is uploaded (``triggers``), so the bootstrap runs
again when, and only when, the rendered content changes. The connection pins the
host's public key from config (``vps.ssh_host_key``, pulumi-command's ``host_key``): an
impostor answering on the address fails the handshake before anything is sent. The
private key comes from the ``bootstrap_ssh_key`` config secret and stays a secret
(never echoed: the script reads no key and prints none).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import pulumi
from pulumi_command import remote

from components.core.errors import Secret
from components.core.protection import Protection, child_opts
from components.hosts.addresses import HostAddresses
from components.hosts.cloudinit import BOOTSTRAP_SCRIPT, bootstrap_digest, render_bootstrap_config
from components.hosts.models import Admin, Host, Vps


@dataclass
class VpsHostArgs:
    host: Host
    admins: tuple[Admin, ...]
    protection: Protection
    bootstrap_ssh_key: Secret | None = None


def remote_dir(user: str) -> str:
    """Where the bootstrap files land: the connecting user's home, never a shared /tmp."""
    return ("/root" if user == "root" else f"/home/{user}") + "/socialcoop-bootstrap"


class VpsHost(pulumi.ComponentResource):
    addresses: HostAddresses
    bootstrap_trigger: str | None

    def __init__(self, name: str, args: VpsHostArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("socialcoop:ssh:VpsHost", name, None, opts)
        host, vps = args.host, args.host.vps
        if vps is None:
            raise ValueError(f"host {host.name} is not kind vps")
        self.addresses = HostAddresses(host.fqdn, vps.ipv4, vps.ipv6)
        self.bootstrap_trigger = None
        if vps.bootstrap:
            self._bootstrap(name, args, vps)
        self.register_outputs({"fqdn": host.fqdn, "ipv4": vps.ipv4, "ipv6": vps.ipv6})

    def _bootstrap(self, name: str, args: VpsHostArgs, vps: Vps) -> None:
        host = args.host
        if args.bootstrap_ssh_key is None or vps.ssh_host_key is None:
            raise ValueError("bootstrap needs bootstrap_ssh_key and vps.ssh_host_key (config checks this)")
        conf = render_bootstrap_config(host, args.admins)
        trigger = bootstrap_digest(conf)
        self.bootstrap_trigger = trigger
        connection = remote.ConnectionArgs(
            host=vps.ipv4,
            port=host.ssh_port,
            user=vps.bootstrap_user,
            private_key=pulumi.Output.secret(args.bootstrap_ssh_key.value),
            host_key=vps.ssh_host_key,  # pinned: the handshake fails against any other key
        )
        where = remote_dir(vps.bootstrap_user)
        script = remote.CopyToRemote(
            f"{name}-bootstrap-script",
            connection=connection,
            source=pulumi.FileAsset(str(BOOTSTRAP_SCRIPT)),
            remote_path=f"{where}/bootstrap.sh",
            triggers=[trigger],
            opts=child_opts(args.protection, self, stateful=False),
        )
        data = remote.CopyToRemote(
            f"{name}-bootstrap-config",
            connection=connection,
            source=pulumi.StringAsset(conf),
            remote_path=f"{where}/bootstrap.conf",
            triggers=[trigger],
            opts=child_opts(args.protection, self, stateful=False),
        )
        sudo = "" if vps.bootstrap_user == "root" else "sudo -n "
        script_path, conf_path = (shlex.quote(f"{where}/{f}") for f in ("bootstrap.sh", "bootstrap.conf"))
        remote.Command(
            f"{name}-bootstrap",
            connection=connection,
            create=f"{sudo}bash {script_path} {conf_path}",
            triggers=[trigger],
            opts=child_opts(args.protection, self, stateful=False, depends_on=[script, data]),
        )
