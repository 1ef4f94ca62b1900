"""Real time, real answers: the promises hold when the clock jitters and the vendor answers oddly.

Each test here reproduces a case seen against the sandbox in real time or against a proxy that
answers as real services sometimes do, and that the polite sandbox and the fake clock hid.
"""

from __future__ import annotations

import csv
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from importer.api import resolve_settings
from importer.core.clock import Clock, FakeClock, SystemClock
from importer.core.errors import FatalVendorError, VendorUnavailableError
from importer.core.secret import Secret
from importer.sandbox import parse_faults
from importer.sandbox.state import SlidingWindow
from importer.sending.protocol import Answer, Call, retry_after_header
from importer.sending.throttle import Pacer, RatePolicy, Window
from importer.vendors import REGISTRY, plugin
from tests.conftest import write_csv, zoho_row, zoho_sheet
from tests.run.conftest import Rig, SandboxProcess

PATH, JANE = "6853f6de567dc5f80528f80d", "647098a731a809ed36889ed1"
V2 = ["Path ID", "Session name", "Main instructor ID", "Start date", "Registration validation"]
V2_INFO = [*V2, "Additional information"]


def v2_sheet(tmp_path: Path, names: list[str], info: str = "") -> Path:
    rows = [[PATH, name, JANE, "2025-07-01 10:00", "disabled", info] for name in names]
    return write_csv(tmp_path / "v2.csv", [V2_INFO, *rows])


def summary(done: object) -> dict[str, object]:
    return json.loads(done.stdout)  # type: ignore[attr-defined, no-any-return]


def result_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def run(sandbox: SandboxProcess, sheet: Path, vendor: str, *extra: str) -> dict[str, object]:
    """The real CLI with its own journal and result beside the sheet; the JSON summary."""
    journal = sheet.with_suffix(".journal-test.sqlite")
    done = sandbox.run(sheet, vendor, "--json", "--journal", str(journal), *extra)
    assert done.stdout.strip(), done.stderr
    got = summary(done)
    got["stderr"], got["code"] = done.stderr, done.returncode
    return got


# --- Pacing measured as the vendor sees it -------------------------------------------------------


def _drive(pacer: Pacer, calls: int, seed: int, clock: Clock, limit: int = 6) -> int:
    """Calls through ``pacer`` to a vendor that allows ``limit`` a second and counts each on
    arrival, after 0-60 ms on the way in and 0-60 ms on the way back, on ``clock``; returns how
    many it refused. On a :class:`FakeClock` the delays are exact, whatever the machine's load."""
    vendor = SlidingWindow(limit, 1.0, clock)
    rng, refused = random.Random(seed), 0
    for _ in range(calls):
        ticket = pacer.acquire()
        clock.sleep(rng.uniform(0, 0.06))
        refused += not vendor.hit()
        clock.sleep(rng.uniform(0, 0.06))
        pacer.release(ticket)
    return refused


def _even_pace_refused(rate: float, limit: int, calls: int, seed: int) -> int:
    """The controls: an even pace of ``rate`` a second against a vendor allowing ``limit`` a
    second, with the same jitter, on a fake clock. On the real clock a loaded machine spreads
    the calls out and the even pace may pass by luck (seen in CI); here it cannot."""
    clock = FakeClock()
    return _drive(Pacer(RatePolicy(rate=rate), clock), calls, seed, clock, limit)


@pytest.mark.slow
def test_window_pacing_holds_on_the_real_clock_with_jitter() -> None:
    """Real clock, jittered network: a vendor allowing 6 calls a second never sees a 7th from the
    window pacer; the even pace of exactly 6 a second (the old Zoho rule, scaled) is refused."""
    window = Window(limit=6, seconds=1.0, use=5, margin=0.05)
    clock = SystemClock()
    assert _drive(Pacer(RatePolicy(rate=window.rate, window=window), clock), 30, 1, clock) == 0
    # The control: the case the window rule exists for, independent of the machine's load.
    assert _even_pace_refused(6.0, limit=6, calls=30, seed=1) > 0
    fake = FakeClock()
    assert _drive(Pacer(RatePolicy(rate=window.rate, window=window), fake), 30, 1, fake) == 0


