"""Read sessions back from a vendor into a spreadsheet, for checking.

* 360Learning v1: program sessions by ID (``GET /api/v1/programs/sessions/{id}/``), every
  documented field, lists as readable text;
* 360Learning v2: the sessions of a path (100 a page, following ``Link``);
* Zoho People: the sessions of a module (25 a call, ``startIndex``);
* Coursepath: the members of a course (``offset``/``limit``).

``--from-result`` reads back exactly the sessions a run created (the IDs of a result
sheet) and marks every field that differs from what was sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pandas as pd

from importer.clock import SystemClock
from importer.config import RunSettings
from importer.errors import ConfigurationError
from importer.sender import Sender, sender_for
from importer.vendors import plugin
from importer.wire import Answer, Call, next_link

__all__ = ["compare_created", "export_sessions", "flatten"]

#: Sent field (v2 API name) -> the field of the object read back, per vendor.
_READ_BACK: dict[str, dict[str, str]] = {
    "360learning-v1": {
        "sessionName": "sessionName",
        "startDate": "startDate",
        "endDate": "endDate",
        "sessionAdditionalInformation": "sessionAdditionalInformation",
    },
    "360learning-v2": {
        "name": "name",
        "mainInstructorId": "mainInstructorId",
        "startDate": "startDate",
        "endDate": "endDate",
        "userLimit": "userLimit",
        "registrationRequestValidation": "registrationRequestValidation",
    },
    "zoho-people": {
        "name": "sessionName",
        "date": "sessionStartDate",
        "startTime": "sessionStartTime",
        "endTime": "sessionEndTime",
        "trainerErecno": "trainerErecno",
    },
    "coursepath": {
        "email": "email",
        "name": "name",
        "company": "company",
        "department": "department",
    },
}


def flatten(item: Mapping[str, Any]) -> dict[str, str]:
    """One spreadsheet row from a JSON object: lists as "a; b", objects as compact JSON."""
    row = {}
    for key, value in item.items():
        if isinstance(value, list):
            row[key] = "; ".join(
                v if isinstance(v, str) else json.dumps(v, separators=(",", ":")) for v in value
            )
        elif isinstance(value, dict):
            row[key] = json.dumps(value, separators=(",", ":"))
        else:
            row[key] = "" if value is None else str(value)
    return row


def _sender(settings: RunSettings, http: httpx.Client) -> Sender:
    return sender_for(plugin(settings.vendor).wire, settings, http, SystemClock())


def _pages(
    sender: Sender,
    first: Call,
    items: Callable[[Answer], list[Any]],
    following: Callable[[Call, Answer, int], Call | None],
) -> Iterator[dict[str, Any]]:
    call: Call | None = first
    while call is not None:
        answer = sender.read(call)
        if answer is None or answer.status != 200:
            status = answer.status if answer is not None else "no answer"
            raise ConfigurationError(
                f"the vendor refused to {call.name} ({status}): check the IDs."
            )
        found = items(answer)
        yield from found
        call = following(call, answer, len(found))


def export_sessions(settings: RunSettings, target: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every object the target names, as the vendor's read endpoints return them."""
    vendor = settings.vendor
    with httpx.Client(timeout=settings.timeout) as http:
        sender = _sender(settings, http)
        if vendor == "360learning-v1":
            ids = [i for i in target.get("session_ids", "").split(",") if i]
            if not ids:
                raise ConfigurationError(
                    "360learning-v1 exports program sessions: give --session-id."
                )
            return [
                _one(
                    sender,
                    Call(
                        "read the program session",
                        "GET",
                        f"/api/v1/programs/sessions/{i}/",
                        writes=False,
                    ),
                )
                for i in ids
            ]
        if vendor == "360learning-v2":
            path = _need(target, "path_id", "--path-id")
            first = Call(
                "list the path's sessions", "GET", f"/api/v2/paths/{path}/sessions", writes=False
            )
            return list(_pages(sender, first, _array, _v2_next))
        if vendor == "zoho-people":
            course = _need(target, "course_id", "--course-id")
            batch = _need(target, "batch_id", "--batch-id")
            module = _need(target, "module_id", "--module-id")
            path = f"/api/v1/courses/{course}/batches/{batch}/modules/{module}/sessions"
            first = Call(
                "list the module's sessions", "GET", path, params={"startIndex": "1"}, writes=False
            )
            return list(_pages(sender, first, _zoho_items, _zoho_next))
        course = _need(target, "course_id", "--course-id")
        first = Call(
            "list the course's members",
            "GET",
            f"/api/v1/courses/{course}/members",
            params={"offset": "0", "limit": "100"},
            writes=False,
        )
        return list(_pages(sender, first, _array, _offset_next))


