"""Coursepath: update a member and their enrolments; take an enrolment back (the API reference).

* ``POST /api/v1/members/{memberId}`` "updates the specified member" (name, company,
  department, country, externalId);
* ``POST``/``DELETE /api/v1/courses/{courseId}/members/{memberId}/coursemember`` enrol in and
  remove from a course ("Beware: this also deletes all learning results of that member!");
  the same under ``/programs/{programId}/…/programmember``;
* ``POST``/``DELETE /api/v1/members/{memberId}/groups`` (``name``) add to and remove from a group.

An undo removes the enrolments a row made; the member stays (no delete of a member is
documented, and the member may have existed before the import), and so do their groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from importer.sending.protocol import Answer, Call, Outcome
from importer.vendors.coursepath.wire import ADAPTER
from importer.vendors.plugin import Changes, same_path

__all__ = ["CHANGES"]

_PROFILE = ("name", "externalId", "company", "department", "country")
_RESULTS = "Coursepath deletes the learner's results in it"
WARNING = (
    "Coursepath: removing an enrolment also deletes all learning results of that member in "
    "that course or program (the vendor's own warning). Members stay, and so do their groups."
)


def _text(values: Mapping[str, Any], name: str) -> str:
    return str(values.get(name) or "")


def _enrolments(before: Mapping[str, Any], after: Mapping[str, Any], ident: str) -> list[Call]:
    calls = []
    for kind in ("course", "program"):
        old, new = _text(before, f"{kind}Id"), _text(after, f"{kind}Id")
        if old == new:
            continue
        base = f"/api/v1/{kind}s/{{}}/members/{ident}/{kind}member"
        if new:
            calls.append(Call(f"enrol in {kind} {new}", "POST", base.format(new)))
        if old:
            name = f"remove from {kind} {old} ({_RESULTS})"
            calls.append(Call(name, "DELETE", base.format(old)))
    return calls


def _groups(before: Mapping[str, Any], after: Mapping[str, Any], ident: str) -> list[Call]:
    def names(values: Mapping[str, Any]) -> list[str]:
        return [g.strip() for g in _text(values, "groups").split(";") if g.strip()]

    old, new = names(before), names(after)
    path = f"/api/v1/members/{ident}/groups"
    added = [
        Call(f"add to group {g!r}", "POST", path, form={"name": g}) for g in new if g not in old
    ]
    # Documented: DELETE with the parameter name removes the member from that group only.
    removed = [
        Call(f"remove from group {g!r}", "DELETE", path, params={"name": g})
        for g in old
        if g not in new
    ]
    return added + removed


def _update(before: Mapping[str, Any], after: Mapping[str, Any], ident: str) -> list[Call] | str:
    if _text(before, "email").casefold() != _text(after, "email").casefold():
        return (
            "Coursepath finds members by email: another email is another member; give the row "
            "a new key to import it as one"
        )
    # An emptied cell is sent empty: whether Coursepath then clears the field is not documented.
    profile = {k: _text(after, k) for k in _PROFILE if _text(before, k) != _text(after, k)}
    calls = [Call("update the member", "POST", f"/api/v1/members/{ident}", form=profile)]
    return (
        (calls if profile else [])
        + _enrolments(before, after, ident)
        + _groups(before, after, ident)
    )


def _delete(values: Mapping[str, Any], ident: str) -> list[Call]:
    return _enrolments(values, {}, ident)


def _check(call: Call) -> Call | None:
    # Only the course enrolment has a documented GET; a program enrolment cannot be checked.
    return same_path(call) if call.path.endswith("/coursemember") else None


def _interpret(call: Call, answer: Answer) -> Outcome:
    if call.method == "DELETE" and answer.status == 404:
        # Undocumented: a 404 to a removal is taken as "not enrolled (any more)".
        return Outcome("ok", message="already removed")
    return ADAPTER.interpret(call, answer)


CHANGES = Changes(
    interpret=_interpret,
    update=_update,
    delete=_delete,
    check=_check,
    warning=WARNING,
    documented_errors=(
        ("POST", 401, {"error": "invalid token"}, "fatal", "IMPORTER_COURSEPATH_API_KEY"),
        ("POST", 404, {"error": "member not found"}, "rejected", "member not found"),
        ("POST", 429, {"error": "too many requests"}, "retry", "too many requests"),
        ("DELETE", 200, {"memberId": "1"}, "ok", ""),
        ("DELETE", 404, {"error": "not enrolled"}, "ok", "already removed"),
        ("DELETE", 401, {"error": "invalid token"}, "fatal", "IMPORTER_COURSEPATH_API_KEY"),
    ),
)
