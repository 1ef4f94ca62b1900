"""A vendor that exists only in the tests: "Acme LMS", one package, registered by one call.

It is the proof of "one vendor, one place": ``tests/test_conformance.py`` registers it with
:func:`importer.vendors.registered` and runs the whole conformance suite over it, as over every
real vendor, without any file outside this package knowing it. Its API, kept small:

* ``POST /acme/api/sessions`` with ``{"title", "starts"}`` and the header ``X-Acme-Key``:
  201 ``{"session": {"id", "title", "starts"}}``; 400 ``{"problem": "..."}``; 401 without the key
  (classed by the shared table, as a 403 would be: it declares neither); 429 beyond 5 creates
  in any second, or beyond 2 requests at once (its documented limits).
* ``GET /acme/api/sessions?title=...``: ``{"sessions": [...]}`` (for finding a lost answer).
* ``PATCH /acme/api/sessions/{id}`` with the fields to change: 200 ``{"session": ...}``;
  ``DELETE`` of the same path: 204; ``GET``: 200 the session; each 404 for an unknown ID.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from importer.core.clock import Clock
from importer.core.secret import Secret
from importer.sandbox.http import Request, Response, Routes, json_response
from importer.sandbox.part import SandboxPart
from importer.sandbox.state import SandboxState, SlidingWindow
from importer.sending.protocol import (
    AdapterBase,
    Answer,
    Call,
    Outcome,
    OutcomeKind,
    plain_status,
    retry_after_header,
)
from importer.sending.readback import ReadBack, pages
from importer.sending.retry import RetryPolicy
from importer.sending.throttle import RatePolicy
from importer.sheet.fields import DateTimeUTC, Field, Text
from importer.sheet.schema import Vendor
from importer.store.tokens import Tokens
from importer.vendors.plugin import Changes, Plugin

__all__ = ["PLUGIN"]

NAME = "acme-lms"
_KEY = "IMPORTER_ACME_KEY"

SCHEMA = Vendor(
    name=NAME,
    title="Acme LMS (a vendor of the tests only)",
    fields=(
        Field("title", "Title", Text(), required=True, description="The title.", example="Intro"),
        Field(
            "starts",
            "Starts",
            DateTimeUTC(),
            required=True,
            description="When it starts.",
            example="2025-07-01 15:00",
        ),
    ),
    rate_limit="5 calls a second",
)


class _Wire(AdapterBase):
    name = NAME
    rate = RatePolicy(rate=5.0, documented=5.0, description="5 calls a second")
    max_concurrency = 2
    resend_safe = False
    scopes = "an Acme API key"
    odd_answers: tuple[str, ...] = ("Anything but a 201 with a session id to a create: unknown.",)
    documented_errors: tuple[tuple[int, Any, OutcomeKind, str], ...] = (
        (400, {"problem": "title too long"}, "rejected", "title too long"),
        (401, {"problem": "no key"}, "reauth", "refused the credentials"),
    )

    def calls(self, values: Mapping[str, str | None]) -> list[Call]:
        body = {"title": values["title"], "starts": values["starts"]}
        return [Call("create the session", "POST", "/api/sessions", json=body, result="session")]

    def interpret(self, call: Call, answer: Answer) -> Outcome:
        body = answer.body if isinstance(answer.body, dict) else {}
        session = body.get("session") if isinstance(body.get("session"), dict) else {}
        if answer.status == 201 and session.get("id"):
            return Outcome("ok", ident=str(session["id"]))
        shared = plain_status(answer, retry_after_header)
        if shared:
            return shared
        return Outcome("rejected", message=f"Acme refused: {body.get('problem', answer.status)}.")

    def created_id(self, results: Mapping[str, str]) -> str | None:
        return results.get("session")

    def lookup(self, values: Mapping[str, str | None]) -> Call | None:
        params = {"title": str(values["title"])}
        return Call("look the session up", "GET", "/api/sessions", params=params, writes=False)

    def found(
        self, call: Call, answer: Answer, values: Mapping[str, str | None]
    ) -> tuple[str | None, Call | None]:
        for session in answer.body.get("sessions", []):
            if session["title"] == values["title"] and session["starts"] == values["starts"]:
                return str(session["id"]), None
        return None, None

    def listed(self, answer: Answer) -> bool:
        return isinstance(answer.body, dict) and isinstance(answer.body.get("sessions"), list)


class _KeyAuth:
    def __init__(self, key: Secret) -> None:
        self.key = key

    def headers(self) -> dict[str, str]:
        return {"X-Acme-Key": self.key.reveal()}

    def invalidate(self) -> None:
        """A key is not renewed."""


def _auth(
    creds: Mapping[str, Secret],
    auth_url: str,
    client: httpx.Client,
    clock: Clock,
    tokens: Tokens | None = None,
    retry: RetryPolicy | None = None,
) -> _KeyAuth:
    return _KeyAuth(creds[_KEY])


def _build(state: SandboxState, routers: Mapping[str, Routes]) -> None:
    router = routers["/acme"]
    window = SlidingWindow(5, 1.0, state.clock)  # its documented limit: 5 creates a second

    @router.route("POST", "/api/sessions")
    def create(request: Request) -> Response:
        if request.headers.get("x-acme-key") != "acme-test-key":
            return json_response(401, {"problem": "no key"})
        if not window.hit():
            return json_response(429, {"problem": "slow down"})
        body = request.json()
        if not isinstance(body, dict) or not body.get("title") or not body.get("starts"):
            return json_response(400, {"problem": "title and starts are required"})
        ident = state.new_id("short")
        session = {"id": ident, "title": body["title"], "starts": body["starts"]}
        state.record(NAME, "session", ident, session, body)
        return json_response(201, {"session": session})

    create.creates = True  # type: ignore[attr-defined]

    @router.route("GET", "/api/sessions")
    def listing(request: Request) -> Response:
        title = request.arg("title")
        found = [c.data for c in state.objects(NAME, "session") if title in (None, c.data["title"])]
        return json_response(200, {"sessions": found})

    def one(request: Request) -> tuple[Any, Response | None]:
        if request.headers.get("x-acme-key") != "acme-test-key":
            return None, json_response(401, {"problem": "no key"})
        found = [c for c in state.objects(NAME, "session") if c.id == request.params["id"]]
        return (found[0], None) if found else (None, json_response(404, {"problem": "no such"}))

    @router.route("GET", "/api/sessions/{id}")
    def read(request: Request) -> Response:
        found, refused = one(request)
        return refused or json_response(200, found.data)

    @router.route("PATCH", "/api/sessions/{id}")
    def change(request: Request) -> Response:
        found, refused = one(request)
        body = request.json()
        if refused or not isinstance(body, dict) or set(body) - {"title", "starts"}:
            return refused or json_response(400, {"problem": "only title and starts change"})
        found.data.update(body)
        return json_response(200, {"session": found.data})

    @router.route("DELETE", "/api/sessions/{id}")
    def delete(request: Request) -> Response:
        found, refused = one(request)
        if refused:
            return refused
        state.remove(NAME, "session", found.id)
        return Response(204)


def _update(before: Mapping[str, Any], after: Mapping[str, Any], ident: str) -> list[Call]:
    body = {k: after[k] for k in ("title", "starts") if before.get(k) != after.get(k)}
    path = f"/api/sessions/{ident}"
    return [Call("update the session", "PATCH", path, json=body)] if body else []


def _delete(values: Mapping[str, Any], ident: str) -> list[Call]:
    return [Call("delete the session", "DELETE", f"/api/sessions/{ident}")]


def _interpret(call: Call, answer: Answer) -> Outcome:
    if answer.status in (200, 204) or (call.method == "DELETE" and answer.status == 404):
        return Outcome("ok")
    return _Wire().interpret(call, answer)


CHANGES = Changes(
    interpret=_interpret,
    update=_update,
    delete=_delete,
    documented_errors=(
        ("PATCH", 400, {"problem": "only title and starts change"}, "rejected", "only title"),
        ("PATCH", 401, {"problem": "no key"}, "reauth", "refused the credentials"),
        ("DELETE", 204, None, "ok", ""),
        ("DELETE", 404, {"problem": "no such"}, "ok", ""),
    ),
)


def _export(sender: Any, target: Mapping[str, str]) -> list[dict[str, Any]]:
    listing = Call("list the sessions", "GET", "/api/sessions", writes=False)
    return list(pages(sender, listing, lambda a: a.body.get("sessions", []), lambda *_: None))


READBACK = ReadBack(
    fields={"title": "title", "starts": "starts"},
    export=_export,
    find=lambda sender, created, target: {s["id"]: s for s in _export(sender, target)},
)

PLUGIN = Plugin(
    schema=SCHEMA,
    wire=_Wire(),
    credentials=(_KEY,),
    api_host="https://api.acme.example",
    token_host=None,
    auth=_auth,
    sandbox=SandboxPart(
        prefixes=("/acme",),
        build=_build,
        owns=lambda prefix, path: prefix == "/acme",
        server_error={"problem": "server error"},
        describe=lambda base, state: {
            "base_url": f"{base}/acme",
            "auth_url": None,
            "env": {_KEY: "acme-test-key"},
        },
        rate_limit=(5, 1.0),
        max_in_flight=2,
    ),
    account_fields=(_KEY,),
    readback=READBACK,
    changes=CHANGES,
)
