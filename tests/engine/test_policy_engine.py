"""The policy pack under the real engine: each rule refuses a violating program, with its message."""

import pytest

from tools.engine import REPO

pytestmark = pytest.mark.engine
PROGRAM = REPO / "tests/engine/programs/violations.py"

CASES = [
    ("prod", "prod-unprotected-record", "prod-protects-stateful", "must be protected in prod"),
    ("prod", "prod-server-without-ignores", "prod-servers-ignore-rebuild-inputs", "sshKeys, image"),
    ("alpha", "full-access-key", "spaces-keys-never-full-access", "'fullaccess'"),
    ("alpha", "alpha-owns-www", "alpha-stays-in-its-lane", "'www.social.coop'"),
    ("alpha", "alpha-prod-bucket", "alpha-stays-in-its-lane", "prod's bucket 'social-coop-media'"),
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
