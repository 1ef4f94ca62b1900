"""Coursepath: find or create the member, enrol them, add them to groups, invite them.

Each row is several calls; each one's result (the member's ID) feeds the next
through ``{member}`` in the paths. The result sheet reports every step.

Coursepath documents no response shapes (shared/VENDORS.md), so every answer
is read defensively:

* a list may come bare or wrapped (``{"members": [...]}``, ``data``, ``items``...);
* the member found by an email search is the one whose email *equals* the
  row's (case aside), never simply the first one listed;
* the member's ID may be named ``id``, ``_id``, ``memberId``...; an answer
  naming none is a row outcome saying so, never a crash;
* a 403 on one call may be that call's (an enrolment the academy forbids) or
  the acting admin's: ``GET /members/me`` tells which, and only the second
  stops the run;
* the one success shape the docs give is "data is returned as JSON": a 2xx to
  an enrolment, a group or an invitation is done only when its body is a JSON
  object or list without an ``error``. An HTML page or an empty body (from a
  proxy, say) proves nothing: ``unknown``. Enrolling and grouping again is
  harmless, so such a row is sent again on the next run; an invitation is an
  email, sent twice if resent, so a row asking for one is never resent after a
  lost answer without ``--resend-unknown``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from importer.sending.protocol import (
    Answer,
    Call,
    NoLookup,
    Outcome,
    OutcomeKind,
    plain_status,
    retry_after_header,
    snippet,
)
from importer.sending.throttle import RatePolicy

__all__ = ["ADAPTER", "ID_KEYS", "ident_of", "items_of"]

_PROFILE = ("name", "externalId", "company", "department", "country")
#: Where a REST API plausibly puts an object's ID, most likely first.
ID_KEYS = ("id", "_id", "memberId", "member_id", "ID", "Id", "uuid")
#: Where a REST API plausibly wraps a list.
_LIST_KEYS = ("members", "data", "items", "results", "records", "list")
_ME = Call("check the acting admin", "GET", "/api/v1/members/me", writes=False)


def items_of(body: Any) -> list[dict[str, Any]] | None:
    """The objects of a list answer, bare or wrapped; ``None`` if it is not a list at all."""
    if isinstance(body, dict):
        body = next((body[k] for k in _LIST_KEYS if isinstance(body.get(k), list)), None)
    if not isinstance(body, list):
        return None
    return [item for item in body if isinstance(item, dict)]


def ident_of(item: Any) -> str | None:
    """An object's ID under any of :data:`ID_KEYS` (also inside a ``member`` wrapper)."""
    if isinstance(item, dict) and isinstance(item.get("member"), dict):
        item = item["member"]
    if not isinstance(item, dict):
        return None
    for key in ID_KEYS:
        if item.get(key) not in (None, ""):
            return str(item[key])
    return None


