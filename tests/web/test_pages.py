"""The page's use cases over real HTTP to `serve --sandbox`: the same pipeline as `run`."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openpyxl

from tests.conftest import ROOT, V2_HEADERS, V2_ROW, write_csv, zoho_row, zoho_sheet
from tests.web.conftest import WebServer, csrf, upload

V2 = "sandbox-360learning-v2"


def v2_rows(prefix: str, count: int) -> list[list[str]]:
    """``count`` valid v2 rows whose names start with ``prefix``."""
    return [[V2_ROW[0], f"{prefix} {n}", *V2_ROW[2:]] for n in range(count)]


def start(client: httpx.Client, page: httpx.Response, mode: str) -> str:
    """Press a run button of an upload's page; the run's URL."""
    action = re.search(r'action="(/uploads/[^"]+/run)"', page.text)
    assert action, "no run form on the page"
    answer = client.post(action.group(1), data={"csrf": csrf(client), "mode": mode})
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def finish(client: httpx.Client, run: str, timeout: float = 60) -> dict[str, Any]:
    """Poll the run's status until it ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state: dict[str, Any] = client.get(f"{run}/status").json()
        if state["state"] in ("finished", "failed"):
            return state
        time.sleep(0.2)
    raise AssertionError(f"{run} did not finish")


def result_rows(content: bytes) -> list[tuple[Any, ...]]:
    """The Result sheet's rows of a downloaded workbook."""
    sheet = openpyxl.load_workbook(io.BytesIO(content))["Result"]
    return list(sheet.iter_rows(values_only=True))


def test_import_then_renamed_upload_shows_created_rows(tmp_path: Path, web: WebServer) -> None:
    """An import creates the rows; the same sheet under another name shows them created and
    importing it again creates nothing more; history lists both runs with their results."""
    client = web.client()
    client.post("/upload", data={"csrf": csrf(client), "who": "Ana"})  # names the session
    sheet = write_csv(tmp_path / "first.csv", [V2_HEADERS, *v2_rows("Renamed", 3)])
    page = upload(client, sheet, V2)
    assert '<span class="n">3</span> valid' in page.text
    run = start(client, page, "import")
    state = finish(client, run)
    assert state["counts"] == {"created": 3} and state["exit_code"] == 0
    assert web.count("360learning-v2", "Renamed") == 3
    again = upload(client, sheet, V2, name="renamed copy.csv")
    assert again.text.count('<tr class="st-already-created"') == 3
    assert '<span class="n">3</span> already created' in again.text
    second = finish(client, start(client, again, "import"))
    assert second["counts"] == {"skipped": 3}
    assert web.count("360learning-v2", "Renamed") == 3
    history = client.get("/history").text
    assert "renamed copy.csv" in history and "first.csv" in history and "3 skipped" in history
    link = re.search(r'href="(/history/sandbox-360learning-v2/\d+/result)"', history)
    assert link
    rows = result_rows(client.get(link.group(1)).content)
    assert [r[1] for r in rows[1:]] == ["skipped"] * 3


def test_dry_run_sends_nothing(tmp_path: Path, web: WebServer) -> None:
    """A dry run ends with every valid row 'not sent' and the sandbox unchanged."""
    client = web.client()
    before = len(web.created("360learning-v2"))
    sheet = write_csv(tmp_path / "dry.csv", [V2_HEADERS, *v2_rows("Dry", 2)])
    page = upload(client, sheet, V2)
    assert "Look up emails only" not in page.text, "offered only when the sheet has emails"
    run = start(client, page, "dry-run")
    state = finish(client, run)
    assert state["counts"] == {"not sent": 2}
    assert len(web.created("360learning-v2")) == before
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"{run}/result").content))
    assert [r[1] for r in book["Result"].iter_rows(min_row=2, values_only=True)] == ["not sent"] * 2
    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True)}
    assert summary["Run"] == "a dry run: nothing was sent"


