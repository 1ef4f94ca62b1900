"""Zoho People LMS: one POST per row, one call at a time, 30 calls a minute."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from importer.adapters.base import Answer, Call, Outcome, retry_after_header
from importer.throttle import RatePolicy

__all__ = ["ADAPTER", "LOCK_CODE", "LOCK_SECONDS"]

#: People's error code for "API access blocked since threshold limit exceeded".
LOCK_CODE = 7209
LOCK_SECONDS = 300.0
_OPTIONAL = ("description", "roomId", "lockUntil", "gradeCategoryId")


class _Zoho:
    name = "zoho-people"
    # 30 calls a minute, every LMS call counted: one every 2 s never makes 31 in a minute.
    rate = RatePolicy(rate=0.5, description="30 requests a minute, then a 5-minute lock")
    max_concurrency = 1
    auth = "zoho"

    def calls(self, values: Mapping[str, str | None]) -> list[Call]:
        body: dict[str, Any] = {
            key: values[key]
            for key in ("name", "trainerErecno", "type", "date", "startTime", "endTime")
        }
        body.update({key: values[key] for key in _OPTIONAL if values.get(key)})
        path = (
            f"/api/v1/courses/{values['courseId']}/batches/{values['batchId']}"
            f"/modules/{values['moduleId']}/sessions"
        )
        # The current doc page sends sessionData as a JSON body (the older one, in the query).
        return [Call("create the session", "POST", path, json=body, result="session")]

    def interpret(self, call: Call, answer: Answer) -> Outcome:
        body = answer.body if isinstance(answer.body, dict) else {}
        code = body.get("code")
        if code == LOCK_CODE or (answer.status == 429 and code in (None, LOCK_CODE)):
            wait = retry_after_header(answer) or LOCK_SECONDS
            return Outcome(
                "locked",
                message="Zoho locked the API for exceeding 30 calls a minute",
                retry_after=wait,
            )
        session = body.get("session") if isinstance(body.get("session"), dict) else None
        if answer.status == 200 and code == 200 and session and session.get("sessionId"):
            return Outcome("ok", ident=str(session["sessionId"]))
        message = str(body.get("message", "")).strip()
        detail = (
            body.get("errors", {}).get("message") if isinstance(body.get("errors"), dict) else None
        )
        if answer.status == 401:
            return Outcome("reauth", message="Zoho refused the access token.")
        if answer.status == 403:
            return Outcome(
                "fatal",
                message="Zoho says the account may not create sessions "
                "(the token needs the ZOHOPEOPLE.training.CREATE or .ALL scope).",
            )
        if answer.status >= 500:
            return Outcome(
                "unknown", message=f"Zoho answered {answer.status}: {message or 'server error'}"
            )
        if answer.status == 404:
            return Outcome(
                "rejected",
                message="Zoho has no such course, batch or module: check the "
                "Course ID, Batch ID and Module ID.",
            )
        if answer.status == 422:
            return Outcome(
                "rejected",
                message="Zoho refused: maximum limit exceeded (the module "
                "may hold too many sessions).",
            )
        text = detail or message or f"HTTP {answer.status}"
        return Outcome("rejected", message=f"Zoho refused the session: {text}.")

    def created_id(self, results: Mapping[str, str]) -> str | None:
        return results.get("session")

    resend_safe = False

    def lookup(self, values: Mapping[str, str | None]) -> Call | None:
        path = self.calls(values)[0].path
        return Call("look the session up", "GET", path, params={"startIndex": "1"}, writes=False)

    def found(
        self, call: Call, answer: Answer, values: Mapping[str, str | None]
    ) -> tuple[str | None, Call | None]:
        body = answer.body if isinstance(answer.body, dict) else {}
        listed = body.get("sessions")
        sessions: list[Any] = listed if isinstance(listed, list) else []
        wanted = (
            values["name"],
            values["date"],
            values["startTime"],
            values["endTime"],
            values["trainerErecno"],
        )
        for session in sessions:
            seen = (
                session.get("sessionName"),
                session.get("sessionStartDate"),
                session.get("sessionStartTime"),
                session.get("sessionEndTime"),
                session.get("trainerErecno"),
            )
            if seen == wanted:
                return str(session["sessionId"]), None
        if len(sessions) < 25:
            return None, None
        start = int((call.params or {}).get("startIndex", "1")) + 25
        return None, Call(
            call.name, "GET", call.path, params={"startIndex": str(start)}, writes=False
        )


ADAPTER = _Zoho()