def _drive_in_flight(pacer: Pacer, calls: int, limit: int, seed: int) -> int:
    """``_drive`` with 8 calls in flight (threads) to a vendor allowing ``limit`` a second."""
    vendor, lock = SlidingWindow(limit, 1.0, SystemClock()), threading.Lock()
    delays = random.Random(seed)
    jitter = [(delays.uniform(0, 0.06), delays.uniform(0, 0.06)) for _ in range(calls)]
    refused: list[bool] = []

    def call(way_in: float, way_back: float) -> None:
        ticket = pacer.acquire()
        time.sleep(way_in)
        with lock:
            refused.append(not vendor.hit())
        time.sleep(way_back)
        pacer.release(ticket)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda pair: call(*pair), jitter))
    return sum(refused)


@pytest.mark.slow
def test_v2_pace_holds_with_requests_in_flight_on_the_real_clock() -> None:
    """360Learning v2's declared pace at its ceiling (--rate 20, clipped to 10), 8 calls in
    flight with 0-60 ms each way: the vendor's 10-a-second window never refuses one. The even
    10-a-second pace it replaced is refused (seen on a loaded machine: bunched arrivals)."""
    declared = plugin("360learning-v2").wire.rate.capped(20.0)
    assert _drive_in_flight(Pacer(declared, SystemClock()), 60, limit=10, seed=3) == 0
    # The control, load-free: the even pace starts a call every 0.1 s whatever is in flight
    # (8 x 0.1 s > 120 ms of jitter), so its arrivals are those of the sequential drive.
    assert _even_pace_refused(10.0, limit=10, calls=60, seed=3) > 0


def test_window_rule_waits_for_answers_not_sends() -> None:
    """A call may start only when the use-th latest call's answer is a period old."""
    clock = FakeClock()
    window = Window(limit=3, seconds=10.0, use=2, margin=0.0)
    pacer = Pacer(RatePolicy(rate=100.0, window=window), clock)
    sent = clock.time()
    first = pacer.acquire()
    clock.advance(4.0)  # a slow answer
    answered = clock.time()
    pacer.release(first)
    pacer.release(pacer.acquire())
    pacer.release(pacer.acquire())
    assert clock.time() >= answered + 10.0 - 0.01 > sent + 10.0  # from the *answer*, not the send


def test_a_window_needs_no_headroom_and_a_bare_adaptive_rate_keeps_it() -> None:
    """360Learning v2 at its ceiling is paced by its window alone (10 per 1.01 s, issue 27);
    an adaptive rate without a window keeps 2 % below its rate."""
    v2 = Pacer(plugin("360learning-v2").wire.rate.capped(10.0), FakeClock())
    v2.rate = 10.0
    assert v2.interval == pytest.approx(1.01 / 10)
    bare = Pacer(RatePolicy(rate=10.0, ceiling=10.0, adaptive=True), FakeClock())
    assert bare.interval == pytest.approx(1 / (10.0 * 0.98))


def test_adaptive_rate_halves_once_per_burst_and_recovers_in_seconds() -> None:
    """16 answers 429 to requests sent before the first slow-down halve the rate once; a few
    seconds without 429 bring it back to the ceiling."""
    clock = FakeClock()
    pacer = Pacer(RatePolicy(rate=10.0, ceiling=10.0, floor=0.5, adaptive=True), clock)
    sent = clock.monotonic()
    clock.advance(0.1)
    for _ in range(16):
        pacer.slow_down(sent)
    assert pacer.rate == 5.0
    clock.advance(0.1)
    pacer.slow_down(clock.monotonic())  # a request sent after the slow-down: a new burst
    assert pacer.rate == 2.5
    for _ in range(6):
        clock.advance(1.0)
        pacer.succeeded()
    assert pacer.rate == 10.0


def test_rate_never_above_the_documented_limit_unless_told() -> None:
    """--rate 20 for 360Learning v2 (10 writes/s documented) runs at 10; the loud option lifts it."""
    policy = plugin("360learning-v2").wire.rate
    assert policy.capped(20.0).ceiling == 10.0
    assert policy.capped(20.0, beyond_documented=True).ceiling == 20.0
    assert policy.capped(4.0).ceiling == 4.0