def test_resolve_only_fills_in_ids_from_emails(tmp_path: Path, web: WebServer) -> None:
    """'Look up emails only' writes the sheet with the instructor's ID, creating nothing."""
    client = web.client()
    before = len(web.created("360learning-v2"))
    headers = [h if h != "Main instructor ID" else "Main instructor email" for h in V2_HEADERS]
    sheet = write_csv(
        tmp_path / "emails.csv",
        [headers, [V2_ROW[0], "By email", "jane.doe@example.com", *V2_ROW[3:]]],
    )
    page = upload(client, sheet, V2)
    assert "Look up emails only" in page.text
    run = start(client, page, "resolve")
    state = finish(client, run)
    assert state["state"] == "finished", state
    assert "1 found, 0 unknown" in " ".join(state["messages"])
    rows = result_rows(client.get(f"{run}/result").content)
    assert "647098a731a809ed36889ed1" in rows[1]
    assert len(web.created("360learning-v2")) == before
    followup = client.get(f"/uploads/{state['followup']}")
    assert (
        'data-label="Main instructor ID" class="id">647098a731a809ed36889ed1</td>' in followup.text
    )
    assert (
        'data-label="Main instructor email" class="id">jane.doe@example.com</td>' in followup.text
    )
    assert 'href="/uploads/' in client.get(run).text


