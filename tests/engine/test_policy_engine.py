"""The policy pack under the real engine: each rule refuses a violating program, with its message."""

import subprocess

import pytest

from tests.engine.conftest import CLI, stack_file_with
from tests.test_gitlab_ci import TAKES_POLICY_PACK
from tools.check.engine import REPO

pytestmark = pytest.mark.engine
PROGRAM = REPO / "tests/engine/programs/violations.py"

CASES = [
    ("prod", "prod-unprotected-record", "prod-protects-stateful", "must be protected in prod"),
    ("prod", "prod-server-without-ignores", "prod-servers-ignore-rebuild-inputs", "sshKeys, image"),
    ("alpha", "full-access-key", "spaces-keys-never-full-access", "'fullaccess'"),
    ("alpha", "alpha-owns-www", "alpha-stays-in-its-lane", "'www.social.coop'"),
    ("alpha", "alpha-prod-bucket", "alpha-stays-in-its-lane", "'social-coop-media': alpha's bucket names"),
    ("alpha", "alpha-bootstraps-pando", "alpha-stays-in-its-lane", "Pulumi.prod.yaml declares this machine"),
    ("alpha", "alpha-server-named-hypha", "alpha-stays-in-its-lane", "declares a host of this name"),
    ("alpha", "alpha-rdns-on-prod-name", "alpha-stays-in-its-lane", "'rhizome.social.coop'"),
    ("prod", "prod-record-under-alpha", "prod-stays-out-of-alpha", "are the alpha stack's"),
    ("prod", "prod-bucket-of-alphas", "prod-stays-out-of-alpha", "'alpha-social-coop-media'"),
    ("prod", "prod-unprotected-volume", "prod-protects-stateful", "hcloud:index/volume:Volume"),
    ("alpha", "alpha-protected", "alpha-stays-in-its-lane", "nothing in alpha may be protected"),
    ("alpha", "firewall-mysql", "firewalls-open-only-declared-ports", "inbound tcp 3306"),
]


@pytest.mark.parametrize(("stack", "shape", "policy", "message"), CASES, ids=[c[1] for c in CASES])
def test_the_real_preview_rejects_a_violation(preview, stack, shape, policy, message):
    rc, report = preview(stack, program=PROGRAM, env={"VIOLATION": shape})
    assert rc == 1
    hits = [v for v in report["policy_violations"] if v["policy"] == policy]
    assert hits and all(v["level"] == "mandatory" for v in hits), report["policy_violations"]
    assert any(message in v["message"] for v in hits), hits
    assert {v["policy"] for v in report["policy_violations"]} == {policy}


@pytest.mark.parametrize("stack", ["prod", "alpha"])
def test_compliant_resources_pass(preview, stack):
    rc, report = preview(stack, program=PROGRAM, env={"VIOLATION": f"ok-{stack}"})
    assert report["policy_violations"] == []
    assert rc == 0, report.get("error")


def test_a_decommission_passes_the_real_preview_and_warns_with_its_reason(preview):
    """docs/examples/prod-decommission.yaml: protect: false + decommission is the documented escape."""
    example = REPO / "docs/examples/prod-decommission.yaml"
    rc, report = preview(
        "prod", program=PROGRAM, stack_file=example, env={"VIOLATION": "prod-unprotected-record"}
    )
    assert rc == 0, report.get("error")
    [warning] = report["policy_violations"]
    assert warning["policy"] == "prod-decommission-is-announced" and warning["level"] == "advisory"
    assert "must be protected in prod" in warning["message"] and "social.coop moves" in warning["message"]


def test_a_boundary_crossing_stack_file_stops_the_real_preview_with_the_loaders_line(preview, tmp_path):
    def rhizome(cfg):  # alpha's host under prod's host name
        hosts = cfg["socialcoop-infra:hosts"]
        hosts["rhizome"] = {**hosts.pop("alpha"), "fqdn": "rhizome.alpha.social.coop"}
        for record in cfg["socialcoop-infra:dns"]["records"]["alpha"]:
            record["host"] = "rhizome"

    rc, report = preview("alpha", stack_file=stack_file_with(tmp_path, "alpha", rhizome))
    assert rc == 1
    errors = [d["message"] for d in report["diagnostics"] if d["severity"] == "error"]
    assert any(
        "socialcoop-infra:hosts.rhizome" in m and "components/core/boundary.py" in m for m in errors
    ), errors
    assert report["policy_violations"] == []  # the loader stopped it before any resource


def test_the_cli_takes_a_policy_pack_exactly_where_ci_passes_one(tmp_path):
    """pulumi 3.260: preview, up (alias update) and watch take --policy-pack; destroy, refresh and import
    refuse it, which is why destroy:alpha checks the state instead (docs/ci.md)."""
    takes = set()
    for command in ("preview", "up", "watch", "destroy", "refresh", "import"):
        out = subprocess.run([str(CLI), command, "--help"], capture_output=True, text=True, timeout=60).stdout
        if "--policy-pack " in out:
            takes.add(command)
    assert takes == TAKES_POLICY_PACK - {"update"}
    refused = subprocess.run(
        [str(CLI), "destroy", "--policy-pack", "policy", "--stack", "alpha"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PULUMI_HOME": str(tmp_path),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert refused.returncode != 0 and "unknown flag: --policy-pack" in refused.stderr
