"""Export: read back what a run created, field for field, and spot differences."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.conftest import ROOT, CliResult, run_cli, write_csv, zoho_row, zoho_sheet
from tests.run.conftest import SandboxProcess

PATH, JANE = "6853f6de567dc5f80528f80d", "647098a731a809ed36889ed1"


def export(sandbox: SandboxProcess, vendor: str, *args: str) -> CliResult:
    """`export` through the real command line, in this process (tests.conftest.run_cli)."""
    info = sandbox.info[vendor]
    hosts = ["--base-url", info["base_url"]] + (
        ["--auth-url", info["auth_url"]] if info["auth_url"] else []
    )
    return run_cli("export", "--vendor", vendor, *hosts, *args, env=sandbox.env(vendor), cwd=ROOT)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def test_v2_round_trip_and_differences(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """A run's result sheet read back: same fields; a row edited afterwards is marked as differing."""
    sheet = write_csv(
        tmp_path / "v2.csv",
        [
            [
                "Path ID",
                "Session name",
                "Main instructor ID",
                "Start date",
                "End date",
                "User limit",
                "Registration validation",
            ],
            [PATH, "A", JANE, "2025-07-01 10:00", "2025-07-01 12:00", "12", "disabled"],
            [PATH, "B", JANE, "2025-07-02 10:00", "", "", "managers"],
        ],
    )
    result = tmp_path / "v2.result.csv"
    assert json.loads(
        sandbox.run(sheet, "360learning-v2", "--result", str(result), "--json").stdout
    )["counts"] == {"created": 2}
    back = tmp_path / "back.csv"
    done = export(sandbox, "360learning-v2", "--from-result", str(result), "-o", str(back))
    assert done.returncode == 0, done.stderr
    assert [r["Check"] for r in rows(back)] == ["same", "same"]
    text = result.read_text(encoding="utf-8-sig").replace(",A,", ",A renamed,")
    result.write_text(text, encoding="utf-8-sig")
    done = export(sandbox, "360learning-v2", "--from-result", str(result), "-o", str(back))
    assert done.returncode == 1
    checked = rows(back)
    assert (
        checked[0]["Check"] == "differs"
        and "name: sent 'A renamed', vendor has 'A'" in checked[0]["Differences"]
    )
    listing = tmp_path / "path.csv"
    assert export(sandbox, "360learning-v2", "--path-id", PATH, "-o", str(listing)).returncode == 0
    assert sorted(r["name"] for r in rows(listing)) == ["A", "B"]


