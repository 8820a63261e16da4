"""Open, update or close the one GitLab issue that says a stack has drifted from its code.

    python -m tools.drift_issue --stack prod --file out/drift-prod.txt --exit-code 1 \
        [--report out/zone-report-prod.txt]

Runs in the scheduled ``drift:*`` jobs (.gitlab-ci.yml, docs/ci.md "Drift"), after
``pulumi preview --refresh --expect-no-changes``. Its exit code decides:
- non-zero (the live infrastructure differs from the stack, or the preview failed): update the
  stack's open drift issue with the new output (description, plus a note so watchers hear of it),
  or open one;
- zero: if a drift issue is open, say so in a note and close it; otherwise do nothing.
It then exits with the preview's own exit code, so the scheduled pipeline fails visibly.

One issue per stack: found by its hidden marker (``<!-- socialcoop-infra:drift:prod -->``), among
open issues labelled ``drift`` that the token's own user wrote (an issue by anyone else with
the marker is left alone and named in the log). Same token, URL and redirect rules as
tools/pipeline/gitlab_comment.py (GITLAB_NOTE_TOKEN; CI_API_V4_URL, CI_PROJECT_ID, CI_JOB_URL).
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

import yaml

from tools.pipeline import gitlab_comment as gc

REPO = Path(__file__).resolve().parents[2]
PROJECT = "socialcoop-infra"
LABEL = "drift"
CI_VARIABLES = ("CI_API_V4_URL", "CI_PROJECT_ID", "CI_JOB_URL")


def marker(stack: str) -> str:
    return f"<!-- socialcoop-infra:drift:{stack} -->"


def body(stack: str, preview: str, exit_code: int, job_url: str, report: str = "") -> str:
    """The issue description: what was found, the undeclared-records report, the preview."""
    what = "differs from the stack's code" if exit_code != 0 else "matches the stack's code again"
    parts = [
        marker(stack),
        f"The scheduled `pulumi preview --refresh --expect-no-changes --stack {stack}` says the live "
        f"infrastructure **{what}** (exit code {exit_code}). [Job log]({job_url}).",
        "",
        "Either the change was made by hand (bring it into the stack file with a merge request, or "
        'undo it), or the stack\'s code changed without a `pulumi up`. docs/ci.md, "Drift".',
    ]
    if report.strip():
        fence = gc._fence(report)
        parts += [
            "",
            "Records in the live zone that no stack declares:",
            f"{fence}\n{report.rstrip()}\n{fence}",
        ]
    fence = gc._fence(preview)
    parts += ["", f"{fence}diff\n{preview.rstrip()[: gc.MAX_NOTE_CHARS // 2]}\n{fence}"]
    return "\n".join(parts) + "\n"


class Issues(gc.GitLab):
    """The project's issues, through gitlab_comment's request handling (token redacted, no redirects)."""

    def __init__(self, settings: gc.Settings) -> None:
        super().__init__(settings)
        project = urllib.parse.quote(settings.project_id, safe="")
        self._issues = f"{settings.api_url}/projects/{project}/issues"

    def find(self, stack: str, user: dict) -> tuple[dict | None, list[dict]]:
        query = urllib.parse.urlencode({"state": "opened", "labels": LABEL, "per_page": gc.PER_PAGE})
        issues, _ = self._request("GET", f"{self._issues}?{query}")
        mine, others = None, []
        for issue in issues or []:
            if not str(issue.get("description") or "").startswith(marker(stack)):
                continue
            if (issue.get("author") or {}).get("id") == user["id"] and mine is None:
                mine = issue
            else:
                others.append(issue)
        return mine, others

    def open(self, stack: str, description: str) -> int:
        title = f"Drift: the {stack} stack differs from the live infrastructure"
        issue, _ = self._request(
            "POST", self._issues, {"title": title, "description": description, "labels": LABEL}
        )
        return int(issue["iid"])

    def note(self, iid: int, text: str) -> None:
        self._request("POST", f"{self._issues}/{iid}/notes", {"body": text})

    def edit(self, iid: int, **fields) -> None:
        self._request("PUT", f"{self._issues}/{iid}", fields)


def settle(settings: gc.Settings, stack: str, preview: str, exit_code: int, report: str = "") -> str:
    """Do what the exit code asks; returns what was done, for the job log."""
    issues = Issues(settings)
    user = issues.whoami()
    mine, others = issues.find(stack, user)
    for issue in others:
        author = (issue.get("author") or {}).get("username", "?")
        print(
            f"drift_issue: issue #{issue['iid']} has the {stack} drift marker but is by @{author}: left alone"
        )
    text = body(stack, preview, exit_code, settings.job_url, report)
    if exit_code == 0:
        if mine is None:
            return "no drift, no open drift issue"
        issues.note(int(mine["iid"]), f"No drift any more ([job log]({settings.job_url})): closing.")
        issues.edit(int(mine["iid"]), state_event="close")
        return f"no drift: closed issue #{mine['iid']}"
    if mine is None:
        return f"drift: opened issue #{issues.open(stack, text)}"
    issues.edit(int(mine["iid"]), description=text)
    issues.note(int(mine["iid"]), f"Still drifting ([job log]({settings.job_url})): description updated.")
    return f"drift: updated issue #{mine['iid']}"


def _print_zone_id(stack: str) -> int:
    path = REPO / f"Pulumi.{stack}.yaml"
    try:
        print(yaml.safe_load(path.read_text())["config"][f"{PROJECT}:dns"]["zone_id"])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as e:
        print(f"drift_issue: no dns.zone_id in {path}: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.drift_issue", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--file", help="the saved output of the refresh preview")
    parser.add_argument("--exit-code", type=int, help="the preview's exit code")
    parser.add_argument(
        "--report", help="a report of live records no stack declares (tools.adopt.import_ids)"
    )
    parser.add_argument(
        "--print-zone-id", action="store_true", help="only print the stack file's dns.zone_id (for the job)"
    )
    args = parser.parse_args(argv)
    if args.print_zone_id:
        return _print_zone_id(args.stack)
    if args.file is None or args.exit_code is None:
        parser.error("--file and --exit-code are required")
    environ = os.environ if environ is None else environ
    missing = [n for n in (*CI_VARIABLES, gc.TOKEN_VARIABLE) if not environ.get(n)]
    if missing:
        print(
            f"drift_issue: missing environment variable(s): {', '.join(missing)} (docs/ci.md)",
            file=sys.stderr,
        )
        return 2
    api_url = environ["CI_API_V4_URL"].rstrip("/")
    problem = gc.safe_http.url_problem(api_url, environ)
    if problem:
        print(f"drift_issue: CI_API_V4_URL = {api_url!r}: {problem}", file=sys.stderr)
        return 2
    settings = gc.Settings(
        api_url, environ["CI_PROJECT_ID"], "", environ["CI_JOB_URL"], environ[gc.TOKEN_VARIABLE]
    )
    try:
        with open(args.file, encoding="utf-8", errors="replace") as f:
            preview = f.read()
        report = ""
        if args.report and os.path.exists(args.report):
            with open(args.report, encoding="utf-8", errors="replace") as f:
                report = f.read()
        print(f"drift_issue: {settle(settings, args.stack, preview, args.exit_code, report)}")
    except (gc.CommentError, OSError) as e:
        print(f"drift_issue: {e}", file=sys.stderr)
        return 1
    return args.exit_code


if __name__ == "__main__":
    sys.exit(main())
