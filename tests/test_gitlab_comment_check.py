"""tools/pipeline/gitlab_comment.py --kind check: the check job's one note, beside the previews' notes."""

from __future__ import annotations

import pytest

from tests.fakehttp import serving, without_proxies
from tests.test_gitlab_comment import FakeGitLab, ci_env, writes
from tools.pipeline import gitlab_comment
from tools.pipeline.gitlab_comment import marker


@pytest.fixture
def gitlab(monkeypatch):
    without_proxies(monkeypatch)
    with serving(FakeGitLab()) as server:
        yield server


SUMMARY = "Stack prod (Pulumi.prod.yaml): 40 resources, 38 to import, 2 to create, 30 protected\n"


def post(tmp_path, server, argv: list[str], text: str) -> int:
    note = tmp_path / "note.txt"
    note.write_text(text)
    env = ci_env(server, SOCIALCOOP_ALLOW_HTTP_LOOPBACK="1")
    return gitlab_comment.main([*argv, "--file", str(note)], env)


def test_the_check_note_has_its_own_marker_and_title_and_is_updated_in_place(gitlab, tmp_path, capsys):
    assert post(tmp_path, gitlab, ["--stack", "prod"], "+ 1 to create") == 0
    assert post(tmp_path, gitlab, ["--kind", "check"], SUMMARY) == 0
    assert post(tmp_path, gitlab, ["--kind", "check"], SUMMARY.replace("2 to create", "3 to create")) == 0
    preview, check = (n["body"] for n in gitlab.notes)
    assert preview.startswith(marker("prod")) and "+ 1 to create" in preview
    assert check.startswith("<!-- socialcoop-infra:check -->")
    assert "Offline plan (`check` job" in check and "3 to create" in check and "2 to create" not in check
    assert [w["method"] for w in writes(gitlab)] == ["POST", "POST", "PUT"]
    assert "(check)" in capsys.readouterr().out


def test_a_preview_still_needs_its_stack(gitlab, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        post(tmp_path, gitlab, [], "x")
    assert exit_.value.code == 2 and "--stack is required" in capsys.readouterr().err
    assert gitlab.requests == []