def test_zoho_module_and_v1_program_session(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """Zoho module sessions read back with --from-result; a v1 program session has its fields."""
    result = tmp_path / "z.result.csv"
    sandbox.run(
        zoho_sheet(tmp_path / "z.csv", [zoho_row("Z1")]), "zoho-people", "--result", str(result)
    )
    back = tmp_path / "back.csv"
    done = export(sandbox, "zoho-people", "--from-result", str(result), "-o", str(back))
    assert done.returncode == 0, done.stderr
    assert rows(back)[0]["Check"] == "same" and rows(back)[0]["sessionName"] == "Z1"
    program = tmp_path / "program.csv"
    done = export(
        sandbox, "360learning-v1", "--session-id", "5d0a5f2b8c1e4a0012345678", "-o", str(program)
    )
    assert done.returncode == 0, done.stderr
    got = rows(program)[0]
    assert got["tutors"] == "john.smith@example.com" and got["programDurationType"] == "hour"


def test_coursepath_course_members(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """The members of a course are listed, paged by offset and limit."""
    sheet = write_csv(
        tmp_path / "c.csv",
        [["Email", "Course ID"]] + [[f"p{i}@example.com", "12345"] for i in range(3)],
    )
    sandbox.run(sheet, "coursepath")
    out = tmp_path / "members.csv"
    assert export(sandbox, "coursepath", "--course-id", "12345", "-o", str(out)).returncode == 0
    assert sorted(r["email"] for r in rows(out)) == [f"p{i}@example.com" for i in range(3)]


def test_v1_read_back_from_a_result(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """v1 path sessions a run created are found again in the list of all path sessions."""
    result = tmp_path / "v1.result.csv"
    sheet = ROOT / "sample_data" / "360learning-v1-valid.csv"
    sandbox.run(sheet, "360learning-v1", "--result", str(result), "--timezone", "Europe/Paris")
    back = tmp_path / "back.csv"
    done = export(
        sandbox,
        "360learning-v1",
        "--from-result",
        str(result),
        "-o",
        str(back),
        "--timezone",
        "Europe/Paris",
    )
    assert done.returncode == 0, done.stderr
    assert [r["Check"] for r in rows(back)] == ["same", "same", "same"]


def test_export_takes_the_callers_client_and_clock() -> None:
    """A use case takes its HTTP client and clock as arguments: here a MockTransport that pages
    twice through `Link`, and a fake clock; the objects of both pages come back in order."""
    import httpx

    from importer.api import resolve_settings
    from importer.core.clock import FakeClock
    from importer.jobs.export import export_sessions
    from importer.vendors import plugin

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "t" * 20, "expires_in": 3600})
        if request.url.params.get("page") == "2":
            return httpx.Response(200, json=[{"_id": "b"}])
        link = f'<{request.url.copy_with(params={"page": "2"})}>; rel="next"'
        return httpx.Response(200, json=[{"_id": "a"}], headers={"link": link})

    # Not a word ("secret"): the run holds it in this process's HELD, which then masks it
    # wherever it appears (another test's file named ana-secret.csv became ana-***.csv).
    env = {"IMPORTER_360L_CLIENT_ID": "id", "IMPORTER_360L_CLIENT_SECRET": "export-test-Cs-8c1f"}
    settings = resolve_settings("360learning-v2", flags={"base_url": "http://127.0.0.1:9"}, env=env)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        found = export_sessions(
            plugin("360learning-v2"),
            settings,
            {"path_id": "p" * 24},
            client=client,
            clock=FakeClock(),
        )
        assert not client.is_closed  # the caller's client is left open
    assert [item["_id"] for item in found] == ["a", "b"]


def test_export_stops_on_a_link_to_a_page_already_read(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """The path's session list names itself as its next page: the export stops there, lists each
    session once, says the list may be incomplete and exits 1, instead of looping forever."""
    sheet = write_csv(
        tmp_path / "v2.csv",
        [
            ["Path ID", "Session name", "Main instructor ID", "Start date",
             "Registration validation"],
            [PATH, "A", JANE, "2025-07-01 10:00", "disabled"],
            [PATH, "B", JANE, "2025-07-02 10:00", "disabled"],
        ],
    )  # fmt: skip
    assert sandbox.run(sheet, "360learning-v2").returncode == 0
    sandbox.faults("360learning-v2/sessions:loop=1")
    listing = tmp_path / "path.csv"
    done = export(sandbox, "360learning-v2", "--path-id", PATH, "-o", str(listing))
    assert done.returncode == 1, done.stderr
    assert "paging stopped" in done.stderr and "page already read" in done.stderr
    assert sorted(r["name"] for r in rows(listing)) == ["A", "B"]
    lists = [r for r in sandbox.requests("360learning-v2") if r["path"].endswith("/sessions")
             and r["method"] == "GET"]  # fmt: skip
    assert len(lists) == 1  # the page linked to was not read again


def test_export_stops_on_a_page_that_repeats_one_already_read() -> None:
    """A vendor that ignores ``offset`` answers the same full page forever: the export keeps the
    first copy, says it stopped, and makes one request more, not an endless loop."""
    import httpx

    from importer.api import resolve_settings
    from importer.core.clock import FakeClock
    from importer.jobs.export import export_sessions
    from importer.vendors import plugin

    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if len(calls) > 20:  # a guard for this test: a loop fails instead of hanging
            return httpx.Response(400, json={"error": "looped"})
        members = [{"id": str(i), "email": f"p{i}@example.com"} for i in range(100)]
        return httpx.Response(200, json=members)

    env = {"IMPORTER_COURSEPATH_API_KEY": "k" * 32, "IMPORTER_COURSEPATH_EMAIL": "a@example.com"}
    settings = resolve_settings("coursepath", flags={"base_url": "http://127.0.0.1:9"}, env=env)
    notes: list[str] = []
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        found = export_sessions(
            plugin("coursepath"),
            settings,
            {"course_id": "12345"},
            client=client,
            clock=FakeClock(),
            notify=notes.append,
        )
    assert len(found) == 100 and len(calls) == 2
    assert len(notes) == 1 and "repeats a page already read" in notes[0]
