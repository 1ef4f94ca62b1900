"""Vendor adapters' own rules (a lock's forms, a step's proof, pacing words). What every
vendor must do is the shipped conformance suite's (importer.testing, tests/test_conformance.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.sending.protocol import Answer, Call
from importer.vendors import REGISTRY, plugin
from tests.conftest import run_cli, zoho_row, zoho_sheet


def test_zoho_lock_is_recognised_in_every_form() -> None:
    """Zoho's lock, as 429 + Retry-After or as code 7209 in a 200, means: wait, then retry."""
    zoho = plugin("zoho-people").wire
    call = zoho.calls({f.name: f.example or None for f in REGISTRY["zoho-people"].fields})[0]
    locked = zoho.interpret(call, Answer(429, {"code": 7209}, {"retry-after": "120"}))
    assert (locked.kind, locked.retry_after) == ("locked", 120.0)
    assert zoho.interpret(call, Answer(200, {"code": 7209, "message": "blocked"})).kind == "locked"


def test_plan_line_gives_an_honest_eta(tmp_path: Path) -> None:
    """A 3,000-row Zoho sheet is announced at our real pace (27 a minute), not seconds."""
    sheet = zoho_sheet(tmp_path / "z.csv", [zoho_row(f"S{i}") for i in range(3000)])
    done = run_cli("run", sheet, "--vendor", "zoho-people", "--dry-run", "--sandbox")
    assert done.returncode == 0, done.stderr
    assert "would send 3000; about 1 h 52 min at 30 requests a minute" in done.stdout


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        (
            {
                "retry-after": "Wed, 21 Oct 2026 07:28:30 GMT",
                "date": "Wed, 21 Oct 2026 07:28:00 GMT",
            },
            30.0,
        ),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(
    headers: dict[str, str], seconds: float | None
) -> None:
    """Retry-After is read as seconds or as an HTTP date measured from the answer's Date."""
    from importer.sending.protocol import retry_after_header

    assert retry_after_header(Answer(429, {}, headers)) == seconds


def test_progress_eta_knows_the_rate_limit() -> None:
    """Early on, the bar's ETA uses the vendor's pace, not the first unpaced rows' speed."""
    from importer.core.clock import FakeClock
    from importer.sending.progress import Progress
    from importer.sending.progress import eta_and_counts as _eta_and_counts
    from importer.sending.throttle import Pacer

    clock = FakeClock()
    progress = Progress(3001, Pacer(plugin("zoho-people").wire.rate, clock), None, clock)
    progress({})
    clock.advance(0.05)
    progress({"created": 1})
    assert _eta_and_counts(progress, 1, {"created": 1}) == "about 1:52:02 left, created 1"


def _coursepath_writes() -> list[Call]:
    values = {f.name: f.example or None for f in REGISTRY["coursepath"].fields}
    values.update({"courseId": "12345", "programId": "678", "groups": "Sales", "invite": "yes"})
    return [c for c in plugin("coursepath").wire.calls(values) if c.writes and not c.result]


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("<html><body><h1>Service being updated</h1></body></html>", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
        ({"error": "try again later"}, "unknown"),
        ({"memberId": "1001", "courseId": "12345"}, "ok"),
        ([{"id": "g1", "name": "Sales"}], "ok"),
    ],
)
def test_coursepath_steps_are_done_only_with_a_json_answer(body: object, kind: str) -> None:
    """An enrolment, group or invitation answered 2xx is done only with JSON (the docs' one
    promise of shape); an HTML page, an empty body or an error inside a 2xx is unknown."""
    wire = plugin("coursepath").wire
    writes = _coursepath_writes()
    assert {c.path.rsplit("/", 1)[-1] for c in writes} == {
        "coursemember", "programmember", "groups", "invite"
    }  # fmt: skip
    for call in writes:
        for status in (200, 201):
            outcome = wire.interpret(call, Answer(status, body))
            assert outcome.kind == kind, (call.name, status, outcome)
    invite = next(c for c in writes if c.path.endswith("/invite"))
    if kind == "unknown":
        said = wire.interpret(invite, Answer(200, body)).message
        assert "invitation may have been sent" in said and "--resend-unknown" in said


@pytest.mark.parametrize("status", [404, 409])
def test_coursepath_member_lookup_answered_404_or_409_holds_the_row_back(status: int) -> None:
    """An undocumented 404/409 to the member lookup is the vendor's fault: the row is held back
    (retried, then not sent), never rejected as if the address were wrong."""
    wire = plugin("coursepath").wire
    values = {f.name: f.example or None for f in REGISTRY["coursepath"].fields}
    lookup = next(c for c in wire.calls(values) if c.result == "found")
    outcome = wire.interpret(lookup, Answer(status, "<html>Not Found</html>"))
    assert outcome.kind == "retry", outcome
    assert "not the address" in outcome.message


