"""What a stack file says about object storage (components/storage/bucket.py, spaces_key.py,
storage_settings.py)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from components.core.types import (
    PROVIDERS,
    Bool,
    Model,
    Named,
    Refused,
    choice,
    host_name,
    passing,
    pattern,
    whole,
)

REGIONS = PROVIDERS["digitalocean_spaces"]["regions"]
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
IPV4_SHAPED = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
BUCKET_RULE = (
    "bucket names are 3-63 characters of lowercase letters, digits and single hyphens, starting and "
    "ending with a letter or digit, not shaped like an IP address"
)
MAX_PREFIX = 512
MAX_ORIGINS = 20
Days = Annotated[int, whole(1, 3650, "a positive number of days (1-3650)")]
Region = Annotated[str, choice(REGIONS)]
# What Mastodon writes into its media bucket: Paperclip keys `:prefix_url:class/:attachment/
# :id_partition/:style/:filename`, `cache/` before copies of remote media (mastodon's
# config/initializers/paperclip.rb), for each model with attachments (the ones `tootctl media
# remove-orphans` knows, lib/mastodon/cli/media.rb, and PreviewCardProvider's icons). Its
# `backups/` holds the users' own archive exports (app/models/backup.rb: `has_attached_file
# :dump`, keys backups/dumps/...). An expiry rule covering any of them deletes Mastodon's data.
MASTODON_PREFIXES = {
    "accounts/": "avatars and headers",
    "backups/": "users' archive exports",
    "cache/": "copies of remote media",
    "custom_emojis/": "custom emoji",
    "imports/": "users' imports",
    "media_attachments/": "posts' media",
    "preview_card_providers/": "link preview icons",
    "preview_cards/": "link previews",
    "site_uploads/": "the server's own images",
}
# Mastodon deletes users' archives itself after its backups_retention_period, 7 days unless
# an admin changes it (Administration > Content retention). The dump expiry that shares
# `backups/` with them (prod's layout today, docs/storage.md) must not delete them sooner.
MASTODON_ARCHIVE_DAYS = 7
SHARED_PREFIX = "backups/"


def prefix_problem(prefix: str, days: int) -> str | None:
    """A lifecycle prefix that would expire what Mastodon keeps in the bucket."""
    for theirs, what in MASTODON_PREFIXES.items():
        if not (prefix.startswith(theirs) or theirs.startswith(prefix)):
            continue
        if prefix == SHARED_PREFIX and days >= MASTODON_ARCHIVE_DAYS:
            return None  # today's layout: see docs/storage.md, "backups/ is shared"
        if prefix == SHARED_PREFIX:
            return (
                f"{SHARED_PREFIX} also holds Mastodon's {what}, which Mastodon keeps "
                f"{MASTODON_ARCHIVE_DAYS} days: expire after at least {MASTODON_ARCHIVE_DAYS} days, "
                "or better give the dumps a prefix of their own, e.g. db-backups/"
            )
        return (
            f"overlaps Mastodon's {theirs} ({what}): the expiry would delete them; give the dumps "
            "a prefix of their own, e.g. db-backups/"
        )
    return None


def bucket_name_ok(name: str) -> bool:
    return bool(BUCKET_NAME.fullmatch(name)) and not IPV4_SHAPED.fullmatch(name) and "--" not in name


Origin = Annotated[
    str,
    pattern(
        re.compile(r"^https://[a-z0-9.-]+$"),
        "an origin like https://social.coop",
        then=lambda v: v.rstrip("."),  # the host name in its one form, as browsers send it
        max_length=262,
    ),
]
BucketName = Annotated[str, passing(bucket_name_ok, BUCKET_RULE, BUCKET_NAME.pattern)]


class Bucket(Named):
    region: Region = Field(
        "",  # not set: storage.region (Storage._default_region)
        description="a Spaces region",
        json_schema_extra={"x-default": "`storage.region`"},
    )
    mastodon: Bool = Field(False, description="this bucket holds the instance's media; at most one bucket")
    backups_prefix: (
        Annotated[
            str,
            pattern(
                re.compile(r"^[a-z0-9][a-z0-9/_-]*/$"),
                "a prefix ending in /, e.g. backups/",
                max_length=MAX_PREFIX,
            ),
        ]
        | None
    ) = Field(
        None,
        description="where database dumps go, ending in `/`, e.g. `db-backups/` (dumps under "
        "`db-backups/<host>/`); at most one bucket; give it with `backup_expire_days`. Never one of Mastodon's "
        "own prefixes (`media_attachments/`, `accounts/`, `cache/`..., above or below them); `backups/` "
        "(Mastodon's archive exports: prod's layout today) only with at least 7 days; "
        f"at most {MAX_PREFIX} characters (an S3 key has at most 1,024 bytes, and a dump's key adds "
        "`<host>/` and its file name)",
    )
    backup_expire_days: Days | None = Field(None, description="delete dumps after this many days, 1 to 3650")
    versioning: Bool = Field(False, description="keep old versions of overwritten files")
    noncurrent_expire_days: Days | None = Field(
        None, description="with `versioning: true`: delete old versions after this many days, 1 to 3650"
    )
    cors_origins: tuple[Origin, ...] = Field(
        (),  # not set: the instance's origin (StackConfig._defaults)
        description="origins like `https://social.coop`: `https://` and a host name (at most 262 characters)",
        json_schema_extra={"x-default": "`[https://<instance_domain>]`"},
    )
    alias_host: Annotated[str, host_name("a host name like files.social.coop")] | None = Field(
        None, description="a host name that serves the bucket, e.g. `files.social.coop`"
    )
    import_id: (
        Annotated[
            str, pattern(re.compile(r"^[a-z0-9]+,[a-z0-9-]+$"), "<region>,<bucket name>", max_length=80)
        ]
        | None
    ) = Field(
        None,
        alias="import",
        description="`<region>,<bucket name>`: adopt the existing bucket; prod only",
        json_schema_extra={"x-default": "none (create it)"},
    )

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        if len(origins) > MAX_ORIGINS:
            raise Refused(f"at most {MAX_ORIGINS} origins (Spaces keeps one CORS rule for them)")
        for i, origin in enumerate(origins):
            if origin in origins[:i]:
                raise Refused("each origin once", f"[{i}]", origin)
        return origins

    @model_validator(mode="after")
    def _lifecycle(self) -> Bucket:
        prefix, days = self.backups_prefix, self.backup_expire_days
        if (prefix is None) != (days is None):
            raise Refused("give backups_prefix and backup_expire_days together", "backup_expire_days", days)
        if prefix is not None and days is not None:  # on every bucket: `mastodon` is one line to flip
            problem = prefix_problem(prefix, days)
            if problem:
                key = "backup_expire_days" if prefix == SHARED_PREFIX else "backups_prefix"
                raise Refused(problem, key, getattr(self, key))
        if self.noncurrent_expire_days is not None and not self.versioning:
            raise Refused(
                "only meaningful with versioning: true", "noncurrent_expire_days", self.noncurrent_expire_days
            )
        return self


class Storage(Model):
    """DigitalOcean Spaces; the why and how are in [storage.md](storage.md)."""

    region: Region = Field(description="a Spaces region from `data/providers.yaml`, e.g. `ams3`")
    buckets: dict[BucketName, Bucket] = Field(
        description="buckets by name (`storage.buckets.<name>`): 3 to 63 lowercase letters, digits and single "
        "hyphens, not shaped like an IP address; alpha's start with `alpha-`, prod's don't, and neither "
        "stack's file may name a bucket the other's declares (components/core/boundary.py)",
        json_schema_extra={"x-default": "required, at least one"},
    )

    @model_validator(mode="before")
    @classmethod
    def _default_region(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("buckets"), dict):
            region = data.get("region")
            buckets = {
                k: {"region": region, **b} if isinstance(b, dict) and b.get("region") is None else b
                for k, b in data["buckets"].items()
            }
            data = {**data, "buckets": buckets}
        return data

    @model_validator(mode="after")
    def _rules(self) -> Storage:
        if not self.buckets:
            raise Refused(
                "give at least one bucket, or omit storage for Mastodon's local file storage", "buckets", {}
            )
        for name, b in self.buckets.items():
            b.named(name)
            if b.import_id and b.import_id != f"{b.region},{name}":
                raise Refused(f"must be {b.region},{name}", f"buckets.{name}.import", b.import_id)
        for what, rule in (
            ("mastodon", "mastodon: true"),
            ("backups_prefix", "backups_prefix: the dump timers write to one place"),
        ):
            having = [b.name for b in self.buckets.values() if getattr(b, what)]
            if len(having) > 1:
                raise Refused(f"at most one bucket may have {rule}", "buckets", having)
        return self
