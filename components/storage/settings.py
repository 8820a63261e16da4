"""What Mastodon and the nightly dump timer are told about object storage (pure functions).

No Pulumi resources here: the text and URLs are rendered from the config (and the key pair
once the cloud has made it) and tested directly. docs/storage.md explains how they are used.
"""

from __future__ import annotations

from components.core.stack import StackConfig
from components.storage.models import Bucket

# Which hosts dump Postgres into the stack's bucket. prod's staging host (pando, role
# mastodon_staging) belongs to alpha: it must never get prod's key or write into prod's bucket.
DUMP_ROLES = {"prod": ("mastodon",), "alpha": ("mastodon", "mastodon_staging")}

NO_STORAGE = "none: this stack has no storage section, so Mastodon keeps media on the host's disk"
NO_MEDIA_BUCKET = "none: no bucket has mastodon: true, so Mastodon keeps media on the host's disk"
NO_BACKUPS = "none: no bucket has backups_prefix (or no host has a mastodon role), so no dump target"


def endpoint_host(region: str) -> str:
    return f"{region}.digitaloceanspaces.com"


def endpoint_url(region: str) -> str:
    return f"https://{endpoint_host(region)}"


def mastodon_s3_env(environment: str, bucket: Bucket, access_key: str, secret_key: str) -> str:
    """The block to paste into Mastodon's .env.production (it contains the secret key)."""
    lines = [
        f"# Object storage: pulumi stack output -s {environment} --show-secrets mastodon_s3",
        "S3_ENABLED=true",
        f"S3_BUCKET={bucket.name}",
        f"S3_REGION={bucket.region}",
        f"S3_ENDPOINT={endpoint_url(bucket.region)}",
        f"S3_HOSTNAME={endpoint_host(bucket.region)}",
    ]
    if bucket.alias_host is not None:
        lines.append(f"S3_ALIAS_HOST={bucket.alias_host}")
    lines += [f"AWS_ACCESS_KEY_ID={access_key}", f"AWS_SECRET_ACCESS_KEY={secret_key}"]
    for line in lines:  # an env file: a value with a line break would set a second variable
        if not isinstance(line, str) or any(c in line for c in "\n\r\0"):
            raise ValueError(f"{line.split('=', 1)[0]}: refusing to write a line break into .env.production")
    return "\n".join(lines) + "\n"


def backup_targets(cfg: StackConfig) -> dict[str, dict[str, str | int]]:
    """Per dumping host: where its pg-dump-to-s3 timer writes, e.g. s3://social-coop-media/backups/rhizome/.

    The path uses the host's name in this config, so renaming a host starts a new path. The
    bucket's lifecycle rule expires the whole backups prefix, so the old path's dumps still
    expire; nothing relies on a prune script knowing the old name.
    """
    buckets = tuple(cfg.storage.buckets.values()) if cfg.storage else ()
    bucket = next((b for b in buckets if b.backups_prefix is not None), None)
    if bucket is None or bucket.backup_expire_days is None:  # never: given with the prefix
        return {}
    return {
        name: {
            "url": f"s3://{bucket.name}/{bucket.backups_prefix}{name}/",
            "endpoint": endpoint_url(bucket.region),
            "expire_days": bucket.backup_expire_days,
        }
        for name, host in cfg.hosts.items()
        if set(host.roles) & set(DUMP_ROLES[cfg.environment])
    }
