"""Real-engine tests (`make test-engine`): the real `pulumi` CLI from `make engine`, the real program.

The provider plugins can't be built here (engine/refused-modules.txt), so these tests install a
stand-in plugin under each provider's name (standin_provider.py says what it can and can't show).
A missing CLI fails the tests (it doesn't skip them): `make test-engine` builds it first.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.engine.standin_provider import install_launchers
from tools.check.engine import REPO, required_plugins

pytestmark = pytest.mark.engine
CLI = Path(
    os.environ.get("PULUMI_CLI") or REPO / ".engine" / "bin" / "pulumi"
)  # as tools.check.engine finds it


@pytest.fixture(scope="session")
def standin_plugins(tmp_path_factory) -> Path:
    if not os.access(CLI, os.X_OK):
        pytest.fail(f"{CLI} is missing: run `make engine` (make test-engine does it first)")
    d = tmp_path_factory.mktemp("standin-plugins")
    install_launchers(d, required_plugins())
    return d


def stack_file_with(tmp_path: Path, stack: str, edit) -> Path:
    """A copy of the committed stack file, changed by `edit(config_dict)`."""
    doc = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())
    edit(doc["config"])
    out = tmp_path / f"Pulumi.{stack}.yaml"
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


@pytest.fixture
def preview(standin_plugins, tmp_path):
    """Run `python -m tools.engine preview STACK --json` (a real `pulumi preview`); (exit code, report)."""

    def run(stack, *, stack_file=None, program=None, project_file=None, policy=True, env=None):
        cmd = [
            sys.executable,
            "-m",
            "tools.engine",
            "preview",
            stack,
            "--json",
            "--plugins",
            str(standin_plugins),
        ]
        cmd += ["--policy-pack", str(REPO / "policy")] if policy else ["--no-policy-pack"]
        for flag, value in (
            ("--stack-file", stack_file),
            ("--program", program),
            ("--project-file", project_file),
        ):
            if value is not None:
                cmd += [flag, str(value)]
        env = {**os.environ, "SOCIALCOOP_STANDIN_LOG": str(tmp_path / "standin.log"), **(env or {})}
        p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
        assert p.stdout.strip(), f"tools.engine printed no report (exit {p.returncode}):\n{p.stderr[-3000:]}"
        return p.returncode, json.loads(p.stdout)

    return run
