"""The Pulumi state in a real S3 server (moto, TLS, 127.0.0.1) through the real CLI: writes, locks,
secrets, and the state-restore drill (tools/pipeline/state.py)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time

import pytest

from benchmarks.diff import copy_tracked
from tests.pipeline.conftest import PASSPHRASE, cli_env
from tests.pipeline.s3server import ACCESS_KEY, SECRET_KEY, listening_pids, moto_server
from tools.check.engine import FAKE_TOKENS, REPO, throwaway_ssh_key
from tools.pipeline import state

pytestmark = pytest.mark.pipeline
BUCKET = "socialcoop-pulumi-state-alpha"
CHECKPOINT = state.checkpoint_key("alpha")
SSH_KEY = throwaway_ssh_key()


class Stack:
    """A copy of the repo whose alpha stack lives in the local S3 server; every output kept."""

    def __init__(self, toolbox, s3, bucket, folder):
        self.s3, self.bucket, self.folder = s3, bucket, folder
        self.env = cli_env(toolbox, s3, bucket)
        self.outputs: list[str] = []
        import boto3  # here, not at the top: `make test` collects this file without running it
        from botocore.config import Config

        self.client = boto3.client(
            "s3",
            endpoint_url=s3["endpoint"],
            region_name="ams3",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            verify=str(s3["ca"]),
            config=Config(s3={"addressing_style": "path"}),
        )

    def run(self, *args: str, input: str | None = None, **env) -> subprocess.CompletedProcess:
        p = subprocess.run(
            args,
            cwd=self.folder,
            env={**self.env, **env},
            input=input,
            capture_output=True,
            text=True,
            timeout=600,
        )
        self.outputs.append(p.stdout + p.stderr)
        return p

    def pulumi(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run("pulumi", *args, "--non-interactive", "--color", "never", **kw)

    def tool(self, *args: str) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "tools.state", *args)

    def objects(self) -> dict[str, str]:
        """Every current object: key -> ETag."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}

    def every_version(self) -> dict[tuple[str, str], bytes]:
        found = {}
        for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket):
            for v in page.get("Versions", []):
                body = self.client.get_object(Bucket=self.bucket, Key=v["Key"], VersionId=v["VersionId"])
                found[v["Key"], v["VersionId"]] = body["Body"].read()
        return found


@pytest.fixture(scope="module")
def alpha(toolbox, s3, tmp_path_factory) -> Stack:
    """Bucket created by `tools.pipeline.state create`; `pulumi login` with docs/ci.md's URL; stack init; a
    secret set; `pulumi up`: alpha's state written to the bucket by the real CLI."""
    stack = Stack(toolbox, s3, BUCKET, copy_tracked(tmp_path_factory.mktemp("repo")))
    created = stack.tool("create")
    assert created.returncode == 0, created.stderr
    for step in (
        ("login", stack.env["PULUMI_BACKEND_URL"]),
        ("stack", "init", "alpha"),
    ):
        p = stack.run("pulumi", *step)
        assert p.returncode == 0, p.stderr
    p = stack.run(
        "pulumi", "config", "set", "--secret", "bootstrap_ssh_key", "--stack", "alpha", input=SSH_KEY
    )
    assert p.returncode == 0, p.stderr
    p = stack.pulumi("up", "--yes", "--stack", "alpha")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "12 created" in p.stdout
    return stack


def test_create_makes_the_bucket_versioned_and_is_safe_to_rerun(alpha):
    assert alpha.client.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    [rule] = alpha.client.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    again = alpha.tool("create")
    assert (
        again.returncode == 0
        and "created bucket" not in again.stdout
        and "versioning: Enabled" in again.stdout
    )


def test_up_wrote_the_state_and_a_preview_writes_nothing(alpha):
    objects = alpha.objects()
    assert CHECKPOINT in objects and ".pulumi/meta.yaml" in objects
    assert any(k.startswith(".pulumi/history/socialcoop-infra/alpha/") for k in objects)
    assert any(k.startswith(".pulumi/backups/socialcoop-infra/alpha/") for k in objects)
    versions_before = alpha.every_version().keys()
    p = alpha.pulumi("preview", "--expect-no-changes", "--stack", "alpha")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "12 unchanged" in p.stdout
    assert alpha.objects() == objects  # every key and ETag
    assert alpha.every_version().keys() == versions_before  # and no new version of anything


def test_an_up_while_the_stack_is_locked_fails_at_once_and_cancel_clears_it(alpha, tmp_path):
    lock = state.take_lock(alpha.client, state.Backend.parse(alpha.env["PULUMI_BACKEND_URL"]), "alpha")
    objects = alpha.objects()
    started = time.monotonic()
    log = tmp_path / "standin.log"
    p = alpha.pulumi("up", "--yes", "--stack", "alpha", SOCIALCOOP_STANDIN_LOG=str(log))
    assert p.returncode != 0 and "the stack is currently locked" in p.stderr
    assert time.monotonic() - started < 30
    assert not log.exists()  # no provider was even started
    assert alpha.objects() == objects
    p = alpha.pulumi("cancel", "--yes", "--stack", "alpha")
    assert p.returncode == 0, p.stderr
    assert lock not in alpha.objects() and not any(".pulumi/locks/" in k for k in alpha.objects())


