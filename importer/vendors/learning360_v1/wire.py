"""360Learning API v1: one POST per row (vendor-docs/360learning-v1-create-path-session.txt)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from importer.sending.protocol import (
    Answer,
    Call,
    NoLookup,
    Outcome,
    OutcomeKind,
    fill,
    plain_status,
    retry_after_header,
    snippet,
)
from importer.sending.throttle import RatePolicy

__all__ = ["ADAPTER"]

#: The doc's error codes in plain words; ``{field}`` names come from the row.
_MESSAGES = {
    "path_not_found": "360Learning has no path {pathId} in your company: check the Path ID.",
    "invalid_session_name": "360Learning refused the session name as empty.",
    "invalid_start_date": "360Learning refused the start date {startDate}.",
    "invalid_end_date": "360Learning refused the end date {endDate} (is it before the start?).",
    "invalid_session_owner_group": "360Learning refused the owner group ID {sessionOwnerGroup}.",
    "session_owner_group_not_found": (
        "360Learning has no group {sessionOwnerGroup} in your company: check the Owner group ID."
    ),
    "invalid_instructors": "360Learning refused the instructor emails {instructorsMails}.",
    "instructors_not_found": (
        "An instructor email is not a 360Learning user of your company: {instructorsMails}."
    ),
}


class _V1(NoLookup):
    # v1 has no way to find a path session again (its list has no filter we can trust and
    # 360Learning plans to retire it): a lost answer stays unknown.
    name = "360learning-v1"
    # No rate limit is documented for v1: --concurrency decides (default 4), up to 16.
    rate = RatePolicy(rate=None, description="none documented")
    max_concurrency = 16
    scopes = "a v1 API key of the company (X-company-id and X-apiKey headers)"
    odd_answers: tuple[str, ...] = (
        "A 2xx with the session's _id: created; any other 2xx: unknown.",
        "A lost answer stays unknown: v1 gives no way to look a session up "
        "(--resend-unknown after checking by hand).",
    )
    documented_errors: tuple[tuple[int, Any, OutcomeKind, str], ...] = (
        (404, {"error": "path_not_found"}, "rejected", "has no path"),
        (400, {"error": "invalid_start_date"}, "rejected", "refused the start date"),
        (400, {"error": "invalid_end_date"}, "rejected", "before the start"),
        (404, {"error": "session_owner_group_not_found"}, "rejected", "has no group"),
        (404, {"error": "instructors_not_found"}, "rejected", "not a 360Learning user"),
        (401, {"error": "unauthorized"}, "fatal", "IMPORTER_360L_API_KEY"),
    )

    def calls(self, values: Mapping[str, str | None]) -> list[Call]:
        body: dict[str, Any] = {
            "sessionName": values["sessionName"],
            "startDate": values["startDate"],
            "sessionOwnerGroup": values["sessionOwnerGroup"],
        }
        if values.get("endDate"):
            body["endDate"] = values["endDate"]
        mails = values.get("instructorsMails")
        if mails:
            # Omitted when empty: then the platform owner is the instructor. The doc's error
            # table refuses an empty list, so it is never sent.
            body["instructorsMails"] = mails.split(";")
        if values.get("sessionAdditionalInformation"):
            body["sessionAdditionalInformation"] = values["sessionAdditionalInformation"]
        path = f"/api/v1/paths/{values['pathId']}/sessions/"
        return [Call("create the session", "POST", path, json=body, result="session")]

    def interpret(self, call: Call, answer: Answer) -> Outcome:
        body = answer.body if isinstance(answer.body, dict) else {}
        if 200 <= answer.status < 300 and body.get("_id"):
            return Outcome("ok", ident=str(body["_id"]))
        if answer.status in (401, 403):
            return Outcome(
                "fatal",
                message="360Learning refused the company ID and API key "
                "(check IMPORTER_360L_COMPANY and IMPORTER_360L_API_KEY).",
            )
        shared = plain_status(answer, retry_after_header)
        if shared:
            return shared
        code = str(body.get("error", ""))
        template = _MESSAGES.get(code)
        if template is None:
            detail = code or snippet(answer).strip()
            return Outcome("rejected", message=f"360Learning answered {answer.status} {detail}")
        return Outcome("rejected", message=fill(template, _call_fields(call)))

    def created_id(self, results: Mapping[str, str]) -> str | None:
        return results.get("session")


def _call_fields(call: Call) -> dict[str, Any]:
    fields = dict(call.json or {})
    fields["pathId"] = call.path.split("/")[4]
    if isinstance(fields.get("instructorsMails"), list):
        fields["instructorsMails"] = ", ".join(fields["instructorsMails"])
    return fields


ADAPTER = _V1()
