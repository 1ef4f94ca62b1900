"""`session-importer run` end to end: real files, the real CLI, real HTTP to the sandbox process."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import ROOT, run_cli, write_csv, write_xlsx, zoho_row, zoho_sheet
from tests.run.conftest import SandboxProcess
from tests.sandbox.conftest import V2_EXAMPLE, ZOHO_EXAMPLE

PATH, GROUP, JANE, JOHN = (
    "6853f6de567dc5f80528f80d",
    "624c5526204fc7207e603ea6",
    "647098a731a809ed36889ed1",
    "67769f32553f1e9171a186c0",
)
V2_BASIC = [
    "Path ID",
    "Session name",
    "Main instructor ID",
    "Start date",
    "Registration validation",
]


def statuses(result: Path) -> dict[int, tuple[str, str, str]]:
    """Sheet row -> (status, created ID, messages) from a result workbook."""
    sheet = openpyxl.load_workbook(result)["Result"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    return {int(str(r[0])): (str(r[1]), str(r[2] or ""), str(r[3] or "")) for r in rows}


def test_360learning_v1_mixed_sheet(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """Created, invalid and vendor-rejected rows each get their status; the sandbox holds the created."""
    sheet = write_xlsx(
        tmp_path / "v1.xlsx",
        [
            [
                "Path ID",
                "Session name",
                "Start date",
                "End date",
                "Instructor emails",
                "Owner group ID",
                "Additional information",
            ],
            [
                PATH,
                "Employee Onboarding July Session",
                "2025-07-01T13:00:00.812Z",
                "2025-07-31T13:00:00.812Z",
                "jane.doe@example.com",
                "624c5526204fc7207e603ea6",
                "A0015221",
            ],
            [PATH, "Bad date", "31/02/2025 10:00", "", "", GROUP, ""],
            [PATH, "Unknown group", "2025-07-01 10:00", "", "", "624c5526204fc7207e600000", ""],
            [PATH, "Unknown instructor", "2025-07-01 10:00", "", "who@example.com", GROUP, ""],
        ],
    )
    result = tmp_path / "out.xlsx"
    done = sandbox.run(sheet, "360learning-v1", "--result", str(result))
    assert done.returncode == 1, done.stderr
    got = statuses(result)
    assert [got[r][0] for r in (2, 3, 4, 5)] == ["created", "invalid", "rejected", "rejected"]
    assert "no group 624c5526204fc7207e600000" in got[4][2]
    assert "who@example.com" in got[5][2]
    created = sandbox.created("360learning-v1", "session")
    assert [c["id"] for c in created] == [got[2][1]]
    # The migration guide's v1 example, field for field.
    assert created[0]["request"] == {
        "sessionName": "Employee Onboarding July Session",
        "sessionOwnerGroup": "624c5526204fc7207e603ea6",
        "instructorsMails": ["jane.doe@example.com"],
        "startDate": "2025-07-01T13:00:00.812Z",
        "endDate": "2025-07-31T13:00:00.812Z",
        "sessionAdditionalInformation": "A0015221",
    }


def test_360learning_v2_mixed_sheet(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """v2: the guide's example is sent as is; archived path and unknown user are rejected."""
    sheet = write_csv(
        tmp_path / "v2.csv",
        [
            [
                "Path ID",
                "Session name",
                "Main instructor ID",
                "Co-instructor IDs",
                "Start date",
                "End date",
                "User limit",
                "Registration validation",
                "Additional information",
            ],
            [
                "6853f6de567dc5f80528f80d",
                "Employee Onboarding July Session",
                JANE,
                JOHN,
                "2025-07-01T13:00:00.812Z",
                "2025-07-31T13:00:00.812Z",
                "30",
                "disabled",
                "A0015221",
            ],
            [PATH, "Archived", JANE, "", "2025-07-01 15:00", "", "", "disabled", ""],
            [
                "6853f6de567dc5f80528f80f",
                "Archived path",
                JANE,
                "",
                "2025-07-01 15:00",
                "",
                "",
                "disabled",
                "",
            ],
            [
                PATH,
                "Ghost",
                "67769f32553f1e9171a18600",
                "",
                "2025-07-01 15:00",
                "",
                "",
                "disabled",
                "",
            ],
            [PATH, "No name?", "", "", "2025-07-01 15:00", "", "", "disabled", ""],
        ],
    )
    result = tmp_path / "out.xlsx"
    done = sandbox.run(
        sheet, "360learning-v2", "--result", str(result), "--timezone", "Europe/Paris"
    )
    assert done.returncode == 1, done.stderr
    got = statuses(result)
    assert [got[r][0] for r in range(2, 7)] == [
        "created",
        "created",
        "rejected",
        "rejected",
        "invalid",
    ]
    assert "archived" in got[4][2] and "not a 360Learning user" in got[5][2]
    created = sandbox.created("360learning-v2", "session")
    assert sorted(c["id"] for c in created) == sorted([got[2][1], got[3][1]])
    example = V2_EXAMPLE  # the migration guide's v2 example
    sent = dict(created[0]["request"])
    # additionalInformation is the coordinator's own reference: sent exactly as typed.
    assert sent == example
    assert created[1]["request"]["startDate"] == "2025-07-01T13:00:00.000Z"  # 15:00 in Paris
    tokens = [r for r in sandbox.requests("360learning-v2") if r["path"].endswith("/oauth2/token")]
    assert len(tokens) == 1  # one token for the run, not one per row