def test_no_secret_is_stored_or_printed_in_clear(alpha):
    secrets = {
        "passphrase": PASSPHRASE,
        "ssh key": SSH_KEY.splitlines()[1],
        "spaces secret": SECRET_KEY,
        **{name: value for name, value in FAKE_TOKENS.items()},
    }
    stored = alpha.every_version()
    assert len(stored) > 10
    for (key, version), body in stored.items():
        for what, value in secrets.items():
            assert value.encode() not in body, f"{what} in clear in {key} ({version})"
    assert any(
        b'"secure"' in body or b"ciphertext" in body for body in stored.values()
    )  # it is there, encrypted
    for output in alpha.outputs:
        for what, value in secrets.items():
            assert value not in output, f"{what} printed"


def test_the_checksum_warning_is_gone_with_the_ci_setting(alpha):
    """Without AWS_RESPONSE_CHECKSUM_VALIDATION=when_required (.gitlab-ci.yml sets it), the SDK
    warns on every read from a server that sends no checksum, as Spaces does."""
    bare = alpha.pulumi("stack", "ls", AWS_RESPONSE_CHECKSUM_VALIDATION="when_supported")
    assert "Response has no supported checksum" in bare.stderr
    quiet = alpha.pulumi("stack", "ls")
    assert quiet.returncode == 0 and "checksum" not in (quiet.stdout + quiet.stderr).lower()
    # (tests/pipeline/test_merge_request_pipeline.py: nor in the preview posted to a merge request)


def test_drill_breaks_the_checkpoint_restores_it_and_the_preview_plans_no_change(alpha):
    before = [
        v["VersionId"]
        for v in state.versions(
            alpha.client, state.Backend.parse(alpha.env["PULUMI_BACKEND_URL"]), CHECKPOINT
        )
    ]
    p = alpha.tool("drill", "--stack", "alpha")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "drill: passed: the restored state plans no change" in p.stdout
    after = state.versions(alpha.client, state.Backend.parse(alpha.env["PULUMI_BACKEND_URL"]), CHECKPOINT)
    assert [v["VersionId"] for v in after[2:]] == before  # garbage, then the restored copy
    assert not any(".pulumi/locks/" in k for k in alpha.objects())


def test_a_deleted_checkpoint_is_restored_from_its_previous_version(alpha):
    alpha.client.delete_object(Bucket=BUCKET, Key=CHECKPOINT)  # a delete marker: what `aws s3 rm` does
    broken = alpha.run("pulumi", "stack", "export", "--stack", "alpha")
    assert broken.returncode != 0
    p = alpha.tool("restore", "--stack", "alpha")
    assert p.returncode == 0, p.stderr
    p = alpha.pulumi("preview", "--expect-no-changes", "--stack", "alpha")
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]


def test_prune_keeps_the_newest_versions_of_every_key(alpha):
    backend = state.Backend.parse(alpha.env["PULUMI_BACKEND_URL"])
    current = alpha.objects()
    assert len(state.versions(alpha.client, backend, CHECKPOINT)) > 5
    assert state.prune(alpha.client, backend, keep_days=30, keep=3) == []  # nothing is 30 days old
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    assert state.prune(alpha.client, backend, keep_days=30, keep=3, now=later)
    assert len(state.versions(alpha.client, backend, CHECKPOINT)) == 4  # current + 3
    assert alpha.objects() == current  # current objects untouched


def test_drill_and_restore_refuse_with_one_line(toolbox, s3, tmp_path):
    stack = Stack(toolbox, s3, "unversioned-state", tmp_path)
    stack.client.create_bucket(
        Bucket="unversioned-state", CreateBucketConfiguration={"LocationConstraint": "ams3"}
    )
    stack.client.put_object(Bucket="unversioned-state", Key=CHECKPOINT, Body=b"{}")
    for args, message in (
        (("drill", "--stack", "alpha"), "versioning is off"),
        (("drill", "--stack", "prod"), "run it on alpha"),
        (("restore", "--stack", "alpha", "--version-id", "nope"), "no version 'nope'"),
    ):
        p = subprocess.run(
            [sys.executable, "-m", "tools.state", *args],
            cwd=REPO,
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == 1 and message in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_the_s3_server_listens_on_127_0_0_1_only_and_is_gone_afterwards(tmp_path):
    with moto_server(tmp_path) as server:
        assert listening_pids(server["port"]) == [f"0100007F:{server['port']:04X}"]
        pid = server["pid"]
    assert listening_pids(server["port"]) == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
