"""The real `pulumi preview` of both stacks (real CLI and engine, stand-in plugins: conftest.py)."""

import json
import re
import subprocess
import sys

import pytest
import yaml

from tests.engine.conftest import stack_file_with
from tools.check.engine import REPO

pytestmark = pytest.mark.engine
ENGINE_ONLY = ("pulumi:pulumi:Stack", "pulumi:providers:")


def offline_plan(stack: str, stack_file=None) -> set[tuple[str, str]]:
    cmd = [sys.executable, "-m", "tools.plan", stack, "--json"]
    if stack_file:
        cmd += ["--config", str(stack_file)]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True).stdout
    return {(r["type"], r["name"]) for r in json.loads(out)}


def program_steps(report) -> list[dict]:
    return [s for s in report["steps"] if not s["type"].startswith(ENGINE_ONLY)]


def loud(report) -> list[dict]:
    return [d for d in report["diagnostics"] if d["severity"] in ("warning", "error")]


def hetzner_alpha(cfg):
    cfg["socialcoop-infra:hosts"]["alpha"]["kind"] = "hetzner_cloud"


@pytest.mark.parametrize("variant", ["vps", "hetzner_cloud"])
def test_alpha_previews_as_creates_only_with_the_offline_plans_resources(preview, tmp_path, variant):
    stack_file = stack_file_with(tmp_path, "alpha", hetzner_alpha) if variant == "hetzner_cloud" else None
    rc, report = preview("alpha", stack_file=stack_file)
    assert rc == 0, report.get("error")
    steps = program_steps(report)
    assert {(s["type"], s["name"]) for s in steps} == offline_plan("alpha", stack_file)
    assert {s["op"] for s in report["steps"]} == {"create"}
    assert loud(report) == []
    assert report["policy_violations"] == []
    if variant == "hetzner_cloud":
        assert any(s["type"] == "hcloud:index/server:Server" for s in steps)


def test_every_declared_config_key_resolves_in_prod_and_the_engine_reaches_the_imports(preview):
    rc, report = preview("prod")
    # The stand-in can't read real resources, so prod stops at the first import: but only after the
    # CLI accepted the config and the program registered its resources.
    assert rc == 1
    assert "missing configuration value" not in report["error"]
    assert "imports and refreshes need the real provider" in report["error"]
    assert any(s["op"] == "import" for s in report["steps"]), report["steps"][:5]


def test_the_real_cli_refuses_a_declared_key_with_no_default_that_a_stack_omits(preview, tmp_path):
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    project["config"]["canary_key"] = {"type": "string", "description": "declared, no default, set nowhere"}
    project_file = tmp_path / "Pulumi.yaml"
    project_file.write_text(yaml.safe_dump(project, sort_keys=False))
    rc, report = preview("alpha", project_file=project_file, policy=False)
    assert rc == 1
    assert re.search(r"missing configuration values? [^\n]*'canary_key'", report["error"]), report["error"]


def test_a_broken_stack_file_fails_the_real_preview_with_the_loaders_one_line_message(preview, tmp_path):
    def broken(cfg):
        cfg["socialcoop-infra:dns"]["default_ttl"] = "soon"

    rc, report = preview("alpha", stack_file=stack_file_with(tmp_path, "alpha", broken), policy=False)
    assert rc == 1
    errors = [d["message"] for d in report["diagnostics"] if d["severity"] == "error"]
    loader = [m for m in errors if "socialcoop-infra:dns.default_ttl" in m]
    assert len(loader) == 1 and "'soon'" in loader[0] or '"soon"' in loader[0], errors
    assert "\n" not in loader[0].strip()
    assert "Traceback" not in report["error"] and not any("Traceback" in m for m in errors)
