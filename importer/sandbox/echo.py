"""Answers that quote the caller's credentials back, in every form a server may write them.

Real services and the proxies in front of them do this: an error that repeats the request
("token ... is not valid for /api/..."), a gateway page listing the request's headers, a
debug field with the URL the call was made with. The token then comes back raw, JSON-escaped
(``\\/``, ``\\u002b``), URL-encoded (``%2F`` or ``%2f``, ``+`` for a space) or in base64 (a
``Basic`` header quoted). The fault ``echo`` (:mod:`.faults`) answers with all of them, so
that a test can check that none survives into anything the client writes.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

from importer.sandbox.http import Request, Response

__all__ = ["credential_of", "echo_answer", "echoed_forms"]


def credential_of(request: Request) -> str:
    """The secret a request carries: its ``Authorization`` value's token, else its API key."""
    auth = request.headers.get("authorization", "")
    if auth:
        return auth.split(" ", 1)[-1]
    return request.headers.get("x-apikey", "")


def _json_escaped(value: str) -> str:
    """``value`` as a JSON encoder that escapes everything but letters and digits writes it:
    ``/`` as ``\\/`` (PHP's default), every other sign as ``\\u00xx``."""
    return "".join(c if c.isalnum() else "\\/" if c == "/" else f"\\u{ord(c):04x}" for c in value)


def echoed_forms(value: str) -> dict[str, str]:
    """Every form the echo faults write ``value`` in, by name (as they appear in the body)."""
    quoted = quote(value, safe="")
    # Lower-case escapes ("%2f"): what some encoders write; RFC 3986 says they are the same.
    first, *rest = quoted.split("%")
    lower = "%".join([first, *(part[:2].lower() + part[2:] for part in rest)])
    return {
        "raw": value,
        "json": _json_escaped(value),
        "quote": quoted,
        "quote_lower": lower,
        "quote_plus": quote_plus(value),
        "base64": base64.b64encode(value.encode()).decode(),
        "basic": base64.b64encode(f"{value}:".encode()).decode(),
    }


def echo_answer(request: Request, text: bool, turn: int) -> Response:
    """A 400 quoting the request's credential in every form (as JSON, or as a text page).

    The error's message leads with one form, the ``turn``-th (a client quoting only the
    start of an answer meets each form in turn); the other fields hold every form.
    """
    forms = echoed_forms(credential_of(request))
    lead = list(forms.values())[turn % len(forms)]
    # Written by hand, not by json.dumps: the escaped form must reach the client as escaped.
    body = (
        '{"error": {"code": "badRequest", "message": "token ' + lead + " is not valid for "
        + request.path + '", "request": "' + request.method + " " + request.path
        + "?access_token=" + forms["quote"] + "&t=" + forms["quote_plus"]
        + "&l=" + forms["quote_lower"] + '", "escaped": "' + forms["json"] + '", "raw": "'
        + forms["raw"] + '", "auth": "Basic ' + forms["basic"] + '", "key": "'
        + forms["base64"] + '"}}'
    )  # fmt: skip
    if not text:
        json.loads(body)  # it is JSON (the forms hold no quote or backslash of their own)
        return Response(400, raw=body.encode(), headers={"content-type": "application/json"})
    page = f"400 Bad Request\nupstream refused the request:\n{body}\n"
    return Response(400, raw=page.encode(), headers={"content-type": "text/plain"})
