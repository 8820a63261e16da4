"""One DigitalOcean Spaces bucket: private, CORS for the Mastodon web app, backups expiring.

prod adopts its bucket (``import: <region>,<name>``) and protects it; alpha creates its own
with ``force_destroy`` so ``pulumi destroy -s alpha`` removes it even when it holds files.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as digitalocean

from components.core.protection import Protection, child_opts
from components.storage.models import Bucket
from components.storage.settings import endpoint_url

# The web app only reads media cross-origin; uploads go through Mastodon's server.
CORS_METHODS = ["GET", "HEAD"]
CORS_MAX_AGE_SECONDS = 3000
# While adopting (components/core/protection.py): the imported bucket keeps these as they are.
# Never name or region: those replace the bucket (a new, empty one).
BUCKET_CONVERGE = ("acl", "lifecycleRules", "versioning", "forceDestroy")
# An adopted bucket's CORS rules are imported too (ID `region,bucket`, as the bucket's): created,
# they would overwrite the live rules without a word. While adopting they stay as they are;
# phase 2 shows the change to the web app's rules as an update to review.
CORS_CONVERGE = ("corsRules",)


@dataclass
class SpacesBucketArgs:
    bucket: Bucket
    environment: str  # "alpha" buckets are disposable (force_destroy); prod's never are
    protection: Protection


def lifecycle_rules(bucket: Bucket) -> list[digitalocean.SpacesBucketLifecycleRuleArgs]:
    """Expire dumps under the backups prefix; expire old versions of everything if versioned."""
    rules = []
    if bucket.backups_prefix is not None:
        rules.append(
            digitalocean.SpacesBucketLifecycleRuleArgs(
                enabled=True,
                prefix=bucket.backups_prefix,
                expiration=digitalocean.SpacesBucketLifecycleRuleExpirationArgs(
                    days=bucket.backup_expire_days
                ),
            )
        )
    if bucket.versioning and bucket.noncurrent_expire_days is not None:
        rules.append(
            digitalocean.SpacesBucketLifecycleRuleArgs(
                enabled=True,
                noncurrent_version_expiration=digitalocean.SpacesBucketLifecycleRuleNoncurrentVersionExpirationArgs(
                    days=bucket.noncurrent_expire_days
                ),
            )
        )
    return rules


class SpacesBucket(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    endpoint: str  # https://<region>.digitaloceanspaces.com

    def __init__(self, name: str, args: SpacesBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("socialcoop:storage:SpacesBucket", name, None, opts)
        b = args.bucket
        bucket = digitalocean.SpacesBucket(
            f"{name}-bucket",
            name=b.name,
            region=b.region,
            acl="private",
            force_destroy=args.environment == "alpha",
            versioning=digitalocean.SpacesBucketVersioningArgs(enabled=b.versioning),
            lifecycle_rules=lifecycle_rules(b),
            opts=child_opts(
                args.protection, self, stateful=True, import_id=b.import_id, adopt_ignore=BUCKET_CONVERGE
            ),
        )
        # The separate resource: the bucket's inline cors_rules is deprecated (no drift detection).
        digitalocean.SpacesBucketCorsConfiguration(
            f"{name}-cors",
            bucket=bucket.name,
            region=b.region,
            cors_rules=[
                digitalocean.SpacesBucketCorsConfigurationCorsRuleArgs(
                    allowed_origins=list(b.cors_origins),
                    allowed_methods=CORS_METHODS,
                    allowed_headers=["*"],
                    max_age_seconds=CORS_MAX_AGE_SECONDS,
                )
            ],
            opts=child_opts(
                args.protection, self, stateful=False, import_id=b.import_id, adopt_ignore=CORS_CONVERGE
            ),
        )
        self.bucket_name = bucket.name
        self.endpoint = endpoint_url(b.region)
        self.register_outputs({"bucket_name": self.bucket_name, "endpoint": self.endpoint})
