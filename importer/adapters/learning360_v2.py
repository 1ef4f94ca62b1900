"""360Learning API v2: one POST per row, under 10 writes/s shared with other integrations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from importer.adapters.base import (
    MARKER,
    Answer,
    Call,
    Outcome,
    fill,
    next_link,
    plain_status,
    retry_after_header,
)
from importer.throttle import RatePolicy

__all__ = ["ADAPTER"]

_MESSAGES = {
    "invalidStartOrEndDate": "360Learning refused the dates: the end is before the start.",
    "invalidIpFiltering": "360Learning refused the IP filtering.",
    "missingCertificate": (
        "The path has no certificate, so re-enrolment on certificate expiry is impossible."
    ),
    "pathArchived": "The path {pathId} is archived: unarchive it or choose another path.",
    "invalidRegistrationRequestOption": (
        "Registration validation {registrationRequestValidation!r} is not enabled for the group "
        "360Learning chose from the main instructor's groups: choose another value or ask an admin."
    ),
    "pathNotFound": "360Learning has no path {pathId} in your company: check the Path ID.",
    "usersNotFound": (
        "An instructor ID is not a 360Learning user of your company: {mainInstructorId} "
        "{instructorIds}."
    ),
}


class _V2:
    name = "360learning-v2"
    # 10 writes/s per company, shared with the customer's other integrations: start at half.
    rate = RatePolicy(
        rate=5.0,
        ceiling=10.0,
        floor=0.5,
        adaptive=True,
        description="10 writes a second per company",
    )
    max_concurrency = 16  # the pacer, not the concurrency, keeps it under 10 writes/s
    auth = "360l-v2"

    def calls(self, values: Mapping[str, str | None]) -> list[Call]:
        body: dict[str, Any] = {
            "name": values["name"],
            "mainInstructorId": values["mainInstructorId"],
            "registrationRequestValidation": values["registrationRequestValidation"],
            "startDate": values["startDate"],
        }
        if values.get("endDate"):
            body["endDate"] = values["endDate"]
        if values.get("instructorIds"):
            body["instructorIds"] = str(values["instructorIds"]).split(";")
        if values.get("userLimit"):
            body["userLimit"] = int(str(values["userLimit"]))
        # The row's marker goes after the user's own text in the field the vendor meant for
        # "ID in another tool": after a lost answer, it finds the session again.
        info = " ".join(
            str(v) for v in (values.get("additionalInformation"), values.get(MARKER)) if v
        )
        if info:
            body["additionalInformation"] = info
        path = f"/api/v2/paths/{values['pathId']}/sessions"
        return [Call("create the session", "POST", path, json=body, result="session")]

    def interpret(self, call: Call, answer: Answer) -> Outcome:
        body = answer.body
        if answer.status == 200 and isinstance(body, dict) and body.get("_id"):
            return Outcome("ok", ident=str(body["_id"]))
        shared = plain_status(answer, retry_after_header)
        if shared:
            return shared
        error = body.get("error") if isinstance(body, dict) else None
        if answer.status == 401:
            return Outcome("reauth", message="360Learning refused the access token.")
        if answer.status == 403:
            return Outcome(
                "fatal",
                message="The 360Learning API credential lacks the paths:write scope: "
                "create one with paths:write, paths:read and users:read.",
            )
        code = error.get("code", "") if isinstance(error, dict) else str(error or "")
        template = _MESSAGES.get(code)
        if template is None:
            detail = error.get("message", "") if isinstance(error, dict) else ""
            return Outcome(
                "rejected", message=f"360Learning refused the session: {code} {detail}".strip()
            )
        fields = dict(call.json or {})
        fields["pathId"] = call.path.split("/")[4]
        fields["instructorIds"] = ", ".join(fields.get("instructorIds", []))
        return Outcome("rejected", message=fill(template, fields))

    def created_id(self, results: Mapping[str, str]) -> str | None:
        return results.get("session")

    resend_safe = False

    def lookup(self, values: Mapping[str, str | None]) -> Call | None:
        if not values.get(MARKER):
            return None
        start = dt.datetime.fromisoformat(str(values["startDate"]).replace("Z", "+00:00"))
        start = start.replace(microsecond=0)  # "the milliseconds are always set to 0"
        params = {
            "startDate[gte]": _iso(start),
            "startDate[lt]": _iso(start + dt.timedelta(seconds=1)),
        }
        path = f"/api/v2/paths/{values['pathId']}/sessions"
        return Call("look the session up", "GET", path, params=params, writes=False)

    def found(
        self, call: Call, answer: Answer, values: Mapping[str, str | None]
    ) -> tuple[str | None, Call | None]:
        marker = str(values.get(MARKER))
        for session in answer.body if isinstance(answer.body, list) else []:
            if marker in str(session.get("additionalInformation", "")):
                return str(session["_id"]), None
        link = next_link(answer)
        return None, Call(call.name, "GET", link, writes=False) if link else None


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


ADAPTER = _V2()
