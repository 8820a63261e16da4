"""Post a ``pulumi preview`` as a merge-request comment, one per stack, updated on every push.

    python -m tools.gitlab_comment --stack prod --file out/preview-prod.txt --exit-code 0
    python -m tools.gitlab_comment --kind check --file out/check-note.md    # the check job's note

Runs in the ``preview:*`` CI jobs and in ``check`` (see .gitlab-ci.yml and docs/ci.md). Standard
library only. ``--kind check`` posts the check job's one note (the offline diff of both stacks,
Markdown written by tools/pipeline/check_note.py) under its own marker and title, as it is; a
preview's output goes inside a code block.
The comment starts with a hidden marker (``<!-- socialcoop-infra:preview:prod -->``); the
tool looks for its own earlier comment by that marker and edits it instead of adding a new
one. Its own means written by the token's user (GitLab's ``GET /user``): a note someone
else wrote with the marker is left alone, named in the job log, and a new note is posted.
A preview longer than GitLab's note limit is cut, with a link to the full job log.
The API URL must be https:// and redirects are refused (tools/pipeline/safe_http.py).

Environment (GitLab sets the ``CI_*`` ones in merge request pipelines):
  CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID, CI_JOB_URL (and CI_COMMIT_SHORT_SHA,
  shown in the comment when set)
  GITLAB_NOTE_TOKEN   a project access token (role Reporter, scope ``api``), sent in the
                      ``PRIVATE-TOKEN`` header. ``CI_JOB_TOKEN`` cannot be used: GitLab lets it
                      read merge-request notes but not create or edit them.

Exit status: 0 posted, 1 the API or the file failed, 2 the environment is incomplete.
The token is never printed, also not inside an error message.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from tools.pipeline import safe_http

MAX_NOTE_CHARS = 1_000_000  # GitLab: "Note is too long (maximum is 1000000 characters)"
TOKEN_VARIABLE = "GITLAB_NOTE_TOKEN"
CI_VARIABLES = ("CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID", "CI_JOB_URL")
PER_PAGE = 100  # GitLab's maximum page size
MAX_PAGES = 100  # 10,000 notes: more than any merge request will have
TIMEOUT_SECONDS = 30

# Pulumi's summary lines, e.g. "    +-1 to replace" or "    - 2 to delete".
_RISKY_SUMMARY = re.compile(r"^\s*\S*\s*(\d+) to (replace|delete)\b", re.MULTILINE)


class CommentError(Exception):
    """A failure with a message fit for the job log (never containing the token)."""


@dataclass(frozen=True)
class Settings:
    api_url: str
    project_id: str
    mr_iid: str
    job_url: str
    token: str
    commit: str = ""


KINDS = ("preview", "check")


def marker(stack: str | None, kind: str = "preview") -> str:
    return f"<!-- socialcoop-infra:{kind}:{stack} -->" if stack else f"<!-- socialcoop-infra:{kind} -->"


def title(stack: str | None, kind: str = "preview") -> str:
    if kind == "check":
        return "Offline plan (`check` job: `tools.plan`, no credentials)"
    return f"`pulumi preview --diff --stack {stack}`"


def read_settings(environ: Mapping[str, str]) -> Settings:
    """The CI variables the tool needs; one clear error naming every missing one."""
    missing = [name for name in (*CI_VARIABLES, TOKEN_VARIABLE) if not environ.get(name)]
    if missing:
        hint = (
            f" {TOKEN_VARIABLE} is a CI/CD variable to set in the project (docs/ci.md)."
            if TOKEN_VARIABLE in missing
            else ""
        )
        raise CommentError(
            f"missing environment variable(s): {', '.join(missing)}. "
            f"GitLab sets the CI_* ones only in merge request pipelines.{hint}"
        )
    api_url = environ["CI_API_V4_URL"].rstrip("/")
    problem = safe_http.url_problem(api_url, environ)
    if problem:
        raise CommentError(f"CI_API_V4_URL = {api_url!r}: {problem}")
    return Settings(
        api_url=api_url,
        project_id=environ["CI_PROJECT_ID"],
        mr_iid=environ["CI_MERGE_REQUEST_IID"],
        job_url=environ["CI_JOB_URL"],
        token=environ[TOKEN_VARIABLE],
        commit=environ.get("CI_COMMIT_SHORT_SHA", ""),
    )


# --------------------------------------------------------------------------- the comment


def risky_changes(preview: str) -> list[str]:
    """Pulumi's summary counts of replacements and deletions, e.g. ``["1 to replace"]``."""
    return [f"{count} to {op}" for count, op in _RISKY_SUMMARY.findall(preview)]


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks inside the text."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def render(
    stack: str | None, preview: str, exit_code: int, job_url: str, commit: str = "", kind: str = "preview"
) -> str:
    """The note body: marker, status, warnings, the preview (cut to fit GitLab's limit)."""
    status = "succeeded" if exit_code == 0 else f"**failed** (exit code {exit_code})"
    at = f" for commit {commit}" if commit else ""
    head = [
        marker(stack, kind),
        f"#### {title(stack, kind)} {status}{at}",
        "",
        f"Updated each time this {kind} job runs. [Full job log]({job_url}) · how to read it: `docs/reviewing.md`",
    ]
    risky = risky_changes(preview) if kind == "preview" else []  # the check note warns by itself
    if risky:
        head += ["", f"> :warning: **This preview replaces or deletes resources:** {', '.join(risky)}."]
    head_text = "\n".join(head) + "\n\n"

    fence = _fence(preview)
    if kind == "check":  # Markdown already (folded details): as it is
        body = f"{head_text}{preview.rstrip()}\n"
        if len(body) <= MAX_NOTE_CHARS:
            return body
        note = f"\n**Truncated**: read the rest in the [full job log]({job_url}) and the job's artifacts.\n"
        kept = preview[: max(MAX_NOTE_CHARS - len(head_text) - len(note), 0)]
        kept = kept[: kept.rindex("\n")] if "\n" in kept else kept
        return f"{head_text}{kept}\n{note}"
    body = f"{head_text}{fence}diff\n{preview.rstrip()}\n{fence}\n"
    if len(body) <= MAX_NOTE_CHARS:
        return body

    note = (
        f"\n**Truncated:** the preview has {len(preview):,} characters, more than a GitLab "
        f"comment can hold. Read the rest in the [full job log]({job_url}).\n"
    )
    room = MAX_NOTE_CHARS - len(head_text) - len(note) - 2 * len(fence) - len("diff\n\n\n")
    kept = preview[: max(room, 0)]
    if "\n" in kept:
        kept = kept[: kept.rindex("\n")]  # end at a whole line
    return f"{head_text}{fence}diff\n{kept}\n{fence}\n{note}"


