"""Zoho People LMS: one POST per row, one call at a time, under 30 calls a minute.

Where the doc is silent or contradicts itself (shared/VENDORS.md), the choices made here:

* ``sessionData``: the request URL and the parameter table (``*sessionData``,
  mandatory) put the JSON object in a ``sessionData`` parameter; the code
  samples POST a bare JSON body. We follow the normative part (the parameter,
  in the query string as the URL shows) unless ``zoho_session_data = "body"``.
* The lock's answer is not documented: 429 (with or without ``Retry-After``),
  code 7209 in any body, and 422 "Maximum limit exceeded" (which the doc
  prints beside the threshold) are all read as a possible lock; a 422 that
  repeats after a clean wait is the module's own limit. "In any body" includes
  People's error envelope (``{"response": {"status": 1, "errors": {"code":
  7209, "message": ...}}}``, or ``errorcode`` as integrators saw it), at any
  status (200 or 400 seen), and the lock's own words without a code.
* "Invalid parameter value/input parameter missing" (400) is the doc's one
  text for a bad value and for a missing parameter. Our rows are checked
  before sending, so a *missing parameter* (code 7019, or that text with no
  detail) on every row most likely means Zoho does not read ``sessionData``
  where we put it: the outcome says so (``setup``), and the run stops after
  the first few instead of refusing the whole sheet.
* Zoho's answers are read for what they prove: only ``{"code": 200,
  "session": {"sessionId": ...}}`` is a created session; the People envelope
  ``{"response": {"status": 1, ...}}``, an empty or HTML 200 is not, and may
  still hide a created session: ``unknown``, reconciled before any resend. A
  200 carrying code 7202 says the token was refused, so nothing was done: a new
  token, then the call again.
* A module's session list echoes times and names as Zoho stores them
  (``2:00 PM`` for ``02:00 PM``, trimmed names): matching is on normalised values.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from importer.sending.protocol import (
    AdapterBase,
    Answer,
    Call,
    LookupUnsure,
    Outcome,
    OutcomeKind,
    odd_success,
    retry_after_header,
    snippet,
)
from importer.sending.throttle import RatePolicy, Window

__all__ = ["ADAPTER", "LOCK_CODE", "LOCK_SECONDS"]

#: People's error code for "API access blocked since threshold limit exceeded".
LOCK_CODE = 7209
_LOCK_TEXT = "API access blocked since threshold limit exceeded"
#: People's codes for a refused token (7202) and a missing parameter (7019).
TOKEN_CODE, MISSING_CODE = 7202, 7019
LOCK_SECONDS = 300.0
#: How each ``--zoho-session-data`` sends the session.
_FORMS = {
    "param": "as the sessionData parameter, the doc's parameter table",
    "body": "as a JSON body, the doc's code samples",
}
_OPTIONAL = ("description", "roomId", "lockUntil", "gradeCategoryId")


#: 30 LMS calls a minute, counted by Zoho on its own clock. We use 27 of them per 60.5 s
#: measured from the *answers* (see importer.sending.throttle): whatever the network's jitter, no
#: minute Zoho can observe holds more than 27, which leaves 3 for the customer's other tools.
#: Measured (benchmarks/pacing.py): 0 locks on the real clock, 0.89 of the documented pace.
WINDOW = Window(limit=30, seconds=60.0, use=27, margin=0.5)


class _Zoho(AdapterBase):
    name = "zoho-people"
    rate = RatePolicy(
        rate=WINDOW.rate,
        documented=0.5,
        window=WINDOW,
        description="30 requests a minute, then a 5-minute lock (we send at most 27 a minute)",
    )
    max_concurrency = 1
    scopes = (
        "ZOHOPEOPLE.training.CREATE (or .ALL) to create, ZOHOPEOPLE.training.READ to list "
        "sessions and trainers, ZOHOPEOPLE.forms.READ to look employees up by email"
    )
    odd_answers: tuple[str, ...] = (
        "429 (any code), or code 7209 in any answer (inside People's error envelope too, at "
        "200 or 400): the lock; waited out (Retry-After or 5 minutes), then the run resumes.",
        "422 'Maximum limit exceeded': maybe the lock; waited out once, and only the same "
        "answer after that clean wait rejects the row (module full).",
        "A 200 without {code: 200, session: {sessionId}} (the People envelope, code 7202, "
        "HTML, empty): unknown, looked up before any resend; 7202 first renews the token.",
        "Session lists are matched as Zoho may store them: 2:00 PM for 02:00 PM, names "
        "without case or extra spaces.",
        "400 'input parameter missing' before any row is created: the row is not sent, and "
        "after 3 the run stops naming the other --zoho-session-data form.",
        "An employee lookup answered other than with records or 'no records' (7024), a 404 "
        "or 409 say: the row is not sent, never reported as an unknown email.",
    )
    documented_errors: tuple[tuple[int, Any, OutcomeKind, str], ...] = (
        (400, {"code": 7016, "message": "Invalid", "errors": {"message": "date"}}, "rejected",
         "refused the session: date"),
        (403, {"code": 403, "message": "not authorized"}, "fatal", "ZOHOPEOPLE.training.CREATE"),
        (404, {"code": 404, "message": "Not found"}, "rejected", "no such course"),
        (422, {"code": 422, "message": "Maximum limit exceeded"}, "locked", "maximum limit"),
        (500, {"code": 500, "message": "Sorry! Server error occured"}, "unknown", "500"),
        (429, {"code": 7209, "message": "API access blocked"}, "locked", "locked the API"),
        (200, {"response": {"status": 1, "message": "Error occurred", "errors": {
            "code": 7209, "message": _LOCK_TEXT}}}, "locked", "locked the API"),
        (400, {"response": {"status": 1, "errorcode": "7209", "message": _LOCK_TEXT}},
         "locked", "locked the API"),
        (400, {"code": 7019, "message": "Invalid parameter value/input parameter missing"},
         "rejected", "input parameter missing"),
    )  # fmt: skip

    def __init__(self, session_data: str = "param") -> None:
        self.session_data = session_data
        #: Said after "Shorten it" when a row's sessionData makes the URL too long (see
        #: importer.sending.sender.MAX_TARGET: about 2,600 CJK or 7,900 ASCII characters in all).
        self.url_hint = (
            "; or, if your Zoho account takes it, send sessionData in the body: "
            "--zoho-session-data body"
            if session_data != "body"
            else ""
        )

    def configured(self, options: Mapping[str, str]) -> _Zoho:
        """This adapter with the run's vendor options (``zoho_session_data``)."""
        form = options.get("zoho_session_data", "param")
        return self if form == self.session_data else _Zoho(form)

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
        if self.session_data == "body":  # the doc's code samples
            return [Call("create the session", "POST", path, json=body, result="session")]
        # The doc's URL and parameter table: sessionData=<JSON> as a parameter.
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return [
            Call("create the session", "POST", path, params={"sessionData": data}, result="session")
        ]

    def signal(self, answer: Answer) -> Outcome | None:
        """The lock (429, or code 7209 in any answer, its envelope included) and a refused
        token (401, code 7202)."""
        said = _said(answer.body)
        codes = {code for code, _ in said}
        locked = any("threshold limit exceeded" in text.lower() for _, text in said)
        if LOCK_CODE in codes or locked or answer.status == 429:
            # Zoho documents no Retry-After; one connector saw it. Without it, the 5 minutes.
            wait = retry_after_header(answer) or LOCK_SECONDS
            return Outcome(
                "locked",
                message="Zoho locked the API for exceeding 30 calls a minute",
                retry_after=wait,
            )
        if answer.status == 401 or TOKEN_CODE in codes:
            return Outcome("reauth", message="Zoho refused the access token.")
        return None

    def interpret(self, call: Call, answer: Answer) -> Outcome:
        signal = self.signal(answer)
        if signal:
            return signal
        body = answer.body if isinstance(answer.body, dict) else {}
        code = body.get("code")
        session = body.get("session") if isinstance(body.get("session"), dict) else None
        if 200 <= answer.status < 300:
            if code == 200 and session and session.get("sessionId"):
                return Outcome("ok", ident=str(session["sessionId"]))
            return odd_success(answer)
        message = str(body.get("message", "")).strip()
        detail = (
            body.get("errors", {}).get("message") if isinstance(body.get("errors"), dict) else None
        )
        if answer.status == 403:
            return Outcome(
                "fatal",
                message="Zoho says the account may not create sessions "
                "(the token needs the ZOHOPEOPLE.training.CREATE or .ALL scope).",
            )
        if answer.status >= 500:
            return Outcome(
                "unknown",
                message=f"Zoho answered {answer.status}: {message or 'server error'}"
                + ("" if message else snippet(answer)),
            )
        if answer.status == 404:
            return Outcome(
                "rejected",
                message="Zoho has no such course, batch or module: check the "
                "Course ID, Batch ID and Module ID.",
            )
        if answer.status == 422:
            # Beside the threshold in the doc: maybe the lock. Waited out, then tried once
            # more; the same answer after a clean wait is the module's own limit.
            return Outcome(
                "locked",
                maybe=True,
                retry_after=retry_after_header(answer) or LOCK_SECONDS,
                message="Zoho refused: maximum limit exceeded, even after a clean 5-minute wait "
                "(the module may hold too many sessions).",
            )
        text = detail or message or f"HTTP {answer.status}{snippet(answer)}"
        missing = MISSING_CODE in {c for c, _ in _said(body)} or (
            not detail and "parameter missing" in message.lower() and code in (None, 400)
        )
        if answer.status == 400 and missing:
            other = "body" if self.session_data != "body" else "param"
            return Outcome(
                "rejected",
                message=f"Zoho refused the session: {text}.",
                setup=f"the likely cause is the form of sessionData, not the rows: re-run with "
                f"--zoho-session-data {other} (sends it {_FORMS[other]})",
            )
        return Outcome("rejected", message=f"Zoho refused the session: {text}.")

    def created_id(self, results: Mapping[str, str]) -> str | None:
        return results.get("session")

    resend_safe = False

    def lookup(self, values: Mapping[str, str | None]) -> Call | None:
        path = self.calls(values)[0].path
        return Call("look the session up", "GET", path, params={"startIndex": "1"}, writes=False)

    def listed(self, answer: Answer) -> bool:
        """Whether a list answer has the documented shape (else it proves nothing)."""
        body = answer.body
        return isinstance(body, dict) and isinstance(body.get("sessions"), list)

    def found(
        self, call: Call, answer: Answer, values: Mapping[str, str | None]
    ) -> tuple[str | None, Call | None]:
        body = answer.body if isinstance(answer.body, dict) else {}
        listed = body.get("sessions")
        sessions: list[Any] = listed if isinstance(listed, list) else []
        wanted = _same(
            values["name"],
            values["date"],
            values["startTime"],
            values["endTime"],
            values["trainerErecno"],
        )
        for session in sessions:
            if not isinstance(session, dict) or not session.get("sessionId"):
                continue
            seen = _same(
                session.get("sessionName"),
                session.get("sessionStartDate"),
                session.get("sessionStartTime"),
                session.get("sessionEndTime"),
                session.get("trainerErecno"),
            )
            if seen == wanted:
                return str(session["sessionId"]), None
            same_who = seen[0] == wanted[0] and seen[4] == wanted[4]
            if same_who and any(isinstance(part, str) for part in seen[1:4]):
                # The name and trainer match, but Zoho echoed a date or time we cannot read
                # (the organisation's own format?): it may be this row's session.
                raise LookupUnsure(
                    f"Zoho listed session {session['sessionId']} in a form we cannot compare"
                )
        if len(sessions) < 25:
            return None, None
        start = int((call.params or {}).get("startIndex", "1")) + 25
        return None, Call(
            call.name, "GET", call.path, params={"startIndex": str(start)}, writes=False
        )


