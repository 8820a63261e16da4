"""tools/pipeline/drift_issue.py against a fake GitLab issues API on 127.0.0.1 that records requests."""

from __future__ import annotations

import json
import urllib.parse
from http.server import ThreadingHTTPServer

import pytest

from tests.fakehttp import JsonHandler, serving, without_proxies
from tools.pipeline import drift_issue
from tools.pipeline.drift_issue import marker

TOKEN = "glpat-FAKE-drift-token-0123456789"  # obviously fake
BOT = {"id": 50, "username": "project_7_bot_drift"}
HUMAN = {"id": 60, "username": "mallory"}
ISSUES = "/api/v4/projects/7/issues"


class FakeGitLab(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.issues: list[dict] = []

    def add(self, description: str, author: dict = BOT, state: str = "opened", labels=("drift",)) -> dict:
        issue = {
            "iid": len(self.issues) + 1,
            "description": description,
            "author": author,
            "state": state,
            "labels": list(labels),
            "notes": [],
        }
        self.issues.append(issue)
        return issue

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v4"


class _Handler(JsonHandler):
    server: FakeGitLab

    def _handle(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append({"method": self.command, "path": url.path, "query": query, "body": body})
        body = body or {}  # below, a request without a body reads as an empty one
        if self.headers.get("PRIVATE-TOKEN") != TOKEN:
            return self.reply(401, {"message": "401 Unauthorized"})
        if self.command == "GET" and url.path == "/api/v4/user":
            return self.reply(200, BOT)
        if self.command == "GET" and url.path == ISSUES:
            found = [
                i
                for i in self.server.issues
                if i["state"] == query.get("state") and query.get("labels", "") in i["labels"]
            ]
            return self.reply(200, found)
        if self.command == "POST" and url.path == ISSUES:
            labels = tuple(body["labels"].split(","))
            return self.reply(
                201, self.server.add(body["description"], labels=labels) | {"title": body["title"]}
            )
        parts = url.path.removeprefix(ISSUES + "/").split("/")
        issue = next((i for i in self.server.issues if str(i["iid"]) == parts[0]), None)
        if issue is None:
            return self.reply(404, {"message": "404 Not found"})
        if self.command == "POST" and parts[1:] == ["notes"]:
            issue["notes"].append(body["body"])
            return self.reply(201, {"id": 1, "body": body["body"]})
        if self.command == "PUT" and len(parts) == 1:
            if issue["author"] != BOT:
                return self.reply(403, {"message": "403 Forbidden"})
            if body.get("state_event") == "close":
                issue["state"] = "closed"
            if "description" in body:
                issue["description"] = body["description"]
            return self.reply(200, issue)
        return self.reply(404, {"message": "404 Not found"})

    do_GET = do_POST = do_PUT = _handle


@pytest.fixture
def gitlab(monkeypatch):
    without_proxies(monkeypatch)
    with serving(FakeGitLab()) as server:
        yield server


def run(server, tmp_path, exit_code: int, preview: str = "~ 1 to update", report: str = "") -> int:
    out = tmp_path / "drift.txt"
    out.write_text(preview)
    argv = ["--stack", "prod", "--file", str(out), "--exit-code", str(exit_code)]
    if report:
        (tmp_path / "report.txt").write_text(report)
        argv += ["--report", str(tmp_path / "report.txt")]
    env = {
        "CI_API_V4_URL": server.api_url,
        "CI_PROJECT_ID": "7",
        "CI_JOB_URL": "https://git.example/socialcoop/infra/-/jobs/9",
        "GITLAB_NOTE_TOKEN": TOKEN,
        "SOCIALCOOP_ALLOW_HTTP_LOOPBACK": "1",
    }
    return drift_issue.main(argv, env)


def test_drift_opens_one_issue_and_fails_the_job(gitlab, tmp_path):
    assert run(gitlab, tmp_path, 255, "~ social-coop-apex-a  ttl: 3600 => 300", "old.social.coop A") == 255
    (issue,) = gitlab.issues
    assert issue["description"].startswith(marker("prod")) and issue["labels"] == ["drift"]
    assert "ttl: 3600 => 300" in issue["description"] and "old.social.coop A" in issue["description"]


def test_drift_again_updates_the_same_issue(gitlab, tmp_path):
    run(gitlab, tmp_path, 255, "first")
    assert run(gitlab, tmp_path, 255, "second") == 255
    (issue,) = gitlab.issues
    assert "second" in issue["description"] and "first" not in issue["description"]
    assert any("Still drifting" in n for n in issue["notes"])


def test_no_drift_closes_the_open_issue_and_passes(gitlab, tmp_path):
    run(gitlab, tmp_path, 255)
    assert run(gitlab, tmp_path, 0, "no changes") == 0
    (issue,) = gitlab.issues
    assert issue["state"] == "closed" and any("No drift" in n for n in issue["notes"])


def test_no_drift_and_no_issue_changes_nothing(gitlab, tmp_path):
    assert run(gitlab, tmp_path, 0) == 0
    assert gitlab.issues == [] and not [r for r in gitlab.requests if r["method"] != "GET"]


def test_an_issue_someone_else_wrote_with_the_marker_is_left_alone(gitlab, tmp_path, capsys):
    spoof = gitlab.add(marker("prod") + "\nnothing to see", author=HUMAN)
    assert run(gitlab, tmp_path, 255) == 255
    assert spoof["description"].endswith("nothing to see") and spoof["notes"] == []
    assert len(gitlab.issues) == 2 and gitlab.issues[1]["author"] == BOT
    assert "left alone" in capsys.readouterr().out


def test_another_stacks_issue_is_not_touched(gitlab, tmp_path):
    alpha = gitlab.add(marker("alpha") + "\nalpha drift")
    run(gitlab, tmp_path, 0)
    assert alpha["state"] == "opened" and alpha["notes"] == []


def test_plain_http_without_the_tests_opt_in_is_refused_before_any_request(gitlab, tmp_path, capsys):
    out = tmp_path / "d.txt"
    out.write_text("x")
    env = {
        "CI_API_V4_URL": gitlab.api_url,
        "CI_PROJECT_ID": "7",
        "CI_JOB_URL": "j",
        "GITLAB_NOTE_TOKEN": TOKEN,
    }
    assert drift_issue.main(["--stack", "prod", "--file", str(out), "--exit-code", "1"], env) == 2
    assert gitlab.requests == [] and TOKEN not in capsys.readouterr().err


def test_the_job_reads_the_zone_id_from_the_stack_file(capsys):
    import yaml

    from tools.pipeline.drift_issue import REPO

    assert drift_issue.main(["--stack", "prod", "--print-zone-id"], {}) == 0
    want = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())["config"]["socialcoop-infra:dns"][
        "zone_id"
    ]
    assert capsys.readouterr().out.strip() == want
