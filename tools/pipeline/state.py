"""The Pulumi state buckets: create them versioned, list and restore a stack's checkpoint, drill it.

    python -m tools.state create                       # the bucket of $PULUMI_BACKEND_URL, versioned
    python -m tools.state versions --stack alpha       # the checkpoint's stored versions, newest first
    python -m tools.state restore --stack alpha [--version-id ID]
    python -m tools.state drill --stack alpha          # break the checkpoint, restore it, preview
    python -m tools.state prune --keep-days 90         # delete old noncurrent versions

The bucket is the one in $PULUMI_BACKEND_URL, in the form docs/ci.md gives
(`s3://BUCKET?endpoint=https://ams3.digitaloceanspaces.com&region=ams3&s3ForcePathStyle=true`),
with the Spaces key in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the CI jobs export them) and,
for a private CA (the tests' local server), SSL_CERT_FILE. docs/ci.md, "State", says when to run
what. Every failure ends in one line on stderr and exit status 1 (2: bad usage).

- `restore` copies an earlier version of `.pulumi/stacks/<project>/<stack>.json` over the current
  one (S3 CopyObject from a version id: the broken version stays in the history). Without
  --version-id it takes the newest version, older than the current one, that is a readable
  checkpoint of this stack.
- `drill` proves the restore path on the live bucket: it holds the stack's Pulumi lock (so an
  `up` started meanwhile fails at once instead of writing), overwrites the checkpoint with
  garbage, restores it as above, releases the lock, checks the content is byte for byte what it
  was, then runs `pulumi preview --expect-no-changes` (skip that with --no-preview). Run it on
  alpha; it refuses prod unless --yes-prod is given.
- `prune` is the retention: Spaces' lifecycle rules can only expire current objects, not old
  versions, so this deletes noncurrent versions older than --keep-days, always keeping the
  newest --keep noncurrent versions of every key.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import hashlib
import json
import os
import socket
import subprocess
import sys
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path

PROJECT = "socialcoop-infra"  # Pulumi.yaml's name: the state's folder in the bucket
ORGANIZATION = "organization"  # what the self-managed backend calls every stack's org
GARBAGE = b"socialcoop-infra state drill: this checkpoint was overwritten on purpose\n"


class StateError(Exception):
    """A failure with a message fit for one line of a job log."""


@dataclass(frozen=True)
class Backend:
    bucket: str
    endpoint: str | None
    region: str | None
    path_style: bool

    @classmethod
    def parse(cls, url: str) -> Backend:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise StateError(f"PULUMI_BACKEND_URL = {url!r}: expected s3://BUCKET?endpoint=...&region=...")
        query = dict(urllib.parse.parse_qsl(parts.query))
        return cls(
            bucket=parts.netloc,
            endpoint=query.get("endpoint"),
            region=query.get("region"),
            path_style=query.get("s3ForcePathStyle", "").lower() == "true",
        )

    def client(self):
        import boto3
        from botocore.config import Config

        config = Config(
            s3={"addressing_style": "path" if self.path_style else "auto"},
            retries={"max_attempts": 3},
            connect_timeout=10,
            read_timeout=30,
            request_checksum_calculation="when_required",  # as the Pulumi CLI does with endpoint=
            response_checksum_validation="when_required",
        )
        verify = os.environ.get("AWS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or None
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=self.region, config=config, verify=verify
        )


def checkpoint_key(stack: str) -> str:
    return f".pulumi/stacks/{PROJECT}/{stack}.json"


def lock_prefix(stack: str) -> str:
    return f".pulumi/locks/{ORGANIZATION}/{PROJECT}/{stack}/"


def _call(what: str, fn, **kwargs):
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**kwargs)
    except ClientError as e:
        error = e.response.get("Error", {})
        raise StateError(
            f"{what}: {error.get('Code', '?')}: {error.get('Message', '')}".rstrip(": ")
        ) from None
    except BotoCoreError as e:
        raise StateError(f"{what}: {e}") from None


# --------------------------------------------------------------------------- the bucket


def create(s3, backend: Backend) -> list[str]:
    """Create the bucket if it is missing, turn versioning on, and abort stale uploads after a day."""
    done = []
    existing = {b["Name"] for b in _call("list buckets", s3.list_buckets).get("Buckets", [])}
    if backend.bucket not in existing:
        where = (
            {"CreateBucketConfiguration": {"LocationConstraint": backend.region}} if backend.region else {}
        )
        _call(f"create bucket {backend.bucket}", s3.create_bucket, Bucket=backend.bucket, **where)
        done.append(f"created bucket {backend.bucket}")
    _call(
        "turn versioning on",
        s3.put_bucket_versioning,
        Bucket=backend.bucket,
        VersioningConfiguration={"Status": "Enabled"},
    )
    done.append("versioning: Enabled")
    # Spaces' lifecycle knows time-based expiration and incomplete multipart uploads only: old
    # versions are pruned by `prune`, not by a rule.
    _call(
        "set the lifecycle rule",
        s3.put_bucket_lifecycle_configuration,
        Bucket=backend.bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "abort-incomplete-uploads",
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            ]
        },
    )
    done.append("lifecycle: incomplete uploads aborted after 1 day")
    return done


def require_versioning(s3, backend: Backend) -> None:
    status = _call("read versioning", s3.get_bucket_versioning, Bucket=backend.bucket).get("Status")
    if status != "Enabled":
        raise StateError(
            f"bucket {backend.bucket}: versioning is {status or 'off'}, so an overwritten checkpoint is "
            "gone for good: run `python -m tools.state create` (docs/ci.md, 'State')"
        )


def versions(s3, backend: Backend, key: str) -> list[dict]:
    """Every stored version of `key`, newest first (delete markers included, flagged)."""
    out, kwargs = [], {"Bucket": backend.bucket, "Prefix": key}
    for _ in range(1000):
        page = _call(f"list versions of {key}", s3.list_object_versions, **kwargs)
        out += [{**v, "DeleteMarker": False} for v in page.get("Versions", []) if v["Key"] == key]
        out += [{**m, "DeleteMarker": True} for m in page.get("DeleteMarkers", []) if m["Key"] == key]
        if not page.get("IsTruncated"):
            break
        kwargs.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])
    return sorted(out, key=lambda v: v["LastModified"], reverse=True)


def read_version(s3, backend: Backend, key: str, version_id: str) -> bytes:
    body = _call(
        f"read {key} version {version_id}",
        s3.get_object,
        Bucket=backend.bucket,
        Key=key,
        VersionId=version_id,
    )
    return body["Body"].read()


def is_checkpoint(data: bytes, stack: str) -> bool:
    try:
        doc = json.loads(data)
    except ValueError:
        return False
    checkpoint = doc.get("checkpoint") if isinstance(doc, dict) else None
    return isinstance(checkpoint, dict) and str(checkpoint.get("stack", "")).endswith(f"/{stack}")


def restore(s3, backend: Backend, stack: str, version_id: str | None = None) -> str:
    """Copy an earlier version over the checkpoint; returns the version id restored."""
    key = checkpoint_key(stack)
    found = versions(s3, backend, key)
    if not found:
        raise StateError(f"{backend.bucket}/{key}: no versions at all: is this the stack's bucket?")
    if version_id is None:
        older = [v for v in found[1:] if not v["DeleteMarker"]]
        for v in older:
            if is_checkpoint(read_version(s3, backend, key, v["VersionId"]), stack):
                version_id = v["VersionId"]
                break
        else:
            raise StateError(
                f"{backend.bucket}/{key}: no earlier version is a readable checkpoint of {stack}"
            )
    elif not any(v["VersionId"] == version_id and not v["DeleteMarker"] for v in found):
        raise StateError(f"{backend.bucket}/{key}: no version {version_id!r} (see `versions`)")
    _call(
        f"copy {key} version {version_id} over the current one",
        s3.copy_object,
        Bucket=backend.bucket,
        Key=key,
        CopySource={"Bucket": backend.bucket, "Key": key, "VersionId": version_id},
    )
    return version_id


def take_lock(s3, backend: Backend, stack: str) -> str:
    """Write a lock as the Pulumi CLI does; refuse if the stack is locked already."""
    held = _call("list locks", s3.list_objects_v2, Bucket=backend.bucket, Prefix=lock_prefix(stack))
    if held.get("KeyCount", 0):
        names = ", ".join(o["Key"] for o in held.get("Contents", []))
        raise StateError(f"stack {stack} is locked ({names}): an update is running, or `pulumi cancel` it")
    key = f"{lock_prefix(stack)}{uuid.uuid4()}.json"
    lock = {
        "pid": os.getpid(),
        "username": getpass.getuser(),
        "hostname": socket.gethostname(),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
    }
    _call("write the lock", s3.put_object, Bucket=backend.bucket, Key=key, Body=json.dumps(lock).encode())
    return key


def drill(s3, backend: Backend, stack: str, echo=print) -> None:
    require_versioning(s3, backend)
    key = checkpoint_key(stack)
    found = versions(s3, backend, key)
    if not found or found[0]["DeleteMarker"]:
        raise StateError(f"{backend.bucket}/{key}: no current checkpoint to drill with")
    before = read_version(s3, backend, key, found[0]["VersionId"])
    if not is_checkpoint(before, stack):
        raise StateError(f"{backend.bucket}/{key}: the current checkpoint is unreadable: run `restore` first")
    lock = take_lock(s3, backend, stack)
    echo(f"drill: locked {stack} ({lock})")
    try:
        _call("overwrite the checkpoint", s3.put_object, Bucket=backend.bucket, Key=key, Body=GARBAGE)
        echo(f"drill: overwrote {key} with garbage")
        restored = restore(s3, backend, stack)
        echo(f"drill: restored version {restored}")
    finally:
        _call("remove the lock", s3.delete_object, Bucket=backend.bucket, Key=lock)
        echo("drill: lock released")
    after = _call(f"read {key}", s3.get_object, Bucket=backend.bucket, Key=key)["Body"].read()
    if after != before:
        raise StateError(f"{key}: the restored checkpoint differs from the one before the drill")
    echo(f"drill: {key} is byte for byte what it was (sha256 {hashlib.sha256(after).hexdigest()[:16]})")


def prune(s3, backend: Backend, keep_days: int, keep: int, now: dt.datetime | None = None) -> list[str]:
    """Delete noncurrent versions older than keep_days, keeping the newest `keep` of each key."""
    now = now or dt.datetime.now(dt.UTC)
    by_key: dict[str, list[dict]] = {}
    kwargs = {"Bucket": backend.bucket}
    for _ in range(10_000):
        page = _call("list versions", s3.list_object_versions, **kwargs)
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            by_key.setdefault(v["Key"], []).append(v)
        if not page.get("IsTruncated"):
            break
        kwargs.update(KeyMarker=page["NextKeyMarker"], VersionIdMarker=page["NextVersionIdMarker"])
    deleted = []
    for key, found in sorted(by_key.items()):
        noncurrent = sorted(
            (v for v in found if not v["IsLatest"]), key=lambda v: v["LastModified"], reverse=True
        )
        for v in noncurrent[keep:]:
            if now - v["LastModified"] > dt.timedelta(days=keep_days):
                _call(
                    f"delete {key} version {v['VersionId']}",
                    s3.delete_object,
                    Bucket=backend.bucket,
                    Key=key,
                    VersionId=v["VersionId"],
                )
                deleted.append(f"{key} {v['VersionId']}")
    return deleted


# --------------------------------------------------------------------------- command line


def preview_no_changes(stack: str, cwd: Path) -> int:
    command = [
        "pulumi",
        "preview",
        "--expect-no-changes",
        "--non-interactive",
        "--color",
        "never",
        "--stack",
        stack,
    ]
    print(f"drill: {' '.join(command)}", flush=True)
    try:
        return subprocess.run(command, cwd=cwd, timeout=1800).returncode
    except FileNotFoundError:
        raise StateError("the pulumi CLI is not on PATH (docs/ci.md, 'Pins')") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.state", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("create", help="create the bucket if missing, versioned")
    for name in ("versions", "restore", "drill"):
        p = sub.add_parser(name)
        p.add_argument("--stack", required=True, choices=["alpha", "prod"])
        if name == "restore":
            p.add_argument(
                "--version-id", help="the version to restore (default: the newest good earlier one)"
            )
        if name == "drill":
            p.add_argument("--no-preview", action="store_true", help="skip the closing `pulumi preview`")
            p.add_argument("--yes-prod", action="store_true", help="allow the drill on prod's bucket")
    p = sub.add_parser("prune")
    p.add_argument("--keep-days", type=int, default=90)
    p.add_argument("--keep", type=int, default=10, help="noncurrent versions always kept per key")
    args = parser.parse_args(argv)
    url = os.environ.get("PULUMI_BACKEND_URL", "")
    try:
        backend = Backend.parse(url)
        s3 = backend.client()
        if args.command == "create":
            for line in create(s3, backend):
                print(f"state: {line}")
        elif args.command == "versions":
            for v in versions(s3, backend, checkpoint_key(args.stack)):
                what = "delete marker" if v["DeleteMarker"] else f"{v['Size']} bytes"
                print(
                    f"{v['VersionId']}  {v['LastModified']:%Y-%m-%d %H:%M:%S}  {what}{'  (current)' if v['IsLatest'] else ''}"
                )
        elif args.command == "restore":
            restored = restore(s3, backend, args.stack, args.version_id)
            print(f"state: restored {checkpoint_key(args.stack)} from version {restored}")
        elif args.command == "drill":
            if args.stack == "prod" and not args.yes_prod:
                raise StateError(
                    "the drill overwrites the checkpoint for a moment: run it on alpha (or add --yes-prod)"
                )
            drill(s3, backend, args.stack)
            if not args.no_preview:
                status = preview_no_changes(args.stack, Path.cwd())
                if status != 0:
                    raise StateError(
                        f"pulumi preview --expect-no-changes exited {status}: the restored state differs"
                    )
                print("drill: passed: the restored state plans no change")
        elif args.command == "prune":
            deleted = prune(s3, backend, args.keep_days, args.keep)
            print(f"state: deleted {len(deleted)} old version(s)")
    except StateError as e:
        print(f"tools.state: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
