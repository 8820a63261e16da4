"""tools/pipeline/gitlab_comment.py against a fake GitLab notes API on 127.0.0.1 that records requests."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.parse
from http.server import ThreadingHTTPServer

import pytest

from components.core.config import REPO_ROOT
from tests.fakehttp import JsonHandler, serving, without_proxies
from tools.pipeline import gitlab_comment
from tools.pipeline.gitlab_comment import MAX_NOTE_CHARS, marker, render

TOKEN = "glpat-FAKE-test-token-0123456789"  # obviously fake
JOB_URL = "https://git.example/socialcoop/infra/-/jobs/42"
NOTES_PATH = "/api/v4/projects/7/merge_requests/3/notes"
BOT = {"id": 50, "username": "project_7_bot_preview"}  # the token's own user (GET /user)
HUMAN = {"id": 60, "username": "mallory"}


class FakeGitLab(ThreadingHTTPServer):
    """Just enough of GitLab's API: who the token is, notes (list paginated, create, update), errors."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.notes: list[dict] = []
        self.fail: tuple[int, dict] | None = None  # (status, JSON body) for POST/PUT
        self.redirect_to: str | None = None  # answer every request with a 302 to this API URL

    def add_note(self, body: str, system: bool = False, author: dict = HUMAN) -> int:
        note_id = 1000 + len(self.notes)
        self.notes.append({"id": note_id, "body": body, "system": system, "author": author})
        return note_id

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v4"


