"""What a stack file says about object storage (components/spaces_bucket.py, spaces_key.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from components import config
from components.models.common import Bool, Model, whole

Region = Literal[tuple(config.PROVIDERS["digitalocean_spaces"]["regions"])]
BucketName = Annotated[str, StringConstraints(pattern=config.BUCKET_NAME.pattern)]
Days = whole(1, 3650)


class Bucket(Model):
    region: Region | None = Field(None, description="Default: storage.region.")
    mastodon: Bool = Field(False, description="Holds the instance's media; at most one bucket.")
    backups_prefix: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9/_-]*/$")
    backup_expire_days: Days | None = None
    versioning: Bool = False
    noncurrent_expire_days: Days | None = None
    cors_origins: list[Annotated[str, StringConstraints(pattern=r"^https://[a-z0-9.-]+$")]] | None = None
    alias_host: str | None = None
    import_: str | None = Field(None, alias="import", pattern=r"^[a-z0-9]+,[a-z0-9-]+$")


class Storage(Model):
    region: Region
    buckets: dict[BucketName, Bucket] = Field(min_length=1)
    other_stack_buckets: list[BucketName] = []
