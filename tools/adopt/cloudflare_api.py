"""Cloudflare's DNS records, read from its API (a read-only token, never shown) or from a saved
response (the command: tools/adopt/import_ids.py)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tools.pipeline import safe_http

# --------------------------------------------------------------------------- Cloudflare's records

API = "https://api.cloudflare.com/client/v4"
PER_PAGE = 1000  # Cloudflare allows up to 5,000,000 per page; result_info says how many pages there are


class ImportIdsError(Exception):
    """Records cannot be read (file, API, zone): stops with exit status 2."""


def _results(body: Any, source: str) -> list[dict]:
    if isinstance(body, list):  # a bare list of records
        return body
    if not isinstance(body, dict) or not isinstance(body.get("result"), list):
        raise ImportIdsError(f"{source}: not a Cloudflare list-records response (no result list)")
    if body.get("success") is False:
        raise ImportIdsError(f"{source}: Cloudflare reported failure: {_errors(body)}")
    return body["result"]


def _errors(body: Any) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors or []) or "no details"


def read_json(paths: list[str]) -> list[dict]:
    """Records from saved responses (one file per page)."""
    records = []
    for path in paths:
        try:
            body = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ImportIdsError(f"{path}: {e}") from None
        records += _results(body, path)
    return records


def check_api_url(api: str) -> None:
    """The token travels in a header: only over HTTPS (tools/pipeline/safe_http.py)."""
    problem = safe_http.url_problem(api)
    if problem:
        raise ImportIdsError(f"--api {api}: {problem}")


def fetch(api: str, zone_id: str, token: str, per_page: int = PER_PAGE) -> list[dict]:
    """GET /zones/{zone_id}/dns_records, every page. The token is only ever sent, never shown,
    and never to another host: a redirect stops the fetch."""
    check_api_url(api)
    records, page = [], 1
    while True:
        query = urllib.parse.urlencode({"page": page, "per_page": per_page})
        url = f"{api.rstrip('/')}/zones/{zone_id}/dns_records?{query}"
        request = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
        )
        try:
            with safe_http.opener().open(request, timeout=30) as response:
                body = json.load(response)
        except urllib.error.HTTPError as e:
            try:
                detail = _errors(json.loads(e.read()))
            except ValueError:
                detail = "no details"
            raise ImportIdsError(f"GET {url}: HTTP {e.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise ImportIdsError(f"GET {url}: {getattr(e, 'reason', e)}") from None
        results = _results(body, f"GET {url}")
        records += results
        total_pages = (body.get("result_info") or {}).get("total_pages") or 1
        if page >= total_pages or not results:
            return records
        page += 1
