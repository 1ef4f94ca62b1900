"""Coursepath: find or create the member, enrol them, add them to groups, invite them.

Each row is several calls; each one's result (the member's ID) feeds the next
through ``{member}`` in the paths. The result sheet reports every step.
"""

from __future__ import annotations

from collections.abc import Mapping

from importer.adapters.base import Answer, Call, NoLookup, Outcome, plain_status, retry_after_header
from importer.throttle import RatePolicy

__all__ = ["ADAPTER"]

_PROFILE = ("name", "externalId", "company", "department", "country")


class _Coursepath(NoLookup):
    name = "coursepath"
    # No limit is documented; calls are made one at a time, with backoff on 429.
    rate = RatePolicy(rate=None, description="none documented")
    max_concurrency = 1
    auth = "coursepath"

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
        if answer.status in (200, 201):
            if call.result == "found":
                first = body[0] if isinstance(body, list) and body else None
                return Outcome("ok", ident=str(first["id"]) if first else None)
            ident = body.get("id") if isinstance(body, dict) else None
            return Outcome("ok", ident=str(ident) if ident is not None else None)
        shared = plain_status(answer, retry_after_header)
        if shared:
            return shared
        error = body.get("error", "") if isinstance(body, dict) else ""
        if answer.status == 401:
            return Outcome(
                "fatal",
                message="Coursepath refused the token: check "
                "IMPORTER_COURSEPATH_API_KEY, IMPORTER_COURSEPATH_EMAIL (an admin "
                "of the academy) and this machine's clock.",
            )
        if answer.status == 403:
            return Outcome("fatal", message="Coursepath says the acting user may not do this.")
        return Outcome(
            "rejected", message=f"Coursepath could not {call.name}: {error or answer.status}."
        )

    def created_id(self, results: Mapping[str, str]) -> str | None:
        return results.get("member")

    # Every step finds the member first and enrolling or grouping twice changes nothing, so
    # a row whose answer was lost is simply run again (the invitation may go twice).
    resend_safe = True


ADAPTER = _Coursepath()