def test_v2_rate_20_stays_under_10_writes_a_second(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """The real CLI with --rate 20: a warning, no 429, and no second holds more than 10 writes."""
    got = run(sandbox, v2_sheet(tmp_path, [f"S{i}" for i in range(40)]), "360learning-v2",
              "--rate", "20", "--concurrency", "16")  # fmt: skip
    assert got["counts"] == {"created": 40}, got["stderr"]
    assert "above 10 writes a second per company" in str(got["stderr"])
    writes = sorted(
        r["at"] for r in sandbox.requests("360learning-v2") if r["method"] == "POST"
        and "/sessions" in r["path"]
    )  # fmt: skip
    assert not [r for r in sandbox.requests("360learning-v2") if r["status"] == 429]
    assert max(sum(1 for t in writes if s <= t < s + 1.0) for s in writes) <= 10


# --- Zoho: locks, 422, sessionData, normalised echoes --------------------------------------------


def many_zoho(tmp_path: Path, rows: int, **kw: str) -> Path:
    return zoho_sheet(tmp_path / "zoho.csv", [zoho_row(f"S{i}", **kw) for i in range(rows)])


def test_a_422_lock_is_waited_out_not_read_as_a_full_module(tmp_path: Path, rig: Rig) -> None:
    """Zoho refuses with 422 "Maximum limit exceeded" during another tool's lock: the rows wait
    and are created, none rejected as "module full"."""
    rig.sandbox.state.options["zoho_lock_style"] = "422"
    rig.sandbox.reset()
    for _ in range(30):
        rig.sandbox.part("zoho-people").window.hit()
    run_ = rig.run(many_zoho(tmp_path, 3), "zoho-people")
    assert run_.counts() == {"created": 3}
    assert rig.sandbox.part("zoho-people").locks == 1


def test_a_full_module_is_rejected_after_one_clean_wait(tmp_path: Path, rig: Rig) -> None:
    """A 422 that repeats after a clean 5-minute wait is the module's limit: rejected, and the
    next row of that module is rejected without waiting again."""
    rig.sandbox.state.options["zoho_sessions_per_module"] = 1
    rig.sandbox.reset()
    started = rig.clock.time()
    run_ = rig.run(many_zoho(tmp_path, 3), "zoho-people")
    assert [run_.status(r) for r in (2, 3, 4)] == ["created", "rejected", "rejected"]
    assert "too many sessions" in run_.results[3].message
    assert 300 <= rig.clock.time() - started < 400  # one wait, not one per row


def test_a_429_with_another_code_is_a_lock_not_a_rejection() -> None:
    """Zoho's lock answer is undocumented: a 429 whatever its code means wait, never reject."""
    zoho = plugin("zoho-people").wire
    call = Call("create the session", "POST", "/x")
    assert zoho.interpret(call, Answer(429, {"code": 7250, "message": "slow down"})).kind == (
        "locked"
    )


def test_zoho_lookups_wait_out_a_lock_instead_of_blaming_the_trainer(
    tmp_path: Path, rig: Rig
) -> None:
    """During another tool's lock, the trainer list waits: the row is created, not reported as
    "not a registered trainer"."""
    for _ in range(30):
        rig.sandbox.part("zoho-people").window.hit()
    sheet = zoho_sheet(tmp_path / "z.csv", [zoho_row("By email", trainer="")])
    text = sheet.read_text().replace("Trainer erecno", "Trainer email")
    sheet.write_text(
        text.replace(",0,04-01-2022", ",0,04-01-2022").replace(",,0,", ",henry@example.com,0,")
    )
    run_ = rig.run(sheet, "zoho-people")
    assert run_.counts() == {"created": 1}, run_.results
    assert rig.sandbox.part("zoho-people").locks == 1


def test_sessiondata_travels_as_the_documented_parameter(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """A sandbox that accepts only the parameter table's form takes our default; one that accepts
    only the code samples' body refuses it, and --zoho-session-data body is the way out."""
    sandbox.options(zoho_session_data="param")
    got = run(sandbox, many_zoho(tmp_path, 1), "zoho-people")
    assert got["counts"] == {"created": 1}, got["stderr"]
    assert sandbox.created("zoho-people")[0]["request"]["via"] == "query"
    sandbox.options(zoho_session_data="body")
    other = tmp_path / "other"
    other.mkdir()
    refused = run(sandbox, many_zoho(other, 1), "zoho-people")
    assert refused["counts"] == {"not sent": 1}  # held back: the form, not the row, is at fault
    body = tmp_path / "body"
    body.mkdir()
    accepted = run(sandbox, many_zoho(body, 1), "zoho-people", "--zoho-session-data", "body")
    assert accepted["counts"] == {"created": 1}


def test_zoho_reconciliation_matches_normalised_echoes(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Zoho stores 02:00 PM as 2:00 PM: a lost answer is still found, never created twice."""
    sandbox.options(zoho_echo="normalised")
    sheet = many_zoho(tmp_path, 2, start="02:00 PM", end="03:00 PM")
    sandbox.faults("zoho-people:drop=1")
    first = run(sandbox, sheet, "zoho-people")
    assert first["counts"] == {"unknown": 2}
    sandbox.faults("")
    second = run(sandbox, sheet, "zoho-people")
    assert second["counts"] == {"created": 2}, second["stderr"]
    assert len(sandbox.created("zoho-people")) == 2


# --- Answers classified by what they prove --------------------------------------------------------


def test_an_html_200_to_a_create_is_unknown_then_found_again(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """A proxy's HTML page in place of the answer: unknown (quoted), never rejected with a blank
    reason; the re-run finds the session by its fields and creates nothing twice."""
    sheet = v2_sheet(tmp_path, ["A", "B"], info="REF-42")
    sandbox.faults("360learning-v2:html=1;360learning-v2/token:seed=1")
    first = run(sandbox, sheet, "360learning-v2", "--result", str(tmp_path / "r1.csv"))
    assert first["counts"] == {"unknown": 2}
    rows = result_rows(tmp_path / "r1.csv")
    assert all("Our service is being updated" in r["Messages"] for r in rows), rows
    sandbox.faults("")
    second = run(sandbox, sheet, "360learning-v2", "--result", str(tmp_path / "r2.csv"))
    assert second["counts"] == {"created": 2}
    created = sandbox.created("360learning-v2")
    assert len(created) == 2
    assert {c["request"]["additionalInformation"] for c in created} == {"REF-42"}  # as typed
    ids = {r["Created ID"] for r in result_rows(tmp_path / "r2.csv")}
    assert ids == {c["id"] for c in created}


@pytest.mark.parametrize(
    ("vendor", "fault", "counts", "quoted"),
    [
        ("360learning-v2", "201=1", {"created": 1}, None),
        ("360learning-v2", "empty=1", {"unknown": 1}, "an empty body"),
        ("zoho-people", "envelope=1", {"unknown": 1}, "Error occurred"),
        ("zoho-people", "7202=0.5,seed=1", {"created": 1}, None),
    ],
)
def test_odd_2xx_answers_are_classed_by_what_they_prove(
    tmp_path: Path,
    sandbox: SandboxProcess,
    vendor: str,
    fault: str,
    counts: dict[str, int],
    quoted: str | None,
) -> None:
    """A 201 with the documented body is created; an empty 200 or a People envelope may hide a
    created session (unknown, quoted); a 200 carrying code 7202 renews the token."""
    sheet = v2_sheet(tmp_path, ["A"]) if vendor != "zoho-people" else many_zoho(tmp_path, 1)
    sandbox.faults(f"{vendor}:{fault};{vendor}/token:seed=1")
    got = run(sandbox, sheet, vendor, "--result", str(tmp_path / "r.csv"))
    assert got["counts"] == counts, got["stderr"]
    posts = [
        r for r in sandbox.requests(vendor) if r["method"] == "POST" and "token" not in r["path"]
    ]
    if fault.startswith("7202"):  # the fault was met: the create was made again, once
        assert len(posts) == 2 and len(sandbox.created(vendor)) == 1
    if quoted:
        assert quoted in result_rows(tmp_path / "r.csv")[0]["Messages"]


# --- Lookups never blame the coordinator for the vendor's hiccup ----------------------------------


def test_v2_lookups_that_keep_failing_hold_rows_back_not_invalid(tmp_path: Path, rig: Rig) -> None:
    """Every user lookup answered 429: the rows are 'not sent' with the vendor's cause, not
    'not a 360Learning user ... check the address'."""
    rig.sandbox.state.faults.update(
        parse_faults("360learning-v2:429=1;360learning-v2/token:seed=1", list(REGISTRY))
    )
    headers = ["Path ID", "Session name", "Main instructor email", "Start date",
               "Registration validation"]  # fmt: skip
    rows = [[PATH, "A", "jane.doe@example.com", "2025-07-01 10:00", "disabled"],
            [PATH, "B", "nobody@example.com", "2025-07-02 10:00", "disabled"]]  # fmt: skip
    run_ = rig.run(write_csv(tmp_path / "v2.csv", [headers, *rows]), "360learning-v2")
    assert run_.counts() == {"not sent": 2}
    for row in (2, 3):
        message = run_.results[row].message
        assert "could not be checked" in message and "429" in message
        assert "not a 360Learning user" not in message
    assert run_.exit_code == 1


def test_zoho_employee_lookups_behind_a_failing_gateway_hold_rows_back(
    tmp_path: Path, rig: Rig
) -> None:
    """A 503 HTML page from a gateway on every employee lookup: not sent, never "not an employee"."""
    rig.sandbox.state.faults.update(
        parse_faults("zoho-people:503html=1;zoho-people/token:seed=1", list(REGISTRY))
    )
    sheet = zoho_sheet(tmp_path / "z.csv", [zoho_row("By email", trainer="")])
    text = sheet.read_text().replace("Trainer erecno", "Trainer email")
    sheet.write_text(text.replace(",,0,", ",henry@example.com,0,"))
    run_ = rig.run(sheet, "zoho-people")
    assert run_.counts() == {"not sent": 1}
    assert "Service Temporarily Unavailable" in run_.results[2].message


# --- Tokens ---------------------------------------------------------------------------------------


def test_a_429_from_the_token_host_is_retried_not_called_refused_credentials(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """360Learning's token host answers 429 once: the run retries and creates the row."""
    sandbox.faults("360learning-v2/token:429=0.5,seed=3")
    got = run(sandbox, v2_sheet(tmp_path, ["A"]), "360learning-v2")
    assert got["counts"] == {"created": 1}, got["stderr"]
    tokens = [r for r in sandbox.requests("360learning-v2") if r["path"].endswith("/token")]
    assert [t["status"] for t in tokens][-1] == 200 and len(tokens) >= 2


def _token_client(answers: list[httpx.Response]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0) if answers else httpx.Response(503, text="<h1>down</h1>")

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_a_failed_renewal_keeps_the_token_that_still_works() -> None:
    """The hourly renewal meets a dead token host: the valid token is kept until it expires;
    then the run stops as "vendor unavailable", never as "credentials refused"."""
    clock = FakeClock()
    creds = {"IMPORTER_360L_CLIENT_ID": Secret("id"), "IMPORTER_360L_CLIENT_SECRET": Secret("s")}
    client = _token_client([httpx.Response(200, json={"access_token": "T1", "expires_in": 3600})])
    auth = plugin("360learning-v2").auth(creds, "http://127.0.0.1:9", client, clock)
    assert auth.headers()["Authorization"] == "Bearer T1"
    clock.advance(3545)  # past the renewal time (a minute early), before the expiry
    assert auth.headers()["Authorization"] == "Bearer T1"  # 5 tries with backoff, then kept
    clock.advance(60)
    with pytest.raises(VendorUnavailableError, match="were not refused"):
        auth.headers()


def test_a_400_from_the_token_host_is_refused_credentials() -> None:
    """Only the documented refusals (400/401) mean the credentials are wrong."""
    creds = {"IMPORTER_360L_CLIENT_ID": Secret("id"), "IMPORTER_360L_CLIENT_SECRET": Secret("s")}
    client = _token_client([httpx.Response(401, json={"error": "invalid_client"})])
    auth = plugin("360learning-v2").auth(creds, "http://127.0.0.1:9", client, FakeClock())
    with pytest.raises(FatalVendorError, match="refused the API credentials"):
        auth.headers()


@pytest.mark.slow
def test_eleven_zoho_runs_share_one_token(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """Eleven runs in a row (an inbox's sheets, or a night's jobs) on one account ask Zoho for one
    access token, not eleven: the 11th is not refused "Access Denied"."""
    for i in range(11):
        folder = tmp_path / f"sheet{i}"
        folder.mkdir()
        got = run(sandbox, many_zoho(folder, 1), "zoho-people")
        assert got["counts"] == {"created": 1}, got["stderr"]
    tokens = [r for r in sandbox.requests("zoho-people") if r["path"] == "/oauth/v2/token"]
    assert len(tokens) == 1
    kept = sandbox.state_dir / "tokens.sqlite"
    assert kept.stat().st_mode & 0o777 == 0o600


# --- Coursepath, read defensively -----------------------------------------------------------------


def test_coursepath_members_under_another_id_key_in_a_wrapped_unfiltered_list(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Members named by `_id`, lists wrapped, the email filter ignored: the member whose email
    equals the row's is updated (not the first listed), the new one created; no crash."""
    sandbox.options(
        coursepath_id_key="_id", coursepath_lists="wrapped", coursepath_email_filter="ignored"
    )
    sheet = write_csv(
        tmp_path / "cp.csv",
        [["Email", "Name", "Course ID", "Company"],
         ["Existing@Example.com", "Existing Learner", "12345", "NewCo"],
         ["new.person@example.com", "New Person", "12345", ""]],
    )  # fmt: skip
    got = run(sandbox, sheet, "coursepath", "--result", str(tmp_path / "r.csv"))
    assert got["counts"] == {"created": 2}, got["stderr"]
    rows = result_rows(tmp_path / "r.csv")
    assert rows[0]["Created ID"] == "1002"  # existing@example.com, not the admin listed first
    enrolled = {c["data"]["memberId"] for c in sandbox.created("coursepath", "coursemember")}
    assert enrolled == {"1002", rows[1]["Created ID"]}


def test_coursepath_403_on_one_enrolment_is_that_rows_outcome(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """One course forbids enrolment: that row is rejected, the others created, exit 1 not 3."""
    sandbox.options(coursepath_forbidden_course="12346")
    sheet = write_csv(
        tmp_path / "cp.csv",
        [["Email", "Name", "Course ID"], ["a@example.com", "A", "12346"],
         ["b@example.com", "B", "12345"]],
    )  # fmt: skip
    got = run(sandbox, sheet, "coursepath", "--result", str(tmp_path / "r.csv"))
    assert got["counts"] == {"created": 1, "rejected": 1}, got["stderr"]
    assert got["code"] == 1
    assert "refused to enrol in course 12346" in result_rows(tmp_path / "r.csv")[0]["Messages"]


# --- Waits with limits, a circuit breaker, links that stay home -----------------------------------


def test_a_retry_after_of_a_day_stops_the_run_with_a_clear_line(tmp_path: Path, rig: Rig) -> None:
    """A lock announced for 24 hours is not waited for silently: the run stops and says so."""
    rig.sandbox.state.options["zoho_lock_seconds"] = 86400
    rig.sandbox.reset()
    for _ in range(30):
        rig.sandbox.part("zoho-people").window.hit()
    started = rig.clock.time()
    run_ = rig.run(many_zoho(tmp_path, 2), "zoho-people")
    assert run_.fatal and "24.0 hours" in str(run_.stopped)
    assert run_.counts() == {"not sent": 2}
    assert rig.clock.time() - started < 60


@pytest.mark.parametrize(("value", "seconds"), [("nan", None), ("inf", None), ("-5", 0.0)])
def test_unusable_retry_after_values_are_not_waits(value: str, seconds: float | None) -> None:
    """NaN and infinity are no wait at all (backoff applies); a negative one is zero."""
    assert retry_after_header(Answer(429, None, {"retry-after": value})) == seconds


def test_a_dead_vendor_trips_the_breaker(tmp_path: Path, rig: Rig) -> None:
    """Every create answered 500: after 10 in a row the run stops ("looks down"), the rest are
    not sent, instead of retrying row after row for hours."""
    rig.sandbox.state.faults.update(parse_faults("360learning-v1:500=1", list(REGISTRY)))
    rows = [["Path ID", "Session name", "Start date", "Owner group ID"]]
    rows += [[PATH, f"S{i}", "2025-07-01 10:00", "624c5526204fc7207e603ea6"] for i in range(30)]
    run_ = rig.run(write_csv(tmp_path / "v1.csv", rows), "360learning-v1")
    assert run_.fatal and "looks down" in str(run_.stopped)
    assert run_.counts() == {"unknown": 10, "not sent": 20}
    assert len(rig.sandbox.state.requests) == 10


def test_a_next_page_link_to_another_host_is_not_followed() -> None:
    """A `Link: rel=next` to another host never receives our token: the lookup stops there."""

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(
            200, json=[], headers={"link": '<http://evil.example/p2>; rel="next"'}
        )

    sender = _mock_sender("360learning-v2", handler)
    values = {"pathId": PATH, "name": "A", "startDate": "2025-07-01T08:00:00.000Z",
              "mainInstructorId": JANE}  # fmt: skip
    assert sender.reconcile(values) == ("unchecked", None)
    assert all(url.startswith("http://127.0.0.1:9") for url in seen)


@pytest.mark.slow
def test_70_zoho_rows_in_real_time_trigger_no_lock(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """The real CLI against the sandbox's real 30-a-minute window (real clock, 5-minute lock):
    70 rows created, zero locks, and no 60 seconds the sandbox saw holds more than 27 calls."""
    started = time.monotonic()
    got = run(sandbox, many_zoho(tmp_path, 70), "zoho-people")
    elapsed = time.monotonic() - started
    assert got["counts"] == {"created": 70}, got["stderr"]
    assert sandbox.http.get("/_sandbox/status").json()["zoho_locks"] == 0
    calls = sorted(
        r["at"] for r in sandbox.requests("zoho-people") if r["path"].startswith("/api/")
    )
    assert len(calls) == 70
    assert max(sum(1 for t in calls if s <= t < s + 60.0) for s in calls) <= 27
    assert elapsed < 70 * 60.5 / 27 + 30  # about 2.24 s a row: no lock was waited out


def test_tokens_a_vendor_echoes_never_reach_the_result() -> None:
    """A vendor quoting our bearer token or a JWT in an error body: the row's message (what the
    result sheet and the journal keep) shows *** instead."""

    jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJlbWFpbCI6ImFAYi5jIn0.c2lnbmF0dXJlLXBhcnQ"

    def handler(request: httpx.Request) -> httpx.Response:
        echo = f"token {request.headers['authorization']} refused; also saw {jwt_like}"
        return httpx.Response(400, json={"error": {"code": "weird", "message": echo}})

    tokens = [httpx.Response(200, json={"access_token": "sekret-token-123456", "expires_in": 3600})]
    creds = {"IMPORTER_360L_CLIENT_ID": Secret("id"), "IMPORTER_360L_CLIENT_SECRET": Secret("s")}
    sender = _mock_sender(
        "360learning-v2",
        handler,
        auth=lambda clock: plugin("360learning-v2").auth(
            creds, "http://127.0.0.1:9", _token_client(tokens), clock
        ),
    )
    values = {"pathId": PATH, "name": "A", "mainInstructorId": JANE,
              "registrationRequestValidation": "disabled",
              "startDate": "2025-07-01T08:00:00.000Z"}  # fmt: skip
    result = sender.import_row(values)
    assert result.status == "rejected" and "refused" in result.message
    assert "sekret-token-123456" not in result.message and jwt_like not in result.message
    assert "***" in result.message


def _mock_sender(vendor, handler, auth=None, paced=False, notes=None):  # type: ignore[no-untyped-def]
    """A ``vendor`` sender on a fake clock whose HTTP answers come from ``handler`` (a unit
    test's mock transport). ``auth(clock)`` builds its auth (a static key by default);
    ``paced`` keeps the vendor's documented pace instead of none."""
    from importer.sending.sender import Sender

    clock = FakeClock()
    static = {
        "IMPORTER_COURSEPATH_API_KEY": Secret("k" * 40),
        "IMPORTER_COURSEPATH_EMAIL": Secret("a@b.c"),
    }
    wire = plugin(vendor).wire
    return Sender(
        adapter=wire,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        base_url="http://127.0.0.1:9",
        auth=auth(clock) if auth else plugin("coursepath").auth(static, "", httpx.Client(), clock),
        pacer=Pacer(wire.rate if paced else RatePolicy(rate=None), clock),
        clock=clock,
        notify=(notes if notes is not None else []).append,
    )


def _zoho_sender(handler, notes: list[str]):  # type: ignore[no-untyped-def]
    """A Zoho sender at Zoho's pace on a fake clock whose HTTP answers come from ``handler``."""
    return _mock_sender("zoho-people", handler, paced=True, notes=notes)


def test_full_modules_are_not_taken_for_another_tools_locks() -> None:
    """Five full modules (422 after a clean wait each): five rows rejected, the run never
    stopped as "locked", and no message blames another tool."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(422, json={"code": 422, "message": "Maximum limit exceeded"})
        return httpx.Response(200, json={"code": 200, "sessions": []})

    notes: list[str] = []
    sender = _zoho_sender(handler, notes)
    for module in range(5):
        values = {"courseId": "1", "batchId": "2", "moduleId": str(module), "name": "S",
                  "trainerErecno": "7", "type": "0", "date": "04-01-2022",
                  "startTime": "10:00 AM", "endTime": "11:00 AM"}  # fmt: skip
        result = sender.import_row(values)
        assert result.status == "rejected" and "too many sessions" in result.message
    assert sender.locks == 0
    assert len(notes) == 5 and all("maybe a lock" in n for n in notes)
    assert not any("another tool" in n for n in notes)


def test_a_read_waits_the_retry_after_it_is_given() -> None:
    """A lookup answered 429 with Retry-After: 7 is tried again 7 s later, not at once."""
    answers = [httpx.Response(429, json={}, headers={"retry-after": "7"}),
               httpx.Response(200, json={"code": 200, "sessions": []})]  # fmt: skip
    seen: list[float] = []
    sender = _zoho_sender(lambda request: answers.pop(0), [])
    original = sender.client.send

    def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(sender.clock.monotonic())
        return original(*args, **kwargs)

    sender.client.send = timed  # type: ignore[method-assign]
    answer = sender.read(Call("list", "GET", "/x", writes=False))
    assert answer.status == 200
    assert seen[1] - seen[0] >= 7.0


def test_a_zoho_echo_we_cannot_read_leaves_the_row_unchecked_not_resent() -> None:
    """The session listed with the same name and trainer but a time as `14:00` (an org's own
    format): the lost row is 'unchecked', never 'absent' (which would resend it)."""

    def handler(request: httpx.Request) -> httpx.Response:
        session = {"sessionId": "9", "sessionName": "S", "sessionStartDate": "04-01-2022",
                   "sessionStartTime": "10:00", "sessionEndTime": "11:00",
                   "trainerErecno": "7"}  # fmt: skip
        return httpx.Response(200, json={"code": 200, "sessions": [session]})

    sender = _zoho_sender(handler, [])
    values = {"courseId": "1", "batchId": "2", "moduleId": "3", "name": "S",
              "trainerErecno": "7", "type": "0", "date": "04-01-2022",
              "startTime": "10:00 AM", "endTime": "11:00 AM"}  # fmt: skip
    assert sender.reconcile(values) == ("unchecked", None)


def test_a_stop_ends_a_long_token_wait() -> None:
    """Zoho's token budget spent by others: the wait for it ends at once when the run stops."""
    from importer.sending.throttle import PacerStopped
    from importer.store.tokens import MemoryTokens

    clock = FakeClock()
    tokens = MemoryTokens()
    zoho = plugin("zoho-people")
    creds = {name: Secret("x" * 12) for name in zoho.credentials}
    settings = resolve_settings(
        "zoho-people", flags={}, env={n: "x" * 12 for n in zoho.credentials}
    )
    pacer = Pacer(zoho.wire.rate, clock)
    sender = zoho.sender(settings, _token_client([]), clock, pacer, tokens=tokens)
    account = sender.auth.token.account  # type: ignore[attr-defined]
    for _ in range(9):
        tokens.requested(account, clock.time())
    pacer.stop()
    started = clock.time()
    with pytest.raises(PacerStopped):
        sender.auth.headers()
    assert clock.time() - started < 1.0
    assert creds  # the same names the settings used


def test_a_next_page_link_to_itself_stops() -> None:
    """A `Link: rel=next` that names the page itself: the lookup reads a bounded number of pages
    and leaves the row unchecked, instead of looping forever."""
    from importer.sending.sender import MAX_PAGES

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=[], headers={"link": f'<{request.url}>; rel="next"'})

    sender = _mock_sender("360learning-v2", handler)
    values = {"pathId": PATH, "name": "A", "startDate": "2025-07-01T08:00:00.000Z",
              "mainInstructorId": JANE}  # fmt: skip
    assert sender.reconcile(values) == ("unchecked", None)
    assert len(seen) == MAX_PAGES
