"""Fixing a sheet on the page (issue 26), over HTTP to the real `serve --sandbox`: columns
chosen, cells and whole columns corrected, the corrected rows imported, the corrected sheet
downloaded, and what a later upload of either sheet says."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import httpx
import openpyxl

from tests.conftest import V2_HEADERS, V2_ROW, write_csv
from tests.web.conftest import WebServer, csrf, upload
from tests.web.test_pages import finish, result_rows, start

V2 = "sandbox-360learning-v2"


def _row(name: str, start: str = "2027-07-01 15:00", validation: str = "disabled") -> list[str]:
    return [V2_ROW[0], name, V2_ROW[2], start, "2027-07-31 15:00", validation]


def _id(page: httpx.Response) -> str:
    found = re.search(r'action="/uploads/([^/"]+)/', page.text)
    assert found, page.text[:500]
    return found.group(1)


def _fix(client: httpx.Client, upload_id: str, row: int, column: str, value: str,
         json: bool = False) -> httpx.Response:  # fmt: skip
    headers = {"Accept": "application/json"} if json else {}
    return client.post(
        f"/uploads/{upload_id}/cells",
        data={"csrf": csrf(client), "row": str(row), "column": column, "value": value},
        headers=headers,
    )


def _selected(html: str) -> dict[str, str]:
    """Each select of the mapping form and the option it has selected ("" if none)."""
    found = {}
    for name, body in re.findall(
        r'<select id="[^"]+" name="([^"]+)"[^>]*>(.*?)</select>', html, re.S
    ):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        found[name] = chosen.group(1) if chosen else ""
    return found


def test_an_unknown_header_is_mapped_on_the_page_and_remembered(
    tmp_path: Path, web: WebServer
) -> None:
    client = web.client()
    headers = [h if h != "Start date" else "Début (heure de Paris)" for h in V2_HEADERS]
    sheet = write_csv(tmp_path / "fr.csv", [headers, _row("MapFr 1"), _row("MapFr 2")])
    page = upload(client, sheet, V2)
    assert page.url.path.endswith("/columns"), page.url
    assert "missing required column &#39;Start date&#39;" in page.text
    assert '<label for="field-startDate">Start date <span class="req">(required)</span>' in (
        page.text
    )
    assert "(e.g. 2027-07-01 15:00)" in page.text  # a preview of the column's values
    upload_id = page.url.path.split("/")[2]
    # The sheet's own page sends to the mapping step until the columns are chosen.
    assert client.get(f"/uploads/{upload_id}").headers["location"].endswith("/columns")
    form = {**_selected(page.text), "csrf": csrf(client)}  # as the browser posts it
    assert form["field-startDate"] == "" and form["field-name"] == "Session name"
    form["field-startDate"] = "Début (heure de Paris)"
    chosen = client.post(f"/uploads/{upload_id}/columns", data=form, follow_redirects=True)
    assert chosen.url.path == f"/uploads/{upload_id}"
    assert '<span class="n">2</span> valid' in chosen.text
    again = upload(client, sheet, V2)  # the same headers: the choice is remembered
    assert again.url.path.startswith("/uploads/") and not again.url.path.endswith("/columns")
    assert '<span class="n">2</span> valid' in again.text


def test_a_bad_cell_corrected_in_place_then_imported_as_corrected(
    tmp_path: Path, web: WebServer
) -> None:
    client = web.client()
    sheet = write_csv(
        tmp_path / "fix.csv",
        [V2_HEADERS, _row("FixCell 1"), _row("FixCell 2", start="2027-02-31 15:00")],
    )
    page = upload(client, sheet, V2)
    assert '<span class="n">1</span> invalid' in page.text
    assert 'aria-label="Row 3, Start date"' in page.text  # the cell is an input
    upload_id = _id(page)
    answer = _fix(client, upload_id, 3, "Start date", "2027-02-28 15:00", json=True)
    assert answer.status_code == 200 and answer.json()["invalid"] == 0, answer.text
    shown = client.get(f"/uploads/{upload_id}").text
    assert '<span class="n">0</span> invalid' in shown
    assert "corrected, was “2027-02-31 15:00”" in shown
    assert "Import the 2 valid rows" in shown  # the button counts the corrected row
    run = start(client, client.get(f"/uploads/{upload_id}"), "import")
    assert finish(client, run)["counts"] == {"created": 2}
    made = [s for s in web.created("360learning-v2") if "FixCell 2" in str(s)]
    assert len(made) == 1 and "2027-02-28" in str(made[0])
    rows = result_rows(client.get(f"{run}/result").content)
    header, second = rows[0], rows[2]
    assert second[header.index("Start date")] == "2027-02-28 15:00"
    assert "Corrected on the page" in second[header.index("Notes")]
    assert "'2027-02-31 15:00'" in second[header.index("Notes")]
    # A correction to a row already created is refused (an update changes it, not this).
    again = upload(client, sheet, V2, name="fix-again.csv")  # row 3 corrected as before
    assert again.text.count('<tr class="st-already-created"') == 2
    refused = _fix(client, _id(again), 2, "Session name", "Other", json=True)
    assert refused.status_code == 409 and "already created" in refused.json()["said"]


def test_the_uncorrected_sheet_later_is_recognised_and_the_corrected_download_too(
    tmp_path: Path, web: WebServer
) -> None:
    client = web.client()
    sheet = write_csv(
        tmp_path / "later.csv",
        [[*V2_HEADERS, "Our notes"], [*_row("Later 1"), "=1+2"],
         [*_row("Later 2", validation="nope"), "keep me"]],
    )  # fmt: skip
    page = upload(client, sheet, V2)
    upload_id = _id(page)
    assert _fix(client, upload_id, 3, "Registration validation", "disabled").status_code == 303
    run = start(client, client.get(f"/uploads/{upload_id}"), "import")
    assert finish(client, run)["counts"] == {"created": 2}
    # The sheet in the coordinator's layout: their columns, their order, the correction in it.
    download = client.get(f"/uploads/{upload_id}/corrected")
    assert download.status_code == 200
    assert 'filename="later.corrected.csv"' in download.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0] == [*V2_HEADERS, "Our notes"]
    assert rows[2][5] == "disabled" and rows[2][6] == "keep me"
    assert rows[1][6] == "'=1+2"  # a formula is never run
    corrected = tmp_path / "later-from-page.csv"
    corrected.write_bytes(download.content)
    shown = upload(client, corrected, V2)
    assert shown.text.count('<tr class="st-already-created"') == 2
    # The uncorrected sheet: the row is corrected again, said, and found created.
    old = upload(client, sheet, V2, name="later-again.csv")
    assert '<span class="n">0</span> invalid' in old.text
    assert old.text.count('<tr class="st-already-created"') == 2
    assert "corrected on the page by" in old.text
    assert web.count("360learning-v2", "Later 2") == 1


def test_a_value_wrong_in_many_rows_is_replaced_after_a_preview(
    tmp_path: Path, web: WebServer
) -> None:
    client = web.client()
    rows = [_row(f"Column {n}", validation="nope ") for n in range(4)]
    sheet = write_csv(tmp_path / "col.csv", [V2_HEADERS, *rows, _row("Column ok")])
    page = upload(client, sheet, V2)
    assert '<span class="n">4</span> invalid' in page.text
    assert "“nope ” in 4 rows" in page.text
    upload_id = _id(page)
    form = {"csrf": csrf(client), "column": "Registration validation", "old": "nope ",
            "new": "disabled"}  # fmt: skip
    preview = client.post(f"/uploads/{upload_id}/replace", data=form)
    assert preview.status_code == 200 and "<strong>4 rows</strong>" in preview.text
    assert '<span class="n">4</span> invalid' in client.get(f"/uploads/{upload_id}").text
    wrong = client.post(f"/uploads/{upload_id}/replace",
                        data={**form, "csrf": csrf(client), "apply": "1", "count": "3"})  # fmt: skip
    assert wrong.status_code == 200 and "<strong>4 rows</strong>" in wrong.text  # asked again
    done = client.post(
        f"/uploads/{upload_id}/replace",
        data={**form, "csrf": csrf(client), "apply": "1", "count": "4"},
        follow_redirects=True,
    )
    assert '<span class="n">0</span> invalid' in done.text
    assert done.text.count("corrected, was “nope ”") == 4


def test_a_correction_is_escaped_like_any_cell_and_kept_with_the_upload(
    tmp_path: Path, web: WebServer
) -> None:
    client = web.client()
    sheet = write_csv(tmp_path / "esc.csv", [V2_HEADERS, _row("Esc", validation="nope")])
    upload_id = _id(upload(client, sheet, V2))
    script = "<script>alert(1)</script>"
    assert _fix(client, upload_id, 2, "Registration validation", script).status_code == 303
    shown = client.get(f"/uploads/{upload_id}").text
    assert script not in shown and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown
    kept = list((web.data / "uploads").rglob("corrections.jsonl"))
    records = [line for path in kept for line in path.read_text().splitlines() if "Esc" not in line]
    assert any(script in line and '"old": "nope"' in line for line in records)
    marked = client.get(f"/uploads/{upload_id}/checked.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(marked.content))["Result"]
    values = [cell.value for row in book.iter_rows() for cell in row]
    assert script in values


def test_the_problems_view_puts_the_columns_with_problems_first(
    tmp_path: Path, web: WebServer
) -> None:
    client = web.client()
    sheet = write_csv(tmp_path / "wide.csv",
                      [V2_HEADERS, _row("Wide 1"), _row("Wide 2", validation="nope")])  # fmt: skip
    upload_id = _id(upload(client, sheet, V2))
    heads = re.findall(r'<th scope="col"[^>]*>([^<]+)</th>',
                       client.get(f"/uploads/{upload_id}?problems=1").text)  # fmt: skip
    # The row number and the session's name first (both stay in view as the table scrolls),
    # then the columns with problems, then the rest in the sheet's order.
    assert heads[:4] == ["Row", "Session name", "Status", "Registration validation"], heads
    rest = [h for h in V2_HEADERS if h not in ("Registration validation", "Session name")]
    assert heads[4:] == rest
    every = re.findall(r'<th scope="col"[^>]*>([^<]+)</th>',
                       client.get(f"/uploads/{upload_id}").text)  # fmt: skip
    assert every == [
        "Row",
        "Session name",
        "Status",
        *(h for h in V2_HEADERS if h != "Session name"),
    ]
    assert (
        '<th scope="col" class="name-col">Session name</th>'
        in client.get(f"/uploads/{upload_id}").text
    )
