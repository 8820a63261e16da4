"""Pipeline tests (`make test-pipeline`, marker `pipeline`): GitLab's job runner run locally, the state
in a real S3 server over TLS, the real pulumi CLI from `make engine`.

What is real and what is a stand-in is listed in docs/ci.md ("What the tests run for real"). Every
server started here listens on 127.0.0.1 and is stopped by its PID; nothing here skips: a missing
piece fails the test and says which `make` target brings it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine.standin_provider import install_launchers
from tests.pipeline.s3server import ACCESS_KEY, SECRET_KEY, moto_server
from tests.pipeline.standin_language import install_launcher
from tools.check.engine import FAKE_TOKENS, REPO, required_plugins

CLI = REPO / ".engine" / "bin" / "pulumi"
PASSPHRASE = "fake-passphrase-alpha-0123456789"  # obviously fake
URL_FORM = "s3://{bucket}?endpoint={endpoint}&region=ams3&s3ForcePathStyle=true"  # docs/ci.md's form


def not_inside_a_job() -> None:
    """`make test` runs inside the check job with `-m 'not pipeline'`; this is the second guard."""
    if os.environ.get("GITLAB_CI") or os.environ.get("CI_JOB_NAME"):
        pytest.fail("a pipeline test started inside a CI job: it would run the pipeline within itself")


SERVERS = (
    "moto_server",
    "standin_language.py",
    "standin_provider.py",
    "gitlab-ci-local",
    ".engine/bin/pulumi",
)


def our_processes() -> dict[int, str]:
    """Running processes this suite starts: the S3 server, the runner, the CLI and the stand-ins."""
    found = {}
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if proc.name.isdigit() and any(s in cmd for s in SERVERS) and "pytest" not in cmd:
            found[int(proc.name)] = cmd
    return found


@pytest.fixture(scope="session", autouse=True)
def no_leftover_processes():
    """After the last test: every server and plugin the suite started has stopped."""
    before = our_processes()
    yield
    for _ in range(50):  # plugins get a moment to exit after their CLI
        left = {pid: cmd for pid, cmd in our_processes().items() if pid not in before}
        if not left:
            return
        time.sleep(0.2)
    pytest.fail(f"processes left running: {left}")


@pytest.fixture(scope="session")
def toolbox(tmp_path_factory) -> dict:
    """The real CLI, the stand-in language host and provider plugins, and a PULUMI_HOME with the
    stand-ins installed at the exact versions the SDKs ask for (as the official plugins would be)."""
    not_inside_a_job()
    if not os.access(CLI, os.X_OK):
        pytest.fail(f"{CLI} is missing: run `make engine` (make test-pipeline does it first)")
    root = tmp_path_factory.mktemp("toolbox")
    bin_, plugins, home = root / "bin", root / "plugins", root / "pulumi-home"
    for d in (bin_, plugins, home):
        d.mkdir()
    shutil.copy(CLI, bin_ / "pulumi")
    install_launcher(bin_, sys.executable)
    install_launchers(plugins, required_plugins())
    env = {
        "PATH": f"{bin_}:{os.environ['PATH']}",
        "PULUMI_HOME": str(home),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }
    for name, version in required_plugins().items():
        subprocess.run(
            [
                "pulumi",
                "plugin",
                "install",
                "resource",
                name,
                version,
                "--file",
                str(plugins / f"pulumi-resource-{name}"),
            ],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
            timeout=120,
        )
    return {"bin": bin_, "plugins": plugins, "home": home}


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server over TLS on 127.0.0.1, one per test module; stopped by PID at its end."""
    with moto_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


def cli_env(toolbox: dict, s3: dict, bucket: str, **extra) -> dict[str, str]:
    """What a CI job's shell has when it runs pulumi (.gitlab-ci.yml `.pulumi`), with fake values."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "AWS_"))},
        "PATH": f"{toolbox['bin']}:{os.environ['PATH']}",
        "PULUMI_HOME": str(toolbox["home"]),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_BACKEND_URL": URL_FORM.format(bucket=bucket, endpoint=s3["endpoint"]),
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        # The CLI's S3 client reads the AWS SDK's own variable (it ignored SSL_CERT_FILE here);
        # tools.pipeline.state reads either.
        "AWS_CA_BUNDLE": str(s3["ca"]),
        "SSL_CERT_FILE": str(s3["ca"]),
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",  # as .gitlab-ci.yml sets it
        **FAKE_TOKENS,
        **extra,
    }
