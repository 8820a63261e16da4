"""The `check` job's merge-request note (tools/pipeline/check_note.py, posted by gitlab_comment --kind
check): a one-line summary per stack at the top, a clear line when nothing changes, then per stack
the effects on hosts and each changed resource folded in <details>; edited in place on every push.
The base is the merge request's diff base, fetched when the clone lacks it, else its target."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.conftest import DUMPER, key, stack_doc
from tests.fakehttp import serving, without_proxies
from tests.test_gitlab_comment import FakeGitLab, ci_env, writes
from tools.pipeline import check_note, gitlab_comment
from tools.review import diff_sides
from tools.review.diff import compare


@pytest.fixture(scope="module")
def diffs(tmp_path_factory):
    """prod with bob removed and a new record, alpha unchanged."""
    doc = stack_doc("prod")
    doc["config"][key("admins")] = [a for a in doc["config"][key("admins")] if a["name"] != "bob"]
    doc["config"][key("dns")]["records"]["status"] = [{"type": "CNAME", "host": "hypha"}]
    path = tmp_path_factory.mktemp("note") / "Pulumi.prod.yaml"
    path.write_text(yaml.dump(doc, Dumper=DUMPER, sort_keys=False))
    prod = compare(
        "prod",
        "main",
        diff_sides.plan_in_process("prod", None, "main"),
        diff_sides.plan_in_process("prod", str(path), "merge request"),
    )
    same = diff_sides.plan_in_process("alpha", None, "main")
    return {"prod": prod, "alpha": compare("alpha", "main", same, same)}


def test_summary_lines_first_then_each_resource_folded(diffs):
    note = check_note.render(diffs, "1a2b3c4")
    lines = note.splitlines()
    assert "`1a2b3c4`" in lines[0]
    assert (
        lines[2]
        == "- **prod: 1 to create, 0 to update, 0 to replace, 1 to delete" + lines[2].split("delete", 1)[1]
    )
    assert lines[3].startswith("- **alpha: no changes (")
    assert ":warning: **Replaces or deletes**: prod: 0 to replace, 1 to delete" in note
    assert note.count("<details>") == note.count("</details>") == 3  # two resources, and what stays the same
    assert "<summary><code>-  admin-keys-bob  (hcloud:index/sshKey:SshKey)  delete</code></summary>" in note
    assert "- admin bob removed: their SSH access and sudo end only when Ansible runs" in note
    assert "#### alpha" not in note  # nothing to show for it


def test_a_clear_line_when_nothing_changes(diffs):
    note = check_note.render({"prod": diffs["alpha"], "alpha": diffs["alpha"]}, "main")
    assert "**Nothing changes** in either stack" in note and "<details>" not in note


def test_a_diff_that_could_not_be_made_says_why(diffs):
    note = check_note.render(
        {"prod": "base main: Pulumi.prod.yaml: not valid YAML", "alpha": diffs["alpha"]}, "main"
    )
    assert "- **prod: no diff**: base main: Pulumi.prod.yaml: not valid YAML" in note
    assert "Nothing changes" not in note


def test_the_note_is_posted_as_markdown_and_edited_in_place(diffs, tmp_path, monkeypatch):
    without_proxies(monkeypatch)
    body = tmp_path / "check-note.md"
    with serving(FakeGitLab()) as gitlab:
        env = ci_env(gitlab, SOCIALCOOP_ALLOW_HTTP_LOOPBACK="1")
        for stacks in (
            {"prod": diffs["prod"], "alpha": diffs["alpha"]},
            {"prod": diffs["alpha"], "alpha": diffs["alpha"]},
        ):
            body.write_text(check_note.render(stacks, "main"))
            assert gitlab_comment.main(["--kind", "check", "--file", str(body)], env) == 0
        [note] = gitlab.notes
        assert [w["method"] for w in writes(gitlab)] == ["POST", "PUT"]
    text = note["body"]
    assert text.startswith("<!-- socialcoop-infra:check -->") and "**Nothing changes**" in text
    assert "```diff\nWhat this merge request" not in text  # Markdown as it is, not in a code block


def git(repo, *args: str) -> str:
    p = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=60)
    return p.stdout.strip()


def test_the_base_is_the_diff_base_else_the_target_branch(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    ident = ["-c", "user.email=t@example.org", "-c", "user.name=t"]
    git(repo, "init", "-q", "-b", "main")
    git(repo, *ident, "commit", "-q", "--allow-empty", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "update-ref", "refs/remotes/origin/main", base)
    git(repo, *ident, "commit", "-q", "--allow-empty", "-m", "change")
    monkeypatch.setattr(check_note, "REPO_ROOT", repo)
    assert check_note.base_ref({"CI_MERGE_REQUEST_DIFF_BASE_SHA": base}) == base
    missing = "0" * 40  # not in the clone, and no remote to fetch it from: the target branch instead
    env = {"CI_MERGE_REQUEST_DIFF_BASE_SHA": missing, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}
    assert check_note.base_ref(env) == "origin/main"
    assert check_note.base_ref({}) is None
