"""Hetzner DNS under the real `pulumi preview` and the real policy pack (stand-in plugins:
conftest.py): the program's Zone, ZoneRrset and its own hcloud provider register with the real
engine as the offline plan says, and the pack passes them, in alpha and in prod (prod also while
Cloudflare is being retired: its records unprotected on purpose)."""

import pytest

from tests.engine.conftest import stack_file_with
from tests.engine.test_preview_engine import offline_plan, program_steps

pytestmark = pytest.mark.engine
ZONE, RRSET = "hcloud:index/zone:Zone", "hcloud:index/zoneRrset:ZoneRrset"


def both(cfg):
    cfg["socialcoop-infra:dns"]["providers"] = ["cloudflare", "hetzner"]


def prod_created_and_retiring(cfg):
    """prod as if nothing existed yet (the stand-in can't import), publishing to both and
    retiring Cloudflare."""
    both(cfg)
    cfg["socialcoop-infra:dns"]["retiring"] = ["cloudflare"]
    cfg["socialcoop-infra:adopting"] = False
    cfg["socialcoop-infra:dns"].pop("imports")
    cfg["socialcoop-infra:hosts"]["hypha"]["hetzner_cloud"].pop("import")
    for admin in cfg["socialcoop-infra:admins"]:
        admin.pop("hcloud_import", None)
    cfg["socialcoop-infra:storage"]["buckets"]["social-coop-media"].pop("import")


@pytest.mark.parametrize("stack, edit", [("alpha", both), ("prod", prod_created_and_retiring)])
def test_the_hetzner_zone_previews_as_planned_and_passes_the_policy_pack(preview, tmp_path, stack, edit):
    stack_file = stack_file_with(tmp_path, stack, edit)
    rc, report = preview(stack, stack_file=stack_file)
    assert rc == 0, report.get("error")
    assert report["policy_violations"] == []
    steps = {(s["type"], s["name"]) for s in program_steps(report)}
    planned = {(t, n) for t, n in offline_plan(stack, stack_file) if not t.startswith("pulumi:providers:")}
    assert steps == planned
    assert any(t == RRSET for t, _ in steps)
    assert any(t == ZONE for t, _ in steps) is (stack == "prod")
    provider = [s for s in report["steps"] if s["name"] == "hetzner-dns-provider"]
    assert [s["type"] for s in provider] == ["pulumi:providers:hcloud"]