def _said(body: Any) -> list[tuple[int | None, str]]:
    """Every ``(code, message)`` a Zoho body carries: at the top, in ``errors`` (an object or
    a list), and in People's envelope (``response.errors``, ``response.errorcode``)."""
    found: list[tuple[int | None, str]] = []

    def add(part: Any, code_key: str = "code") -> None:
        if isinstance(part, list):
            for item in part:
                add(item, code_key)
            return
        if not isinstance(part, dict):
            return
        raw = part.get(code_key)
        code = int(raw) if isinstance(raw, int | str) and str(raw).strip().isdigit() else None
        found.append((code, str(part.get("message") or "")))

    if isinstance(body, dict):
        add(body)
        add(body.get("errors"))
        response = body.get("response")
        if isinstance(response, dict):
            add(response, "errorcode")
            add(response.get("errors"))
    return found


def _same(name: Any, date: Any, start: Any, end: Any, trainer: Any) -> tuple[Any, ...]:
    """A session's identity as Zoho may echo it: case, spacing, ``2:00 PM`` for ``02:00 PM``."""
    return (
        " ".join(str(name or "").split()).casefold(),
        _day(date),
        _minutes(start),
        _minutes(end),
        str(trainer or "").strip(),
    )


def _day(text: Any) -> dt.date | str:
    value = str(text or "").strip()
    for form in ("%d-%m-%Y", "%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(value, form).date()
        except ValueError:
            continue
    return value


_TIME = re.compile(r"(\d{1,2})[:.](\d{2})(?::\d{2})?\s*([AaPp])\.?\s*[Mm]\.?")


def _minutes(text: Any) -> int | str:
    value = str(text or "").strip()
    match = _TIME.fullmatch(value)
    if match is None:
        return value.casefold()
    hours, minutes, half = int(match[1]) % 12, int(match[2]), match[3].upper()
    return hours * 60 + minutes + (720 if half == "P" else 0)


ADAPTER = _Zoho()
