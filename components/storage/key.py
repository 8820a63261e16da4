"""The stack's Spaces access key: read/write on the stack's own buckets and nothing else.

Mastodon and the nightly dump timer use it. It never gets ``fullaccess`` (which would
reach every bucket in the account, prod's included), so alpha's key cannot read or
write prod's media or backups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as digitalocean

from components.core.protection import Protection, child_opts


@dataclass
class SpacesKeyArgs:
    key_name: str  # shown in the DigitalOcean control panel, e.g. socialcoop-prod
    buckets: Sequence[pulumi.Input[str]]  # the stack's own bucket names
    protection: Protection  # the key is always new (nothing to adopt): protect only


class SpacesKey(pulumi.ComponentResource):
    access_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]  # always a secret

    def __init__(self, name: str, args: SpacesKeyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("socialcoop:storage:SpacesKey", name, None, opts)
        if not args.buckets:
            raise ValueError("a scoped key needs at least one bucket (no grants would mean no access)")
        key = digitalocean.SpacesKey(
            f"{name}-key",
            name=args.key_name,
            grants=[
                digitalocean.SpacesKeyGrantArgs(bucket=bucket, permission="readwrite")
                for bucket in args.buckets
            ],
            # Mastodon stops uploading media if this key disappears: protect it in prod.
            opts=child_opts(args.protection, self, stateful=True),
        )
        self.access_key = key.access_key
        self.secret_key = pulumi.Output.secret(key.secret_key)
        self.register_outputs({"access_key": self.access_key, "secret_key": self.secret_key})