def test_stop_button_stops_like_ctrl_c(tmp_path: Path, web: WebServer) -> None:
    """Stop during a Zoho run (one call every 2 s, real clock): the row in flight finishes,
    the rest are 'not sent', the result sheet has every row, the exit code is 130's."""
    client = web.client()
    sheet = zoho_sheet(tmp_path / "zoho.csv", [zoho_row(f"Stoppable {n}") for n in range(6)])
    page = upload(client, sheet)
    assert "Sandbox zoho-people" in page.text, "the vendor is guessed from the headers"
    run = start(client, page, "import")
    deadline = time.monotonic() + 30
    while client.get(f"{run}/status").json()["done"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    stopped = client.post(f"{run}/stop", data={"csrf": csrf(client)})
    assert stopped.status_code == 303
    state = finish(client, run, timeout=15)
    assert state["stopped"] == "interrupted" and state["exit_code"] == 130
    assert state["counts"].get("not sent", 0) >= 3, state
    assert state["counts"].get("created", 0) + state["counts"].get("not sent", 0) == 6
    assert web.count("zoho-people", "Stoppable") == state["counts"].get("created", 0)
    rows = result_rows(client.get(f"{run}/result").content)
    assert len(rows) == 7
    # The bar and the count say what was sent, and what the stop left unsent.
    done, unsent = state["counts"].get("created", 0), state["counts"]["not sent"]
    shown = client.get(run).text
    assert f'<progress id="bar" max="6" value="{done}">' in shown
    assert (state["done"], state["total"], state["not_sent"]) == (done, 6, unsent)
    assert f'{done}</span> of <span id="total">6</span> rows done' in shown
    assert f"{unsent} not sent: stopped" in shown


def test_progress_streams_as_server_sent_events(tmp_path: Path, web: WebServer) -> None:
    """The events stream sends the run's state as it changes and ends with the final one."""
    client = web.client()
    sheet = write_csv(tmp_path / "sse.csv", [V2_HEADERS, *v2_rows("Streamed", 4)])
    run = start(client, upload(client, sheet, V2), "import")
    events = []
    with client.stream("GET", f"{run}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
    assert events[-1]["state"] == "finished" and events[-1]["done"] == 4
    assert events[-1]["counts"] == {"created": 4}
    assert [e["version"] for e in events] == sorted(e["version"] for e in events)
    assert client.get(run).status_code == 200, "the run's page can be reopened"


def test_large_sheets_are_paged_and_filtered(tmp_path: Path, web: WebServer) -> None:
    """120 rows: pages of 50; 'problems only' shows the 7 bad rows, each cell marked."""
    client = web.client()
    rows = v2_rows("Paged", 120)
    for n in range(0, 120, 18):
        rows[n][3] = "31/02/2025 10:00"
    page = upload(client, write_csv(tmp_path / "paged.csv", [V2_HEADERS, *rows]), V2)
    assert "page 1 of 3" in page.text and page.text.count('<th scope="row"') == 50
    last = client.get(f"{page.url.path}?page=3")
    assert last.text.count('<th scope="row"') == 20
    problems = client.get(f"{page.url.path}?problems=1")
    assert problems.text.count('<th scope="row"') == 7
    assert problems.text.count('<td class="bad"') == 7
    assert "is not a real date" in problems.text or "does not exist" in problems.text
    marked = result_rows(client.get(f"{page.url.path}/checked.xlsx").content)
    assert sum(1 for r in marked[1:] if r[1] == "invalid") == 7


def test_templates_download_for_each_account(web: WebServer) -> None:
    """Each account's vendor template downloads as a workbook with its headers."""
    client = web.client()
    home = client.get("/").text
    for vendor in ("360learning-v1", "360learning-v2", "zoho-people", "coursepath"):
        assert f'href="/templates/{vendor}"' in home
    book = openpyxl.load_workbook(io.BytesIO(client.get("/templates/zoho-people").content))
    headers = [c.value for c in next(book.worksheets[0].iter_rows(max_row=1))]
    assert "Trainer erecno" in headers
    assert client.get("/templates/nope").status_code == 404


def test_two_runs_on_one_account_never_overlap(tmp_path: Path, web: WebServer) -> None:
    """A second import into an account while one runs is refused by the journal's lock,
    saying why without server paths; the first goes on (then is stopped here)."""
    client = web.client()
    first = zoho_sheet(tmp_path / "one.csv", [zoho_row(f"Locked {n}") for n in range(5)])
    second = zoho_sheet(tmp_path / "two.csv", [zoho_row(f"Other {n}") for n in range(2)])
    running = start(client, upload(client, first, "sandbox-zoho-people"), "import")
    refused = finish(client, start(client, upload(client, second, "sandbox-zoho-people"), "import"))
    assert refused["state"] == "failed" and refused["exit_code"] == 2
    said = " ".join(refused["messages"])
    assert "another import into this journal is in progress" in said
    assert str(web.data) not in said
    assert client.get(f"{running}/status").json()["state"] == "running"
    client.post(f"{running}/stop", data={"csrf": csrf(client)})
    assert finish(client, running)["stopped"] == "interrupted"
    assert web.count("zoho-people", "Other") == 0


def test_fix_the_checked_sheet_and_upload_it_again(tmp_path: Path, web: WebServer) -> None:
    """The downloaded sheet with problems marked, fixed in place and uploaded again, is valid;
    its old outcome columns are not shown as sheet columns."""
    client = web.client()
    rows = v2_rows("Refixed", 3)
    rows[1][3] = "31/02/2025 10:00"
    page = upload(client, write_csv(tmp_path / "tofix.csv", [V2_HEADERS, *rows]), V2)
    assert '<span class="n">1</span> invalid' in page.text
    checked = tmp_path / "tofix.checked.xlsx"
    checked.write_bytes(client.get(f"{page.url.path}/checked.xlsx").content)
    book = openpyxl.load_workbook(checked)
    sheet = book["Result"]
    headers = [c.value for c in sheet[1]]
    assert headers[:2] == ["Sheet row", "Status"] and sheet.cell(3, 2).value == "invalid"
    sheet.cell(3, headers.index("Start date") + 1).value = "2025-07-02 10:00"
    book.save(checked)
    again = upload(client, checked, V2)
    assert '<span class="n">0</span> invalid' in again.text
    assert '<th scope="col">Messages</th>' not in again.text
    assert '<th scope="col" class="name-col">Session name</th>' in again.text


def test_ctrl_c_on_the_server_stops_runs_and_keeps_their_record(tmp_path: Path) -> None:
    """SIGINT to `serve` during a Zoho run: the run stops as Ctrl-C stops `run`, its result
    sheet is written and the account's journal records it; the server exits 0."""
    import signal
    import sqlite3

    from tests.web.conftest import start_server

    server = start_server(tmp_path / "data")
    try:
        client = server.client()
        sheet = zoho_sheet(tmp_path / "long.csv", [zoho_row(f"Killed {n}") for n in range(6)])
        run = start(client, upload(client, sheet, "sandbox-zoho-people"), "import")
        deadline = time.monotonic() + 30
        while client.get(f"{run}/status").json()["done"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        server.close_clients()
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(30) == 0
    finally:
        server.stop()
    journal = tmp_path / "data" / "journals" / "sandbox-zoho-people.journal.sqlite"
    with sqlite3.connect(journal) as db:
        [(finished, summary)] = db.execute("SELECT finished, summary FROM runs").fetchall()
    assert finished is not None
    recorded = json.loads(summary)
    assert recorded["stopped"] == "interrupted" and recorded["file"] == "long.csv"
    assert recorded["counts"]["not sent"] >= 3
    result = tmp_path / "data" / recorded["result"]
    assert len(result_rows(result.read_bytes())) == 7


def history_row(client: httpx.Client, name: str) -> str:
    """The history table's row of the run of the file ``name`` (the newest one)."""
    rows = re.findall(r"<tr>.*?</tr>", client.get("/history").text, re.S)
    found = [row for row in rows if f'<td data-label="File">{name}' in row]
    assert found, f"no run of {name} in history"
    return found[0]


def test_undo_a_run_from_history_with_the_guard(tmp_path: Path, web: WebServer) -> None:
    """History's "Delete the 3 it created…" opens a confirm step naming the count and the
    account; a stale or wrong count is refused (409) and sends nothing; the delete removes
    exactly what the run created, says so, and the row then reads "3 created, 3 deleted
    (undone)" with nothing more offered. "Apply changes" needs the account's key column."""
    client = web.client()
    sheet = write_csv(tmp_path / "undo.csv", [V2_HEADERS, *v2_rows("Undone", 3)])
    page = upload(client, sheet, V2)
    assert finish(client, start(client, page, "import"))["counts"] == {"created": 3}
    assert web.count("360learning-v2", "Undone") == 3
    row = history_row(client, "undo.csv")
    link = re.search(r'href="(/history/sandbox-360learning-v2/(\d+)/undo)">Delete the 3 it', row)
    assert link, row
    url, number = link.group(1), link.group(2)
    confirm = client.get(url)
    assert confirm.status_code == 200
    assert (
        f"Delete the 3 sessions run {number} (undo.csv) created at "
        "<strong>Sandbox 360learning-v2</strong>" in confirm.text
    )
    assert 'name="expect" value="3"' in confirm.text and 'name="confirm" value="3"' in confirm.text
    assert web.count("360learning-v2", "Undone") == 3, "the confirm step sends nothing"
    listed = client.post(url, data={"csrf": csrf(client), "dry": "1"})
    assert listed.status_code == 200 and "nothing sent: 3 would be deleted" in listed.text
    stale = client.post(url, data={"csrf": csrf(client), "dry": "0", "confirm": "3", "expect": "2"})
    assert stale.status_code == 409 and "now has 3 row(s) to delete, not the 2" in stale.text
    wrong = client.post(url, data={"csrf": csrf(client), "dry": "0", "confirm": "7"})
    assert wrong.status_code == 409 and "The count 7 does not match" in wrong.text
    assert "type 3 in Confirm count" in wrong.text and "--confirm" not in wrong.text
    assert web.count("360learning-v2", "Undone") == 3
    form = {"csrf": csrf(client), "dry": "0", "confirm": "3", "expect": "3"}
    done = client.post(url, data=form)
    assert done.status_code == 200 and "undone: 3 deleted" in done.text, done.text
    assert web.count("360learning-v2", "Undone") == 0
    row = history_row(client, "undo.csv")
    assert "3 created, 3 deleted (undone)" in row and "/undo" not in row, row
    again = client.get(url)
    assert again.status_code == 409 and "has nothing left to delete" in again.text
    resent = client.post(url, data=form)
    assert resent.status_code == 409 and "now has 0 row(s) to delete" in resent.text
    forged = client.post(url, data={"csrf": "nope", "dry": "0"})
    assert forged.status_code == 403
    update = re.search(r'action="(/uploads/[^"]+/run)"', page.text)
    assert update
    refused = client.post(update.group(1), data={"csrf": csrf(client), "mode": "update"})
    assert refused.status_code == 400 and "key column" in refused.text


def test_history_offers_a_delete_only_where_it_can_act(tmp_path: Path, web: WebServer) -> None:
    """No delete is offered for a Zoho run (its plugin declares none), nor for a run that
    only skipped rows; asking anyway is refused and sends nothing."""
    client = web.client()
    zoho = zoho_sheet(tmp_path / "zoho-kept.csv", [zoho_row("Kept at Zoho")])
    assert finish(client, start(client, upload(client, zoho), "import"))["counts"] == {"created": 1}
    row = history_row(client, "zoho-kept.csv")
    assert "/undo" not in row and "has no delete" in row, row
    number = re.search(r"/history/sandbox-zoho-people/(\d+)/result", row)
    assert number, row
    asked = client.get(f"/history/sandbox-zoho-people/{number.group(1)}/undo")
    assert asked.status_code == 400 and "offers no delete through its API" in asked.text
    sheet = write_csv(tmp_path / "twice.csv", [V2_HEADERS, *v2_rows("Twice", 2)])
    assert finish(client, start(client, upload(client, sheet, V2), "import"))["counts"] == {
        "created": 2
    }
    again = upload(client, sheet, V2, name="twice again.csv")
    assert finish(client, start(client, again, "import"))["counts"] == {"skipped": 2}
    skipped = history_row(client, "twice again.csv")
    assert "2 skipped" in skipped and "/undo" not in skipped, skipped
    assert "Delete the 2 it created" in history_row(client, "twice.csv")
    assert web.count("zoho-people", "Kept at Zoho") == 1


def test_a_sandbox_pages_own_data_folder_goes_when_it_stops(tmp_path: Path) -> None:
    """`serve --sandbox` with no --data makes a throwaway folder for a sandbox that ends with
    it: stopping removes it, uploads included (a trial found them left in /tmp)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "importer", "serve", "--sandbox", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**base, "IMPORTER_STATE_DIR": str(tmp_path / "state")},
    )  # fmt: skip
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(2)]
    found = re.search(r"http://127\.0\.0\.1:\d+/ \(data in (.+)\)", lines[1])
    assert found, lines
    url, data = found.group(0).split(" ")[0], Path(found.group(1))
    sheet = write_csv(tmp_path / "kept.csv", [V2_HEADERS, *v2_rows("Kept", 2)])
    with httpx.Client(base_url=url, timeout=30) as client:
        page = upload(client, sheet, V2)
        assert page.status_code == 200
    assert any(data.rglob("kept*")), "the upload is in the data folder while it runs"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert not data.exists() and f"Removed the sandbox's data folder {data}" in err


def test_downloads_name_the_uploaded_file_not_the_server_folder(
    tmp_path: Path, web: WebServer
) -> None:
    """The Summary sheet of the result and of the checked sheet says the file's name, and no
    cell of it shows the server's upload folder (a trial found uploads/<hex>/ in it)."""
    client = web.client()
    sheet = write_csv(tmp_path / "named.csv", [V2_HEADERS, *v2_rows("Named", 2)])
    page = upload(client, sheet, V2)
    run = start(client, page, "import")
    assert finish(client, run)["counts"] == {"created": 2}
    for content in (
        client.get(f"{run}/result").content,
        client.get(f"{page.url.path}/checked.xlsx").content,
    ):
        book = openpyxl.load_workbook(io.BytesIO(content))
        lines = [row for row in book["Summary"].iter_rows(values_only=True)]
        assert {row[0]: row[1] for row in lines}["Input file"] == "named.csv"
        cells = " ".join(str(cell) for row in lines for cell in row)
        assert str(web.data) not in cells and "uploads" not in cells, cells


def test_an_account_without_a_time_zone_refuses_zoneless_times_before_importing(
    tmp_path: Path,
) -> None:
    """An account given no time zone: a sheet whose times have none is refused on upload in
    one sentence (nothing to import); times that carry their zone are taken."""
    from tests.web.conftest import start_server

    accounts = tmp_path / "accounts.toml"
    accounts.write_text(  # never contacted: the page refuses before any import
        '[[account]]\nname = "No zone"\nvendor = "360learning-v2"\n'
        'base_url = "https://127.0.0.1:9"\n',
        encoding="utf-8",
    )
    server = start_server(tmp_path / "data", "--config", str(accounts))
    try:
        client = server.client()
        assert "not given" in client.get("/").text
        sheet = write_csv(tmp_path / "local.csv", [V2_HEADERS, *v2_rows("Local", 2)])
        page = upload(client, sheet, "no-zone")
        assert page.status_code == 400
        said = re.sub(r"\s+", " ", page.text)
        assert (
            "local.csv: 2 rows have times without a time zone, and no time zone was given" in (said)
            and "add timezone (e.g. timezone = &#34;Europe/Paris&#34;) to the account" in said
        ), said
        assert "/run" not in page.text and not list((tmp_path / "data" / "uploads").iterdir())
        start = V2_HEADERS.index("Start date")
        zoned = [[*row[:start], "2025-07-01T10:00Z", "2025-07-01T12:00+02:00", "disabled"]
                 for row in v2_rows("Z", 1)]  # fmt: skip
        page = upload(client, write_csv(tmp_path / "zoned.csv", [V2_HEADERS, *zoned]), "no-zone")
        assert page.status_code == 200 and '<span class="n">1</span> valid' in page.text
    finally:
        server.stop()


def test_dates_read_two_ways_are_said_and_can_be_read_the_other_way(
    tmp_path: Path, web: WebServer
) -> None:
    """03/04/2027: the page says how many dates read two ways and how they were read; its
    button checks the sheet again month-first, and the import sends the month-first dates."""
    client = web.client()
    start_at = V2_HEADERS.index("Start date")
    rows = [[*row[:start_at], f"03/0{n + 4}/2027 10:00", *row[start_at + 1 :]]
            for n, row in enumerate(v2_rows("Twice", 3))]  # fmt: skip
    end_at = V2_HEADERS.index("End date")
    for row in rows:
        row[end_at] = ""
    sheet = write_csv(tmp_path / "twice.csv", [V2_HEADERS, *rows])
    page = upload(client, sheet, V2)
    said = re.sub(r"\s+", " ", page.text)
    assert (
        "3 dates could be read two ways (03/04/2027): read day-first (3 April 2027); "
        "choose “Read them month-first” here to read them month-first." in said
    ), said
    form = re.search(r'action="(/uploads/[^"]+/dates)"', page.text)
    assert form and 'name="order" value="MDY"' in page.text
    again = client.post(
        form.group(1), data={"csrf": csrf(client), "order": "MDY"}, follow_redirects=True
    )
    said = re.sub(r"\s+", " ", again.text)
    assert "read month-first (4 March 2027); choose “Read them day-first” here" in said, said
    state = finish(client, start(client, again, "import"))
    assert state["counts"] == {"created": 3}, state
    made = {c["data"]["name"]: c["data"]["startDate"] for c in web.created("360learning-v2")}
    # Europe/Paris, the sandbox account's zone: 10:00 on 4, 5, 6 March is 09:00 UTC.
    assert sorted(v for k, v in made.items() if k.startswith("Twice")) == [
        f"2027-03-0{d}T09:00:00.000Z" for d in (4, 5, 6)
    ]
