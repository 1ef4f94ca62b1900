"""Answers the vendors did not document: classed by what they prove, end to end over HTTP.

Each test drives the real pipeline (the CLI with its journal, or ``run_import`` on a shared
fake clock) against the sandbox on 127.0.0.1, with the sandbox answering one of the ways the
docs leave open (a fault aimed at one endpoint, or a sandbox option).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from importer.sandbox import parse_faults
from importer.vendors import REGISTRY
from tests.conftest import write_csv, zoho_row, zoho_sheet
from tests.run.conftest import Rig, SandboxProcess

PATH = "6853f6de567dc5f80528f80d"
CP_HEADERS = ["Email", "Name", "Course ID", "Groups", "Send invite"]


def run(sandbox: SandboxProcess, sheet: Path, vendor: str, *extra: str) -> dict[str, Any]:
    """The real CLI with its own journal beside the sheet; its JSON summary and result rows."""
    journal, result = sheet.with_suffix(".journal.sqlite"), sheet.with_suffix(".result.csv")
    done = sandbox.run(
        sheet, vendor, "--json", "--journal", str(journal), "--result", str(result), *extra
    )
    assert done.stdout.strip(), done.stderr
    got: dict[str, Any] = json.loads(done.stdout)
    with result.open(encoding="utf-8-sig") as handle:
        got["rows"] = list(csv.DictReader(handle))
    return got


def faults(rig: Rig, spec: str) -> None:
    rig.sandbox.state.faults.update(parse_faults(spec, list(REGISTRY)))


# --- Coursepath: only JSON is done; an invitation is never sent twice -----------------------------


@pytest.mark.parametrize(
    ("target", "fault", "quoted"),
    [
        ("coursemember", "html", "Our service is being updated"),
        ("groups", "empty201", "an empty body"),
    ],
)
def test_coursepath_step_answered_without_json_is_unknown_then_resent_once(
    tmp_path: Path, sandbox: SandboxProcess, target: str, fault: str, quoted: str
) -> None:
    """An enrolment answered with a proxy's HTML 200, or a group with an empty 201, is unknown
    (quoted), not created; the re-run sends the row again, harmlessly: one enrolment, one group."""
    sheet = write_csv(
        tmp_path / "cp.csv", [CP_HEADERS, ["jane.doe@example.com", "Jane", "12345", "Sales", "no"]]
    )
    sandbox.faults(f"coursepath/{target}:{fault}=1")
    first = run(sandbox, sheet, "coursepath")
    assert first["counts"] == {"unknown": 1}
    assert quoted in first["rows"][0]["Messages"]
    sandbox.faults("")
    second = run(sandbox, sheet, "coursepath")
    assert second["counts"] == {"created": 1}
    assert len(sandbox.created("coursepath", "coursemember")) == 1
    assert len(sandbox.created("coursepath", "groupmember")) == 1
    assert len(sandbox.created("coursepath", "member")) == 1


@pytest.mark.parametrize("fault", ["html", "drop"])
def test_coursepath_invitation_whose_answer_was_lost_is_not_sent_twice(
    tmp_path: Path, sandbox: SandboxProcess, fault: str
) -> None:
    """An invitation answered with HTML, or not at all, is unknown; the re-run does not send a
    second email; --resend-unknown (after checking with the member) does."""
    sheet = write_csv(
        tmp_path / "cp.csv", [CP_HEADERS, ["jane.doe@example.com", "Jane", "12345", "", "yes"]]
    )
    sandbox.faults(f"coursepath/invite:{fault}=1")
    first = run(sandbox, sheet, "coursepath")
    assert first["counts"] == {"unknown": 1}
    assert len(sandbox.created("coursepath", "invite")) == 1  # it was sent
    sandbox.faults("")
    second = run(sandbox, sheet, "coursepath")
    assert second["counts"] == {"unknown": 1}
    assert "--resend-unknown" in second["rows"][0]["Messages"]
    assert len(sandbox.created("coursepath", "invite")) == 1  # not sent again
    resent = run(sandbox, sheet, "coursepath", "--resend-unknown")
    assert resent["counts"] == {"created": 1}
    assert len(sandbox.created("coursepath", "invite")) == 2


# --- Email lookups: a vendor's fault is never the coordinator's data ------------------------------


def _zoho_by_email(tmp_path: Path) -> Path:
    sheet = zoho_sheet(tmp_path / "z.csv", [zoho_row("By email", trainer="")])
    text = sheet.read_text().replace("Trainer erecno", "Trainer email")
    sheet.write_text(text.replace(",,0,", ",henry@example.com,0,"))
    return sheet


def _v2_by_email(tmp_path: Path) -> Path:
    headers = ["Path ID", "Session name", "Main instructor email", "Start date",
               "Registration validation"]  # fmt: skip
    row = [PATH, "A", "jane.doe@example.com", "2025-07-01 10:00", "disabled"]
    return write_csv(tmp_path / "v2.csv", [headers, row])


@pytest.mark.parametrize(
    ("vendor", "target", "status"),
    [
        ("360learning-v2", "users", "404"),
        ("360learning-v2", "users", "409"),
        ("zoho-people", "getRecords", "404"),
        ("zoho-people", "getRecords", "409"),
    ],
)
def test_an_undocumented_404_or_409_on_an_email_lookup_holds_the_row_back(
    tmp_path: Path, rig: Rig, vendor: str, target: str, status: str
) -> None:
    """A gateway's 404 or 409 to the email lookup: the row is "not sent" with that cause, safe
    to re-run; never "invalid: not a user ... check the address"."""
    faults(rig, f"{vendor}/{target}:{status}=1")
    sheet = _v2_by_email(tmp_path) if vendor == "360learning-v2" else _zoho_by_email(tmp_path)
    run_ = rig.run(sheet, vendor)
    assert run_.counts() == {"not sent": 1}, run_.results
    message = run_.results[2].message
    assert "could not be checked" in message and status in message
    assert run_.validation is not None and not run_.validation.errors


# --- Zoho: the lock in People's envelope; sessionData in the form Zoho does not read --------------


@pytest.mark.parametrize("style", ["envelope", "envelope400"])
def test_zoho_lock_inside_its_error_envelope_pauses_the_run(
    tmp_path: Path, rig: Rig, style: str
) -> None:
    """Zoho answers its lock in People's error envelope (code 7209 under response.errors, at 200
    or 400): the run waits the lock out and creates every row; none is rejected or unknown."""
    rig.sandbox.state.options["zoho_lock_style"] = style
    rig.sandbox.reset()
    for _ in range(30):  # another tool used the minute's 30 calls
        rig.sandbox.part("zoho-people").window.hit()
    started = rig.clock.time()
    run_ = rig.run(zoho_sheet(tmp_path / "z.csv", [zoho_row("A"), zoho_row("B")]), "zoho-people")
    assert run_.counts() == {"created": 2}, run_.results
    assert rig.sandbox.part("zoho-people").locks == 1
    assert rig.clock.time() - started >= 300  # the lock's five minutes were waited out
    assert any("locked the API" in note for note in rig.notes)


def test_zoho_missing_parameter_on_every_row_stops_and_names_the_session_data_form(
    tmp_path: Path, rig: Rig
) -> None:
    """Zoho reads sessionData only as a JSON body: the first three rows are refused "input
    parameter missing", the run stops there and names --zoho-session-data body; no row is
    "rejected" (they were not at fault), and with the flag every row is created."""
    rig.sandbox.state.options["zoho_session_data"] = "body"
    sheet = zoho_sheet(tmp_path / "z.csv", [zoho_row(f"S{i}") for i in range(6)])
    run_ = rig.run(sheet, "zoho-people")
    assert run_.counts() == {"not sent": 6}, run_.results
    assert run_.fatal and run_.stopped and "--zoho-session-data body" in run_.stopped
    assert "input parameter missing" in run_.stopped
    assert "--zoho-session-data body" in run_.results[2].message
    posts = [r for r in rig.sandbox.state.requests if r["method"] == "POST"]
    assert len([p for p in posts if "sessions" in p["path"]]) == 3  # not the whole sheet
    fixed = rig.run(sheet, "zoho-people", zoho_session_data="body")
    assert fixed.counts() == {"created": 6}
