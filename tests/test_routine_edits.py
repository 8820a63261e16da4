"""A routine prod edit (a record, an admin) passes the plan and then CI, with one command run before
pushing: `python -m tools.prepare` regenerates what the rules generate (the picture of prod in
docs/diagram-prod.md and README.md) and asks what needs a decision (a new prod resource: created
new, with its reason in data/new-in-prod.yaml, or adopted, with its import ID); every guard that
fails says which file to edit and which command to run. Run in a throwaway copy of those files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from components.core.errors import REPO_ROOT
from tests.conftest import DUMPER, key, stack_doc
from tools.check import prepare
from tools.review import diagram, stackfile

FILES = ("Pulumi.prod.yaml", "README.md", "docs/diagram-prod.md", "data/new-in-prod.yaml")
COMMAND = "python -m tools.prepare"
PAD = "social-coop-pad-cname"
REASON = "pad.social.coop is a new name: no record for it exists in Cloudflare today"


@pytest.fixture
def root(tmp_path) -> Path:
    """The files a routine edit touches, copied; Pulumi.prod.yaml with `pad` added (the issue's example)."""
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    doc = stack_doc("prod")
    doc["config"][key("dns")]["records"]["pad"] = [{"type": "CNAME", "host": "hypha"}]
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.dump(doc, Dumper=DUMPER, sort_keys=False))
    return tmp_path


def answers(*replies: str):
    given = list(replies)

    def ask(question: str) -> str:
        return given.pop(0)

    return ask


def test_the_guards_name_the_file_to_edit_and_the_command(root):
    left = prepare.generate(root, check=True) + prepare.decide(root, {}, None, check=True)
    text = "\n".join(left)
    for name in ("README.md", "docs/diagram-prod.md", "data/new-in-prod.yaml"):
        assert name in text, name
    assert all(COMMAND in line or "diagram prod --write" in line or "If adopted" in line for line in left)
    assert f"{PAD} (cloudflare:index/dnsRecord:DnsRecord): created new or adopted?" in text
    assert "dns.imports.pad-cname" in text  # where the import ID would go


def test_one_command_generates_and_records_the_decision(root, capsys):
    assert prepare.main(["--new", f"{PAD}={REASON}"], root=root) == 0
    assert "nothing left to do" in capsys.readouterr().out
    entry = {e["name"]: e for e in yaml.safe_load((root / "data/new-in-prod.yaml").read_text())}[PAD]
    assert entry == {"name": PAD, "type": "cloudflare:index/dnsRecord:DnsRecord", "reason": REASON}
    assert (
        "# Resources the prod stack CREATES" in (root / "data/new-in-prod.yaml").read_text()
    )  # comments kept
    cfg = stackfile.read_stack("prod", str(root / "Pulumi.prod.yaml")).config()
    assert diagram.stale(cfg, "prod", root) == []
    assert "pad.social.coop" in (root / "README.md").read_text()
    assert prepare.main(["--check"], root=root) == 0


def test_it_asks_and_a_short_reason_is_asked_again(root, capsys):
    ask = answers("new", "it is new", REASON)
    assert prepare.main([], root=root, ask=ask) == 0
    assert "at least 8 words" in capsys.readouterr().out
    assert PAD in (root / "data/new-in-prod.yaml").read_text()


def test_an_adopted_resource_is_told_where_its_import_id_goes(root, capsys):
    assert prepare.main([], root=root, ask=answers("adopted")) == 1
    err = capsys.readouterr().err
    assert "socialcoop-infra:dns.imports.pad-cname" in err and "tools.import_ids --write" in err
    assert PAD not in (root / "data/new-in-prod.yaml").read_text()


def test_an_entry_whose_resource_left_prod_is_removed(root, capsys):
    listing = root / "data/new-in-prod.yaml"
    listing.write_text(
        listing.read_text() + "- name: gone-resource\n  type: x:y:Z\n  reason: >-\n    was here\n"
    )
    assert "gone-resource" in "\n".join(prepare.decide(root, {PAD: REASON}, None, check=True))
    assert prepare.main(["--new", f"{PAD}={REASON}"], root=root) == 0
    assert "gone-resource" not in listing.read_text() and "storage-key" in listing.read_text()


def test_the_readme_block_needs_its_markers(root):
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace(diagram.README_END, ""))
    cfg = stackfile.read_stack("prod", str(root / "Pulumi.prod.yaml")).config()
    [problem] = [p for p in diagram.stale(cfg, "prod", root) if p.startswith("README.md")]
    assert diagram.README_END in problem


def test_the_plan_diff_names_the_decision_too(root):
    from tools.review import diff_sides
    from tools.review.diff import compare

    old = diff_sides.plan_in_process("prod", None, "committed")
    new = diff_sides.plan_in_process("prod", str(root / "Pulumi.prod.yaml"), "edited")
    notes = compare("prod", "committed", old, new).notes
    assert any(PAD in n and "data/new-in-prod.yaml" in n and COMMAND in n for n in notes)
