"""The admins' SSH keys in Hetzner Cloud, once per stack.

Hetzner allows each public key (by fingerprint) only once per project, so every server
of the stack shares these. They matter when a server is created: Hetzner puts them in
root's authorized_keys (cloud-init then refuses root logins) and, because the server has
keys, does not e-mail a root password. The admin accounts themselves come from the same
list through cloud-init (components/hosts/cloudinit.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_hcloud as hcloud

from components.core.protection import Protection, child_opts
from components.hosts.models import Admin

# While adopting (components/core/protection.py): an imported key keeps its name and labels.
# Never publicKey: a different key is another key.
SSH_KEY_CONVERGE = ("name", "labels")


@dataclass
class AdminKeysArgs:
    admins: tuple[Admin, ...]
    environment: str
    protection: Protection


class AdminKeys(pulumi.ComponentResource):
    ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: AdminKeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("socialcoop:hetzner:AdminKeys", name, None, opts)
        keys = [
            hcloud.SshKey(
                f"{name}-{admin.name}",
                name=admin.name,
                public_key=admin.ssh_key,
                labels={"stack": args.environment},
                # A key is no state: replacing it affects no running server.
                opts=child_opts(
                    args.protection,
                    self,
                    stateful=False,
                    import_id=admin.hcloud_import,
                    adopt_ignore=SSH_KEY_CONVERGE,
                ),
            )
            for admin in args.admins
        ]
        self.ids = [k.id for k in keys]
        self.register_outputs({"ids": self.ids})