def compare_created(
    settings: RunSettings, created: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]
) -> pd.DataFrame:
    """Read back each created object (ID -> what was sent) and mark the fields that differ."""
    vendor = settings.vendor
    fields = _READ_BACK[vendor]
    found: dict[str, dict[str, Any]] = {}
    if vendor == "360learning-v2":
        with httpx.Client(timeout=settings.timeout) as http:
            sender = _sender(settings, http)
            for ident, sent in created.items():
                call = Call(
                    "read the session",
                    "GET",
                    f"/api/v2/paths/{sent['pathId']}/sessions/{ident}",
                    writes=False,
                )
                answer = sender.read(call)
                if answer is not None and answer.status == 200 and isinstance(answer.body, dict):
                    found[ident] = answer.body
    elif vendor == "coursepath":
        # Each member by ID: a member enrolled only in a program is in no course's list.
        with httpx.Client(timeout=settings.timeout) as http:
            sender = _sender(settings, http)
            for ident in created:
                call = Call("read the member", "GET", f"/api/v1/members/{ident}", writes=False)
                answer = sender.read(call)
                if answer is not None and answer.status == 200 and isinstance(answer.body, dict):
                    found[ident] = answer.body
    elif vendor == "360learning-v1":
        # v1 reads path sessions back only through the list of all of them.
        with httpx.Client(timeout=settings.timeout) as http:
            first = Call("list the path sessions", "GET", "/api/v1/paths/sessions", writes=False)
            for item in _pages(_sender(settings, http), first, _array, lambda *_: None):
                found[str(item.get("sessionId"))] = item
    else:
        for item in export_sessions(settings, context):
            ident = str(item.get("sessionId") or item.get("_id") or item.get("id") or "")
            found[ident] = item
    rows = []
    for ident, sent in created.items():
        back = found.get(ident)
        differences = []
        if back is None:
            differences.append("not found at the vendor")
        else:
            for sent_field, read_field in fields.items():
                if sent.get(sent_field) in (None, "") or pd.isna(sent.get(sent_field)):
                    continue
                if str(back.get(read_field, "")) != str(sent[sent_field]):
                    held = back.get(read_field)
                    differences.append(
                        f"{sent_field}: sent {sent[sent_field]!r}, vendor has {held!r}"
                    )
        rows.append(
            {
                "Created ID": ident,
                "Check": "differs" if differences else "same",
                "Differences": "\n".join(differences),
                **flatten(back or {}),
            }
        )
    return pd.DataFrame(rows, dtype="str")


def _one(sender: Sender, call: Call) -> dict[str, Any]:
    answer = sender.read(call)
    if answer is None or answer.status != 200 or not isinstance(answer.body, dict):
        raise ConfigurationError(f"could not {call.name} at {call.path}.")
    return answer.body


def _need(target: Mapping[str, str], key: str, option: str) -> str:
    if not target.get(key):
        raise ConfigurationError(f"give {option}.")
    return target[key]


def _array(answer: Answer) -> list[Any]:
    return answer.body if isinstance(answer.body, list) else []


def _zoho_items(answer: Answer) -> list[Any]:
    body = answer.body if isinstance(answer.body, dict) else {}
    return body.get("sessions") if isinstance(body.get("sessions"), list) else []  # type: ignore[return-value]


def _v2_next(call: Call, answer: Answer, count: int) -> Call | None:
    link = next_link(answer)
    return Call(call.name, "GET", link, writes=False) if link else None


def _zoho_next(call: Call, answer: Answer, count: int) -> Call | None:
    if count < 25:
        return None
    start = int((call.params or {}).get("startIndex", "1")) + 25
    return Call(call.name, "GET", call.path, params={"startIndex": str(start)}, writes=False)


def _offset_next(call: Call, answer: Answer, count: int) -> Call | None:
    if count < 100:
        return None
    offset = int((call.params or {}).get("offset", "0")) + 100
    return Call(
        call.name, "GET", call.path, params={"offset": str(offset), "limit": "100"}, writes=False
    )