def test_coursepath_resends_a_lost_row_unless_it_asks_for_an_invitation() -> None:
    """Enrolling and grouping again is harmless; an invitation is an email sent twice."""
    wire = plugin("coursepath").wire
    assert wire.resend_harmless({"email": "a@example.com", "invite": "no"})
    assert wire.resend_harmless({"email": "a@example.com", "invite": None})
    assert not wire.resend_harmless({"email": "a@example.com", "invite": "yes"})


LOCK_TEXT = "API access blocked since threshold limit exceeded"


@pytest.mark.parametrize(
    "body",
    [
        {"response": {"status": 1, "errors": {"code": 7209, "message": LOCK_TEXT}}},
        {"response": {"status": 1, "errors": [{"code": "7209", "message": "blocked"}]}},
        {"response": {"status": 1, "errorcode": "7209", "message": "Error occurred"}},
        {"response": {"status": 1, "message": LOCK_TEXT}},
        {"errors": {"code": 7209, "message": "blocked"}},
    ],
)
@pytest.mark.parametrize("status", [200, 400])
def test_zoho_lock_inside_its_error_envelope_is_the_lock(body: object, status: int) -> None:
    """The lock's code (7209) or words inside People's error envelope, at 200 or 400, is the
    lock: wait five minutes, then retry (never a rejected or unknown row)."""
    zoho = plugin("zoho-people").wire
    call = zoho.calls({f.name: f.example or None for f in REGISTRY["zoho-people"].fields})[0]
    outcome = zoho.interpret(call, Answer(status, body))
    assert (outcome.kind, outcome.retry_after) == ("locked", 300.0)
    assert zoho.signal(Answer(status, body)) is not None  # reads (lookups) wait too


@pytest.mark.parametrize(
    ("form", "named"),
    [("param", "--zoho-session-data body"), ("body", "--zoho-session-data param")],
)
def test_zoho_missing_parameter_names_the_other_session_data_form(form: str, named: str) -> None:
    """A 400 "input parameter missing" (code 7019, or the text without detail) is rejected with
    the likely cause: the other sessionData form; a bad value with its detail is the row's."""
    zoho = plugin("zoho-people").wire.configured({"zoho_session_data": form})
    call = zoho.calls({f.name: f.example or None for f in REGISTRY["zoho-people"].fields})[0]
    text = "Invalid parameter value/input parameter missing"
    for body in (
        {"code": 7019, "message": text},
        {"message": text},
        {"code": 400, "message": text},
    ):
        outcome = zoho.interpret(call, Answer(400, body))
        assert outcome.kind == "rejected" and named in outcome.setup, body
    detailed = {"code": 7016, "message": text, "errors": {"message": "date must be DD-MM-YYYY"}}
    outcome = zoho.interpret(call, Answer(400, detailed))
    assert outcome.kind == "rejected" and not outcome.setup


def test_a_missing_parameter_after_a_created_row_is_that_rows_rejection() -> None:
    """Once a row of the run was created, the sessionData form works: a later "input parameter
    missing" rejects that row alone; the run goes on."""
    import httpx

    from importer.api import resolve_settings
    from importer.core.clock import FakeClock

    missing = {"code": 7019, "message": "Invalid parameter value/input parameter missing"}
    answers = [
        httpx.Response(200, json={"code": 200, "session": {"sessionId": "1"}}),
        *[httpx.Response(400, json=missing) for _ in range(4)],
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/v2/token"):
            return httpx.Response(200, json={"access_token": "t" * 20, "expires_in": 3600})
        return answers.pop(0)

    env = {"IMPORTER_ZOHO_CLIENT_ID": "c", "IMPORTER_ZOHO_CLIENT_SECRET": "s",
           "IMPORTER_ZOHO_REFRESH_TOKEN": "r"}  # fmt: skip
    flags = {"base_url": "http://127.0.0.1:9", "auth_url": "http://127.0.0.1:9"}
    settings = resolve_settings("zoho-people", flags=flags, env=env)
    values = {f.name: f.example or None for f in REGISTRY["zoho-people"].fields}
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        sender = plugin("zoho-people").sender(settings, client, FakeClock())
        results = [sender.import_row(values) for _ in range(5)]
    assert [r.status for r in results] == ["created"] + ["rejected"] * 4
    assert "input parameter missing" in results[1].message