class _Coursepath(NoLookup):
    name = "coursepath"
    # No limit is documented; calls are made one at a time, with backoff on 429.
    rate = RatePolicy(rate=None, description="none documented")
    max_concurrency = 1
    scopes = "the academy's API key, acting as an admin member (the JWT's email)"
    odd_answers: tuple[str, ...] = (
        "Lists bare or wrapped; the member ID under id, _id, memberId...; a member is the "
        "one whose email equals the row's, never the first listed.",
        "An answer naming no member ID: the row says so (never a crash).",
        "A 403 on one call is that row's outcome, unless GET /members/me is refused too "
        "(then the run stops).",
        "A 2xx whose body is not JSON (an HTML page, an empty body): unknown; the row is sent "
        "again on the next run, unless it asks for an invitation (then --resend-unknown).",
    )
    documented_errors: tuple[tuple[int, Any, OutcomeKind, str], ...] = (
        (400, {"error": "email is required"}, "rejected", "email is required"),
        (401, {"error": "invalid token"}, "fatal", "IMPORTER_COURSEPATH_API_KEY"),
        (404, {"error": "course not found"}, "rejected", "course not found"),
        (429, {"error": "too many requests"}, "retry", "too many requests"),
    )

    def calls(self, values: Mapping[str, str | None]) -> list[Call]:
        email = str(values["email"])
        profile = {key: str(values[key]) for key in _PROFILE if values.get(key)}
        calls = [
            Call(
                "look the member up",
                "GET",
                "/api/v1/members",
                params={"email": email},
                writes=False,
                result="found",
            ),
            Call(
                "create the member",
                "POST",
                "/api/v1/members",
                form={"email": email, **profile},
                result="member",
                skip_if="found",
            ),
        ]
        if profile:
            calls.append(
                Call(
                    "update the member",
                    "POST",
                    "/api/v1/members/{found}",
                    form=profile,
                    result="member",
                    only_if="found",
                )
            )
        else:
            calls.append(
                Call(
                    "use the member found",
                    "GET",
                    "/api/v1/members/{found}",
                    writes=False,
                    result="member",
                    only_if="found",
                )
            )
        course, program = values.get("courseId"), values.get("programId")
        if course:
            calls.append(
                Call(
                    f"enrol in course {course}",
                    "POST",
                    f"/api/v1/courses/{course}/members/{{member}}/coursemember",
                )
            )
        if program:
            calls.append(
                Call(
                    f"enrol in program {program}",
                    "POST",
                    f"/api/v1/programs/{program}/members/{{member}}/programmember",
                )
            )
        for group in filter(None, str(values.get("groups") or "").split(";")):
            calls.append(
                Call(
                    f"add to group {group!r}",
                    "POST",
                    "/api/v1/members/{member}/groups",
                    form={"name": group},
                )
            )
        if values.get("invite") == "yes":
            where = f"/api/v1/courses/{course}" if course else f"/api/v1/programs/{program}"
            calls.append(Call("send the invitation", "POST", f"{where}/members/{{member}}/invite"))
        return calls

    def interpret(self, call: Call, answer: Answer) -> Outcome:
        body = answer.body
        if 200 <= answer.status < 300:
            return self._success(call, answer)
        if answer.status == 409 and call.result == "member" and ident_of(body):
            # Undocumented: a member with this email exists, and the answer names it.
            return Outcome("ok", ident=ident_of(body))
        error = body.get("error", "") if isinstance(body, dict) else ""
        if answer.status == 401:
            return Outcome(
                "fatal",
                message="Coursepath refused the token: check "
                "IMPORTER_COURSEPATH_API_KEY, IMPORTER_COURSEPATH_EMAIL (an admin "
                "of the academy) and this machine's clock.",
            )
        if answer.status == 403:
            return Outcome(
                "rejected",
                message=f"Coursepath refused to {call.name} (403: {error or 'forbidden'}).",
                probe=_ME,
            )
        shared = plain_status(answer, retry_after_header)
        if shared:
            return shared
        if call.result == "found" and answer.status in (404, 409):
            # The docs give no 404 or 409 for a list (GET /members?email= lists, and an
            # address nobody has is an empty list): a proxy's or the vendor's fault, never
            # the coordinator's address. Nothing was done: held back, sent again next run.
            return Outcome(
                "retry",
                message=f"Coursepath answered {answer.status} to {call.name}, an answer its "
                "docs do not give for a list: a fault at the vendor or a proxy, not the "
                f"address{snippet(answer)}",
            )
        detail = error or f"{answer.status}{snippet(answer)}"
        return Outcome("rejected", message=f"Coursepath could not {call.name}: {detail}.")

    def _success(self, call: Call, answer: Answer) -> Outcome:
        body = answer.body
        if call.result == "found":
            members = items_of(body)
            if members is None:  # not a list: it proves nothing either way
                return Outcome("unknown", message=f"an undocumented answer{snippet(answer)}")
            email = str((call.params or {}).get("email", "")).strip().casefold()
            same = [m for m in members if str(m.get("email", "")).strip().casefold() == email]
            if not same:
                return Outcome("ok", ident=None)  # nobody has this email: create the member
            ident = ident_of(same[0])
            if ident is None:
                return Outcome("rejected", message=_NO_ID.format(name=call.name, keys=same[0]))
            return Outcome("ok", ident=ident)
        if call.result is None:
            if _json_done(body):
                return Outcome("ok")
            return Outcome("unknown", message=_odd(call, answer))
        ident = ident_of(body)
        if ident is None:
            keys = sorted(body) if isinstance(body, dict) else snippet(answer).strip()
            message = _NO_ID.format(name=call.name, keys=keys)
            return Outcome("unknown" if call.writes else "rejected", message=message)
        return Outcome("ok", ident=ident)

    def created_id(self, results: Mapping[str, str]) -> str | None:
        return results.get("member")

    # Every step finds the member first and enrolling or grouping twice changes nothing, so
    # a row whose answer was lost is simply run again...
    resend_safe = True

    def resend_harmless(self, values: Mapping[str, str | None]) -> bool:
        """...unless it asks for an invitation: an email the member would get twice (no
        endpoint lists the invitations sent, so a lost one cannot be checked)."""
        return values.get("invite") != "yes"


def _json_done(body: Any) -> bool:
    """Whether a 2xx body is what the API returns ("data is returned as JSON"): an object or
    a list, and no ``error`` in it. The docs give no shape per endpoint, so no more is asked."""
    if isinstance(body, dict):
        return "error" not in body
    return isinstance(body, list)


def _odd(call: Call, answer: Answer) -> str:
    """Why a 2xx without JSON proves nothing, and what the next run does about it."""
    said = f"Coursepath answered the request to {call.name} with {answer.status}{snippet(answer)}"
    if call.path.endswith("/invite"):
        return (
            f"{said}, not the JSON it returns: the invitation may have been sent. Ask the "
            "member; it is not sent again unless you re-run with --resend-unknown"
        )
    return (
        f"{said}, not the JSON it returns: it may have been done. The next run sends it again "
        "(harmless: enrolling or grouping twice changes nothing)"
    )


_NO_ID = (
    "Coursepath answered the request to {name} without a member ID we recognise "
    "(it gave {keys}); check the member in Coursepath"
)

ADAPTER = _Coursepath()