def test_zoho_mixed_sheet(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """Zoho: the doc's example is sent field for field; an unknown trainer is rejected."""
    course, batch, module = "478346000019479103", "478346000019479115", "478346000019479119"
    sheet = write_csv(
        tmp_path / "zoho.csv",
        [
            [
                "Course ID",
                "Batch ID",
                "Module ID",
                "Session name",
                "Trainer erecno",
                "Type",
                "Date",
                "Start time",
                "End time",
                "Description",
                "Room ID",
                "Grade category ID",
            ],
            [
                course,
                batch,
                module,
                "Session API Testing",
                "478346000008251001",
                "0",
                "04-01-2022",
                "10:00 AM",
                "11:00 AM",
                "API testing",
                "478346000010125093",
                "478346000019553021",
            ],
            [
                course,
                batch,
                module,
                "Not a trainer",
                "478346000008251003",
                "Classroom",
                "05-01-2022",
                "10:00",
                "11:00",
                "",
                "",
                "",
            ],
            [
                course,
                batch,
                module,
                "Backwards",
                "478346000008251001",
                "Classroom",
                "05-01-2022",
                "3 pm",
                "2 pm",
                "",
                "",
                "",
            ],
        ],
        sep=";",
    )
    result = tmp_path / "out.csv"
    done = sandbox.run(sheet, "zoho-people", "--result", str(result))
    assert done.returncode == 1, done.stderr
    text = result.read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    assert lines[1].split(";")[1:3] == ["created", sandbox.created("zoho-people")[0]["id"]]
    assert lines[2].split(";")[1] == "rejected" and "not a trainer" in lines[2]
    assert lines[3].split(";")[1] == "invalid"
    sent = sandbox.created("zoho-people", "session")
    assert len(sent) == 1
    assert sent[0]["request"]["sessionData"] == ZOHO_EXAMPLE  # the doc's example, field for field


def test_coursepath_steps_are_reported(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """Coursepath: each step is reported; a failed step after the member was made says so."""
    sheet = write_csv(
        tmp_path / "cp.csv",
        [
            ["Email", "Name", "Course ID", "Program ID", "Groups", "Send invite"],
            ["jane.doe@example.com", "Jane Doe", "12345", "678", "Sales, EMEA; New hires", "yes"],
            ["existing@example.com", "Existing Learner", "12346", "", "", "no"],
            ["ann@example.com", "Ann", "999", "", "", "no"],
            ["bad-email", "X", "12345", "", "", ""],
        ],
    )
    result = tmp_path / "out.xlsx"
    done = sandbox.run(sheet, "coursepath", "--result", str(result))
    assert done.returncode == 1, done.stderr
    got = statuses(result)
    assert [got[r][0] for r in (2, 3, 4, 5)] == ["created", "created", "rejected", "invalid"]
    assert got[3][1] == "1002"  # the existing member, updated, not duplicated
    assert "course 999" in got[4][2] and "done before: create the member" in got[4][2]
    members = sandbox.created("coursepath", "member")
    assert sorted(m["data"]["email"] for m in members) == [
        "ann@example.com",
        "jane.doe@example.com",
    ]
    assert len(sandbox.created("coursepath", "groupmember")) == 2
    assert len(sandbox.created("coursepath", "invite")) == 1


def test_fatal_credentials_exit_3_without_leaking_them(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Wrong secrets stop the run (exit 3); no secret appears in output or the result sheet."""
    sheet = zoho_sheet(tmp_path / "z.csv", [zoho_row("S")])
    env = sandbox.env("zoho-people")
    env["IMPORTER_ZOHO_CLIENT_SECRET"] = "wrong-secret-value-1234"
    result = tmp_path / "out.csv"
    done = sandbox.run(sheet, "zoho-people", "--result", str(result), env=env)
    assert done.returncode == 3
    assert "IMPORTER_ZOHO_CLIENT_SECRET" in done.stderr
    everything = done.stdout + done.stderr + result.read_text(encoding="utf-8-sig")
    for secret in (env["IMPORTER_ZOHO_CLIENT_SECRET"], env["IMPORTER_ZOHO_REFRESH_TOKEN"]):
        assert secret not in everything
    assert "not sent" in result.read_text(encoding="utf-8-sig")


def test_missing_credentials_exit_2(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """No credentials in the environment: one line naming the variables, exit 2."""
    sheet = write_csv(tmp_path / "c.csv", [["Email", "Course ID"], ["a@example.com", "12345"]])
    env = {k: v for k, v in sandbox.env("coursepath").items() if not k.startswith("IMPORTER_")}
    done = sandbox.run(sheet, "coursepath", env=env)
    assert done.returncode == 2
    assert "IMPORTER_COURSEPATH_API_KEY" in done.stderr and "Traceback" not in done.stderr


def test_dry_run_and_limit(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """--dry-run sends nothing; --limit sends the first N valid rows, the rest are not sent."""
    rows = [["Email", "Course ID"]] + [[f"m{i}@example.com", "12345"] for i in range(4)]
    sheet = write_csv(tmp_path / "c.csv", rows)
    dry = sandbox.run(sheet, "coursepath", "--dry-run", "--json")
    assert dry.returncode == 0
    assert json.loads(dry.stdout)["counts"] == {"not sent": 4}
    assert sandbox.requests("coursepath") == []
    limited = sandbox.run(sheet, "coursepath", "--limit", "2", "--json")
    summary = json.loads(limited.stdout)
    assert limited.returncode == 1
    assert summary["counts"] == {"created": 2, "not sent": 2}
    assert len(sandbox.created("coursepath", "member")) == 2


def test_lost_answers_are_unknown_and_never_resent(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """When every create's answer is dropped, rows are 'unknown' and each was sent exactly once."""
    sandbox.faults("360learning-v2:drop=1")
    rows = [
        ["Path ID", "Session name", "Main instructor ID", "Start date", "Registration validation"]
    ]
    rows += [[PATH, f"S{i}", JANE, "2025-07-01 10:00", "disabled"] for i in range(3)]
    result = tmp_path / "out.xlsx"
    done = sandbox.run(
        write_csv(tmp_path / "v2.csv", rows), "360learning-v2", "--result", str(result)
    )
    assert done.returncode == 1
    got = statuses(result)
    assert {got[r][0] for r in (2, 3, 4)} == {"unknown"}
    assert "may have created it" in got[2][2]
    creates = [
        r
        for r in sandbox.requests("360learning-v2")
        if r["method"] == "POST" and "/sessions" in r["path"]
    ]
    assert len(creates) == 3 and len(sandbox.created("360learning-v2")) == 3


def test_429s_are_retried_without_duplicates(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """A third of the requests answered 429: every row is still created exactly once."""
    sandbox.faults("360learning-v1:429=0.3,seed=4")
    rows = [["Path ID", "Session name", "Start date", "Owner group ID"]]
    rows += [[PATH, f"S{i}", "2025-07-01 10:00", GROUP] for i in range(6)]
    done = sandbox.run(
        write_csv(tmp_path / "v1.csv", rows), "360learning-v1", "--json", "--concurrency", "1"
    )
    assert json.loads(done.stdout)["counts"] == {"created": 6}, done.stderr
    names = sorted(c["data"]["sessionName"] for c in sandbox.created("360learning-v1"))
    assert names == [f"S{i}" for i in range(6)]


def test_sandbox_flag_runs_the_main_job(tmp_path: Path) -> None:
    """--sandbox imports a sample into the embedded sandbox and says where the result is."""
    result = tmp_path / "out.xlsx"
    done = run_cli(
        "run",
        ROOT / "sample_data" / "360learning-v2-valid.xlsx",
        "--vendor",
        "360learning-v2",
        "--sandbox",
        "--timezone",
        "Europe/Paris",
        "--result",
        result,
    )
    assert done.returncode == 0, done.stderr
    assert "embedded sandbox" in done.stdout and f"Result sheet: {result}" in done.stdout
    assert {s for s, _, _ in statuses(result).values()} == {"created"}


@pytest.mark.parametrize("vendor", ["zoho-people"])
def test_vendor_from_job_file(tmp_path: Path, sandbox: SandboxProcess, vendor: str) -> None:
    """The job file can name the vendor, the hosts and where credentials are read from."""
    info = sandbox.info[vendor]
    job = tmp_path / "job.toml"
    job.write_text(
        f'[job]\nvendor = "{vendor}"\nbase_url = "{info["base_url"]}"\nauth_url = "{info["auth_url"]}"\n'
        '[credentials]\nIMPORTER_ZOHO_REFRESH_TOKEN = "ACME_ZOHO_TOKEN"\n',
        encoding="utf-8",
    )
    env = sandbox.env(vendor)
    env["ACME_ZOHO_TOKEN"] = env.pop("IMPORTER_ZOHO_REFRESH_TOKEN")
    sheet = zoho_sheet(tmp_path / "z.csv", [zoho_row("S")])
    done = run_cli("run", str(sheet), "--config", str(job), "--json", env=env)
    assert json.loads(done.stdout)["counts"] == {"created": 1}, done.stderr


def test_ctrl_c_stops_cleanly_with_every_row_in_the_result(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Ctrl-C mid-run: requests in flight finish, unsent rows are 'not sent', exit 130."""
    import signal
    import subprocess
    import sys
    import time

    sheet = zoho_sheet(tmp_path / "z.csv", [zoho_row(f"S{i}") for i in range(8)])
    result = tmp_path / "out.csv"
    info = sandbox.info["zoho-people"]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "importer",
            "run",
            str(sheet),
            "--vendor",
            "zoho-people",
            "--base-url",
            info["base_url"],
            "--auth-url",
            info["auth_url"],
            "--result",
            str(result),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=sandbox.env("zoho-people"),
    )
    deadline = time.monotonic() + 30
    while len(sandbox.created("zoho-people")) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    lines = result.read_text(encoding="utf-8-sig").splitlines()[1:]
    states = [line.split(",")[1] for line in lines]
    assert len(states) == 8
    created = sandbox.created("zoho-people")
    assert states.count("created") == len(created) >= 2
    assert states.count("not sent") == 8 - len(created)
    assert "interrupted" in err


def test_run_says_which_way_it_read_dates_that_read_two_ways(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """The run's output (and its log) says how many dates read two ways, the reading used and
    how to choose the other; the JSON line counts them; --date-order MDY reads month-first."""
    rows = [[PATH, f"Twice {n}", JANE, f"03/0{n}/2027 10:00", "disabled"] for n in (4, 5)]
    sheet = write_csv(tmp_path / "twice.csv", [V2_BASIC, *rows])
    log = tmp_path / "run.log"
    done = sandbox.run(sheet, "360learning-v2", "--dry-run", "--log", str(log))
    said = (
        "2 dates could be read two ways (03/04/2027): read day-first (3 April 2027); "
        "add --date-order MDY to read them month-first"
    )
    assert f"{sheet}: {said}." in done.stdout and said in log.read_text(), done.stdout
    other = sandbox.run(sheet, "360learning-v2", "--date-order", "MDY", "--json")
    summary = json.loads(other.stdout)
    assert summary["counts"] == {"created": 2} and summary["dates_read_two_ways"] == 2
    starts = sorted(c["data"]["startDate"] for c in sandbox.created("360learning-v2", "session"))
    assert starts == ["2027-03-04T10:00:00.000Z", "2027-03-05T10:00:00.000Z"]
