"""People by email: looked up once per distinct email, unknown emails named, IDs filled in."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl

from tests.conftest import write_csv, zoho_row, zoho_sheet
from tests.run.conftest import SandboxProcess

PATH, JANE, JOHN, ANA = (
    "6853f6de567dc5f80528f80d",
    "647098a731a809ed36889ed1",
    "67769f32553f1e9171a186c0",
    "67769f32553f1e9171a186c1",
)
HEADERS = [
    "Path ID",
    "Session name",
    "Main instructor email",
    "Co-instructor emails",
    "Start date",
    "Registration validation",
]


def sheet(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "v2.csv",
        [
            HEADERS,
            [
                PATH,
                "A",
                "Jane.Doe@example.com",
                "john.smith@example.com; ana.lima@example.com",
                "2025-07-01 10:00",
                "disabled",
            ],
            [PATH, "B", "jane.doe@example.com", "", "2025-07-02 10:00", "disabled"],
            [PATH, "C", "nobody@example.com", "", "2025-07-03 10:00", "disabled"],
        ],
    )


def test_v2_emails_resolved_once_each(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """Each distinct email is looked up once; found ones become IDs, an unknown one is named."""
    result = tmp_path / "out.xlsx"
    done = sandbox.run(sheet(tmp_path), "360learning-v2", "--result", str(result), "--json")
    assert json.loads(done.stdout)["counts"] == {"created": 2, "invalid": 1}, done.stderr
    lookups = [r for r in sandbox.requests("360learning-v2") if r["path"] == "/api/v2/users"]
    assert sorted(r["query"]["mail[eq]"] for r in lookups) == [
        "ana.lima@example.com",
        "jane.doe@example.com",
        "john.smith@example.com",
        "nobody@example.com",
    ]
    sent = {c["data"]["name"]: c["request"] for c in sandbox.created("360learning-v2")}
    assert sent["A"]["mainInstructorId"] == JANE and sent["A"]["instructorIds"] == [JOHN, ANA]
    assert sent["B"]["mainInstructorId"] == JANE and "instructorIds" not in sent["B"]
    rows = list(openpyxl.load_workbook(result)["Result"].iter_rows(min_row=2, values_only=True))
    assert rows[2][1] == "invalid" and "nobody@example.com" in rows[2][3]


def test_zoho_trainer_emails(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """A trainer's email gives the erecno; an employee who is not a trainer is a row error."""
    rows = [
        zoho_row("By email", trainer=""),
        zoho_row("Not trainer", "02:00 PM", "03:00 PM", trainer=""),
    ]
    path = zoho_sheet(tmp_path / "z.csv", rows)
    text = path.read_text(encoding="utf-8").splitlines()
    text[0] += ",Trainer email"
    text[1] += ",henry@example.com"
    text[2] += ",not.a.trainer@example.com"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    result = tmp_path / "out.csv"
    done = sandbox.run(path, "zoho-people", "--result", str(result), "--json")
    assert json.loads(done.stdout)["counts"] == {"created": 1, "invalid": 1}, done.stderr
    assert (
        sandbox.created("zoho-people")[0]["request"]["sessionData"]["trainerErecno"]
        == "478346000008251001"
    )
    assert "not a registered trainer" in result.read_text(encoding="utf-8-sig")


def test_resolve_only_writes_the_ids_and_creates_nothing(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """--resolve-only fills the ID columns for a coordinator to check, and creates nothing."""
    out = tmp_path / "resolved.csv"
    done = sandbox.run(
        sheet(tmp_path), "360learning-v2", "--resolve-only", "--result", str(out), "--json"
    )
    summary = json.loads(done.stdout)
    assert summary["people"] == {"emails": 4, "found": 3, "unknown": 1}
    assert sandbox.created("360learning-v2") == []
    text = out.read_text(encoding="utf-8-sig")
    assert "Main instructor ID" in text and JANE in text and f"{JOHN};{ANA}" in text
