"""What 360Learning's v1 and v2 sandboxes share: date formats, errors, paging.

The routes are each version's (``learning360_v1/sandbox.py``, ``learning360_v2/sandbox.py``);
both serve the seed's ``360learning`` account under the ``/360learning`` prefix.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from importer.sandbox.http import Request, Response, json_response

__all__ = [
    "EMAIL",
    "HEX24",
    "PREFIX",
    "SEED",
    "V1_DATE",
    "V2_DATE",
    "compare",
    "error_v1",
    "error_v2",
    "iso",
    "page",
    "parse_date",
]

#: Both versions are served under this prefix (their paths start /api/v1 and /api/v2).
PREFIX = "/360learning"
#: Both versions serve the same account: this section of the sandbox's seed.
SEED = "360learning"

HEX24 = re.compile(r"[a-fA-F0-9]{24}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# v1: "ISO 8601 complete date plus hours, minutes and seconds".
V1_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})")
# v2: YYYY-MM-DDThh:mm:ss.sssZ (OpenAPI "date-time"; offsets accepted as RFC 3339 allows).
V2_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})")


def parse_date(text: Any, pattern: re.Pattern[str]) -> dt.datetime | None:
    if not isinstance(text, str) or not pattern.fullmatch(text):
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def iso(moment: float) -> str:
    stamp = dt.datetime.fromtimestamp(moment, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def error_v1(status: int, code: str) -> Response:
    return json_response(status, {"error": code})


def error_v2(status: int, code: str, message: str) -> Response:
    """v2 domain errors: ``{"error": {"code", "message"}}`` (401 and 429 are flat, see below)."""
    return json_response(status, {"error": {"code": code, "message": message}})


def compare(value: str, limit: dt.datetime, op: str) -> bool:
    moment = parse_date(value, V2_DATE)
    if moment is None:
        return False
    return moment >= limit if op == "gte" else moment < limit


def page(request: Request, items: list[dict[str, Any]], size: int) -> Response:
    """One page of a bare array; a ``Link: <...>; rel="next"`` header when more remain.

    The page parameter's name is not documented (the Link URL is opaque to
    clients); the sandbox uses ``page``.
    """
    try:
        page = max(int(request.arg("page") or "1"), 1)
    except ValueError:
        page = 1
    chunk = items[(page - 1) * size : page * size]
    headers = {}
    if page * size < len(items):
        query = [f"{k}={v}" for k, values in request.query.items() if k != "page" for v in values]
        query.append(f"page={page + 1}")
        url = f"{request.headers.get('x-sandbox-base', '')}{request.path}?{'&'.join(query)}"
        headers["Link"] = f'<{url}>; rel="next"'
    return Response(200, chunk, headers)