class _Handler(JsonHandler):
    server: FakeGitLab

    def _handle(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append(
            {
                "method": self.command,
                "path": url.path,
                "query": dict(urllib.parse.parse_qsl(url.query)),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
        )
        body = body or {}  # below, a request without a body reads as an empty one
        if self.server.redirect_to:
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to + self.path.removeprefix("/api/v4"))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if self.headers.get("PRIVATE-TOKEN") != TOKEN:  # case-insensitive, like HTTP
            return self.reply(401, {"message": "401 Unauthorized"})
        if self.server.fail and self.command in ("POST", "PUT"):
            return self.reply(*self.server.fail)
        if self.command == "GET" and url.path == "/api/v4/user":
            return self.reply(200, BOT)
        if self.command == "GET" and url.path == NOTES_PATH:
            query = dict(urllib.parse.parse_qsl(url.query))
            page, per_page = int(query.get("page", 1)), min(int(query.get("per_page", 20)), 100)
            chunk = self.server.notes[(page - 1) * per_page : page * per_page]
            more = page * per_page < len(self.server.notes)
            return self.reply(200, chunk, {"X-Next-Page": str(page + 1) if more else ""})
        if self.command == "POST" and url.path == NOTES_PATH:
            note_id = self.server.add_note(body["body"], author=BOT)
            return self.reply(201, self.server.notes[-1])
        if self.command == "PUT" and url.path.startswith(NOTES_PATH + "/"):
            note_id = int(url.path.rsplit("/", 1)[1])
            for note in self.server.notes:
                if note["id"] == note_id and note["author"] != BOT:  # GitLab: only the author edits
                    return self.reply(403, {"message": "403 Forbidden"})
                if note["id"] == note_id:
                    note["body"] = body["body"]
                    return self.reply(200, note)
        return self.reply(404, {"message": "404 Not found"})

    do_GET = do_POST = do_PUT = _handle


@pytest.fixture
def gitlab(monkeypatch):
    without_proxies(monkeypatch)
    with serving(FakeGitLab()) as server:
        yield server


def ci_env(server: FakeGitLab, **overrides) -> dict[str, str]:
    env = {
        "CI_API_V4_URL": server.api_url,
        "CI_PROJECT_ID": "7",
        "CI_MERGE_REQUEST_IID": "3",
        "CI_JOB_URL": JOB_URL,
        "GITLAB_NOTE_TOKEN": TOKEN,
        "CI_COMMIT_SHORT_SHA": "1a2b3c4d",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def run(
    tmp_path,
    server,
    text: str,
    stack: str = "prod",
    exit_code: int = 0,
    env: dict[str, str | None] | None = None,
) -> int:
    env = {"SOCIALCOOP_ALLOW_HTTP_LOOPBACK": "1", **(env or {})}  # the fake speaks plain HTTP on 127.0.0.1
    preview = tmp_path / f"preview-{stack}.txt"
    preview.write_text(text)
    argv = ["--stack", stack, "--file", str(preview), "--exit-code", str(exit_code)]
    return gitlab_comment.main(argv, ci_env(server, **env))


def writes(server: FakeGitLab) -> list[dict]:
    return [r for r in server.requests if r["method"] != "GET"]


# --------------------------------------------------------------------------- create / update


def test_first_run_creates_then_later_runs_update_the_same_note(gitlab, tmp_path, capsys):
    gitlab.add_note("LGTM, but see the preview")  # a human's comment, left alone

    assert run(tmp_path, gitlab, "+ 1 to create") == 0
    assert [(r["method"], r["path"]) for r in writes(gitlab)] == [("POST", NOTES_PATH)]
    created = gitlab.notes[-1]
    assert created["body"].startswith(marker("prod"))
    assert "succeeded for commit 1a2b3c4d" in created["body"]
    assert "+ 1 to create" in created["body"]
    assert f"created note {created['id']}" in capsys.readouterr().out

    assert run(tmp_path, gitlab, "~ 1 to update") == 0
    assert [(r["method"], r["path"]) for r in writes(gitlab)][-1] == ("PUT", f"{NOTES_PATH}/{created['id']}")
    assert len(gitlab.notes) == 2  # the human's note and ours: no second preview note
    assert "~ 1 to update" in created["body"] and "+ 1 to create" not in created["body"]
    assert gitlab.notes[0]["body"] == "LGTM, but see the preview"


def test_each_stack_has_its_own_note(gitlab, tmp_path):
    assert run(tmp_path, gitlab, "prod preview", stack="prod") == 0
    assert run(tmp_path, gitlab, "alpha preview", stack="alpha") == 0
    assert run(tmp_path, gitlab, "alpha again", stack="alpha") == 0
    bodies = [n["body"] for n in gitlab.notes]
    assert len(bodies) == 2
    assert bodies[0].startswith(marker("prod")) and "prod preview" in bodies[0]
    assert bodies[1].startswith(marker("alpha")) and "alpha again" in bodies[1]


def test_token_goes_in_the_private_token_header_only(gitlab, tmp_path):
    run(tmp_path, gitlab, "x")
    run(tmp_path, gitlab, "y")
    assert {r["method"] for r in gitlab.requests} == {"GET", "POST", "PUT"}
    for r in gitlab.requests:
        assert r["headers"].get("private-token") == TOKEN
        assert "job-token" not in r["headers"] and "authorization" not in r["headers"]
        assert TOKEN not in r["path"] and TOKEN not in json.dumps(r["query"])


def test_finds_its_note_on_a_later_page(gitlab, tmp_path):
    for i in range(240):
        gitlab.add_note(f"discussion {i}")
    gitlab.add_note(f"> quoting the bot:\n> {marker('prod')}")  # not ours: marker not at the start
    gitlab.add_note(marker("prod"), system=True)  # system notes are never ours
    ours = gitlab.add_note(f"{marker('prod')}\nold preview", author=BOT)
    gitlab.add_note("one more")

    assert run(tmp_path, gitlab, "new preview") == 0
    listed = [r for r in gitlab.requests if r["method"] == "GET" and r["path"] == NOTES_PATH]
    assert [r["query"]["page"] for r in listed] == ["1", "2", "3"]
    assert all(r["query"]["per_page"] == "100" for r in listed)
    assert [(r["method"], r["path"]) for r in writes(gitlab)] == [("PUT", f"{NOTES_PATH}/{ours}")]
    assert "new preview" in gitlab.notes[-2]["body"]


def test_a_note_someone_else_wrote_with_the_marker_is_left_alone(gitlab, tmp_path, capsys):
    """Issue 17: a spoofed note made the job fail with 403 and post no preview."""
    spoof = gitlab.add_note(f"{marker('prod')}\nall fine, 0 to delete", author=HUMAN)
    assert run(tmp_path, gitlab, "- 1 to delete") == 0
    assert [(r["method"], r["path"]) for r in writes(gitlab)] == [("POST", NOTES_PATH)]
    assert gitlab.notes[0]["id"] == spoof and gitlab.notes[0]["body"].endswith("all fine, 0 to delete")
    ours = gitlab.notes[-1]
    assert ours["author"] == BOT and "- 1 to delete" in ours["body"]
    out = capsys.readouterr().out
    assert f"note {spoof}" in out and "@mallory" in out  # the job log says whose note it left alone

    assert run(tmp_path, gitlab, "~ 1 to update") == 0  # the next push updates our note, not the spoof
    assert (
        writes(gitlab)[-1]["method"] == "PUT" and writes(gitlab)[-1]["path"] == f"{NOTES_PATH}/{ours['id']}"
    )


@pytest.mark.parametrize(
    ("url", "opt_in"),
    [
        ("http://127.0.0.1:{port}/api/v4", None),  # plain HTTP without the tests' opt-in
        ("http://git.example:{port}/api/v4", "1"),  # the opt-in is for this machine only
        ("ftp://127.0.0.1:{port}/api/v4", "1"),
    ],
)
def test_only_https_unless_a_test_opts_in_for_this_machine(gitlab, tmp_path, capsys, url, opt_in):
    port = gitlab.server_address[1]
    env = {"CI_API_V4_URL": url.format(port=port), "SOCIALCOOP_ALLOW_HTTP_LOOPBACK": opt_in}
    assert run(tmp_path, gitlab, "preview", env=env) == 2
    assert "must be https://" in capsys.readouterr().err
    assert gitlab.requests == []


def test_a_redirect_is_refused_and_the_token_stays_home(gitlab, tmp_path, capsys):
    other = FakeGitLab()  # another host, as far as the token is concerned
    thread = threading.Thread(target=other.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        gitlab.redirect_to = other.api_url
        assert run(tmp_path, gitlab, "preview") == 1
        assert other.requests == []
        err = capsys.readouterr().err
        assert "redirect" in err and other.api_url in err and TOKEN not in err
    finally:
        other.shutdown()
        other.server_close()


# --------------------------------------------------------------------------- errors


def test_api_error_fails_with_status_and_message_and_never_the_token(gitlab, tmp_path, capsys):
    # An API that echoes the token back must not get it into the job log either.
    gitlab.fail = (403, {"message": f"403 Forbidden - token {TOKEN} may not write notes"})
    assert run(tmp_path, gitlab, "preview") == 1
    out, err = capsys.readouterr()
    assert "HTTP 403" in err and "403 Forbidden" in err and "POST" in err
    assert TOKEN not in out + err
    assert "[token]" in err


def test_wrong_token_is_reported_without_printing_it(gitlab, tmp_path, capsys):
    wrong = "glpat-WRONG-fake-token-9876543210"
    assert run(tmp_path, gitlab, "preview", env={"GITLAB_NOTE_TOKEN": wrong}) == 1
    out, err = capsys.readouterr()
    assert "HTTP 401" in err and "Unauthorized" in err
    assert wrong not in out + err
    assert writes(gitlab) == []


def test_unreachable_api_is_a_clear_error(tmp_path, capsys):
    preview = tmp_path / "p.txt"
    preview.write_text("x")
    env = {
        "CI_API_V4_URL": "http://127.0.0.1:9/api/v4",  # discard port: nothing listens
        "SOCIALCOOP_ALLOW_HTTP_LOOPBACK": "1",
        "CI_PROJECT_ID": "7",
        "CI_MERGE_REQUEST_IID": "3",
        "CI_JOB_URL": JOB_URL,
        "GITLAB_NOTE_TOKEN": TOKEN,
    }
    assert gitlab_comment.main(["--stack", "prod", "--file", str(preview)], env) == 1
    err = capsys.readouterr().err
    assert "GET http://127.0.0.1:9/api/v4/user" in err
    assert TOKEN not in err


@pytest.mark.parametrize("missing", ["CI_MERGE_REQUEST_IID", "CI_API_V4_URL", "GITLAB_NOTE_TOKEN"])
def test_missing_environment_is_named_and_nothing_is_sent(gitlab, tmp_path, capsys, missing):
    assert run(tmp_path, gitlab, "preview", env={missing: None}) == 2
    err = capsys.readouterr().err
    assert missing in err
    assert gitlab.requests == []


def test_command_line_exit_status_and_output(gitlab, tmp_path):
    """The real entry point (`python -m`), as the CI job calls it."""
    preview = tmp_path / "preview.txt"
    preview.write_text("preview")
    gitlab.fail = (400, {"message": {"note": ["is too long (maximum is 1000000 characters)"]}})
    result = subprocess.run(
        [sys.executable, "-m", "tools.gitlab_comment", "--stack", "alpha", "--file", str(preview)],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "SOCIALCOOP_ALLOW_HTTP_LOOPBACK": "1", **ci_env(gitlab)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "HTTP 400" in result.stderr and "is too long" in result.stderr
    assert "Traceback" not in result.stderr
    assert TOKEN not in result.stdout + result.stderr


# --------------------------------------------------------------------------- the body


def test_long_preview_is_cut_to_the_limit_with_a_link_to_the_job_log(gitlab, tmp_path):
    line = "    ~ cloudflare:index/dnsRecord:DnsRecord: (update) [content: 192.0.2.1 => 192.0.2.2]\n"
    huge = line * (MAX_NOTE_CHARS // len(line) + 500) + "Resources:\n    +-1 to replace\n"
    assert run(tmp_path, gitlab, huge) == 0
    body = gitlab.notes[-1]["body"]
    assert len(body) <= MAX_NOTE_CHARS
    assert len(body) > MAX_NOTE_CHARS - 2 * len(line)  # cut at the limit, not far below it
    assert "Truncated" in body and f"({JOB_URL})" in body.split("Truncated")[1]
    assert "1 to replace" in body.split("```")[0]  # the warning still counts the cut-off summary


def test_preview_that_fits_is_not_cut():
    body = render("prod", "x" * 1000, 0, JOB_URL)
    room = MAX_NOTE_CHARS - len(body) + 1000
    assert "Truncated" not in render("prod", "x" * room, 0, JOB_URL)
    assert len(render("prod", "x" * room, 0, JOB_URL)) == MAX_NOTE_CHARS
    assert "Truncated" in render("prod", "x" * (room + 1), 0, JOB_URL)


def test_body_shows_status_and_warns_about_replacements_and_deletions():
    ok = render("prod", "Resources:\n    + 2 to create\n    3 unchanged\n", 0, JOB_URL)
    assert "succeeded" in ok and ":warning:" not in ok
    risky = render("prod", "Resources:\n    +-1 to replace\n    - 2 to delete\n", 0, JOB_URL)
    assert "1 to replace, 2 to delete" in risky
    failed = render("alpha", "error: preview failed", 255, JOB_URL)
    assert "failed** (exit code 255)" in failed


def test_backticks_in_the_preview_cannot_close_the_code_block():
    body = render("prod", "value: ```` four backticks", 0, JOB_URL)
    assert "`````diff\n" in body and body.rstrip().endswith("`````")
