"""HTTP for the tools that carry an API token (import_ids, gitlab_comment).

Two rules, so a token only ever reaches the API it was made for:

- the API URL must be ``https://``. Plain ``http://`` is accepted only to this machine
  (127.0.0.1, ::1, localhost) and only when ``SOCIALCOOP_ALLOW_HTTP_LOOPBACK=1`` is set:
  the tests' explicit opt-in for their local fake servers. Never set it in CI.
- redirects are never followed. Neither Cloudflare's nor GitLab's API redirects an API
  call; a redirect means a wrong URL or someone in between, and following it would
  resend the token to whatever host it names.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

ALLOW_HTTP_VARIABLE = "SOCIALCOOP_ALLOW_HTTP_LOOPBACK"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def url_problem(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Why a token must not be sent to ``url``, or None when it may."""
    environ = os.environ if environ is None else environ
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in LOOPBACK and environ.get(ALLOW_HTTP_VARIABLE) == "1":
        return None
    return "must be https:// (the token would travel in clear or to an unexpected place)"


class RedirectRefused(urllib.error.URLError):
    """The server answered with a redirect; the request was not repeated anywhere."""


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise RedirectRefused(
            f"refused a redirect (HTTP {code}) to {newurl}: the token is only sent to the API URL given"
        )


def opener() -> urllib.request.OpenerDirector:
    """urllib's opener with redirects refused (no proxy changes: CI runners may need one)."""
    return urllib.request.build_opener(_RefuseRedirects)