# --------------------------------------------------------------------------- the API


class GitLab:
    def __init__(self, settings: Settings) -> None:
        self._s = settings
        self._opener = safe_http.opener()  # redirects refused: the token goes nowhere else
        project = urllib.parse.quote(settings.project_id, safe="")
        iid = urllib.parse.quote(settings.mr_iid, safe="")
        self._notes = f"{settings.api_url}/projects/{project}/merge_requests/{iid}/notes"

    def _redact(self, text: str) -> str:
        return text.replace(self._s.token, "[token]")

    def _request(self, method: str, url: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("PRIVATE-TOKEN", self._s.token)
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", "socialcoop-infra-gitlab-comment")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        where = f"{method} {self._redact(url)}"
        try:
            with self._opener.open(request, timeout=TIMEOUT_SECONDS) as response:
                return json.loads(response.read() or b"null"), response.headers
        except urllib.error.HTTPError as e:
            raise CommentError(f"{where} -> HTTP {e.code}: {self._redact(_api_message(e))}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise CommentError(f"{where} failed: {self._redact(str(reason))}") from None
        except ValueError:
            raise CommentError(f"{where}: the response is not JSON") from None

    def whoami(self) -> dict:
        """The token's own user (for a project access token, its bot user)."""
        user, _ = self._request("GET", f"{self._s.api_url}/user")
        return user

    def find_note(self, mark: str, user: dict) -> tuple[int | None, list[dict]]:
        """The id of ``user``'s earlier note starting with ``mark``, looking through every page,
        and the notes by anyone else that start with the same marker (left alone)."""
        page, others = "1", list[dict]()
        for _ in range(MAX_PAGES):
            query = urllib.parse.urlencode(
                {"sort": "asc", "order_by": "created_at", "per_page": PER_PAGE, "page": page}
            )
            notes, headers = self._request("GET", f"{self._notes}?{query}")
            for note in notes or []:
                if note.get("system") or not str(note.get("body", "")).startswith(mark):
                    continue
                if (note.get("author") or {}).get("id") == user["id"]:
                    return int(note["id"]), others
                others.append(note)
            page = (headers.get("X-Next-Page") or "").strip()
            if not page or not notes:
                return None, others
        raise CommentError(f"gave up after {MAX_PAGES} pages of notes")

    def create(self, body: str) -> int:
        note, _ = self._request("POST", self._notes, {"body": body})
        return int(note["id"])

    def update(self, note_id: int, body: str) -> int:
        note, _ = self._request("PUT", f"{self._notes}/{note_id}", {"body": body})
        return int(note["id"])


def _api_message(error: urllib.error.HTTPError) -> str:
    """GitLab's own explanation (``{"message": ...}`` or ``{"error": ...}``), else the reason."""
    try:
        raw = error.read(4096).decode("utf-8", "replace")
    except OSError:
        raw = ""
    try:
        payload = json.loads(raw)
    except ValueError:
        return raw.strip()[:500] or str(error.reason)
    if isinstance(payload, dict):
        message = payload.get("message", payload.get("error", payload))
        return message if isinstance(message, str) else json.dumps(message)[:500]
    return raw.strip()[:500]


def post_preview(settings: Settings, stack: str | None, body: str, kind: str = "preview") -> str:
    """Create the stack's note, or update it if this token's user wrote it. Returns what was done."""
    gitlab = GitLab(settings)
    user = gitlab.whoami()
    what = f"{stack} {kind}" if stack else kind
    note_id, others = gitlab.find_note(marker(stack, kind), user)
    for note in others:
        author = (note.get("author") or {}).get("username", "?")
        print(
            f"gitlab_comment: note {note['id']} starts with the {what} marker but is by "
            f"@{author}, not @{user.get('username', '?')}: left alone, not this {kind}"
        )
    if note_id is None:
        return f"created note {gitlab.create(body)}"
    return f"updated note {gitlab.update(note_id, body)}"


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.gitlab_comment", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--kind", choices=KINDS, default="preview", help="which note (default: preview)")
    parser.add_argument("--stack", help="the stack the preview is for (prod, alpha); not for --kind check")
    parser.add_argument("--file", required=True, help="the saved output of `pulumi preview --diff`")
    parser.add_argument("--exit-code", type=int, default=0, help="pulumi preview's exit code")
    args = parser.parse_args(argv)
    if args.kind == "preview" and not args.stack:
        parser.error("--stack is required for a preview")
    environ = os.environ if environ is None else environ

    try:
        settings = read_settings(environ)
    except CommentError as e:
        print(f"gitlab_comment: {e}", file=sys.stderr)
        return 2
    try:
        with open(args.file, encoding="utf-8", errors="replace") as f:
            preview = f.read()
        body = render(args.stack, preview, args.exit_code, settings.job_url, settings.commit, args.kind)
        done = post_preview(settings, args.stack, body, args.kind)
    except OSError as e:
        print(f"gitlab_comment: cannot read {args.file}: {e.strerror}", file=sys.stderr)
        return 1
    except CommentError as e:
        print(f"gitlab_comment: GitLab API error: {e}", file=sys.stderr)
        return 1
    what = f"{args.stack} {args.kind}" if args.stack else args.kind
    print(f"gitlab_comment: {done} on merge request !{settings.mr_iid} ({what})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
