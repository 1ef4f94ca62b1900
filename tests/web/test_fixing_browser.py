"""Fixing a sheet on the page (issue 26) in a real headless Chromium, against `serve --sandbox`.

A header the importer cannot match chosen in the mapping step; problem cells corrected where
they are shown with the keyboard only (Tab to the problem, type, Enter; or type and Tab), the
page updated without a new upload; a value wrong in several rows replaced after a preview; the
corrected rows imported; the result and corrected sheets downloaded and read back with openpyxl
and the csv module. Every new view is checked with axe-core (no serious or critical finding)
and, on a 390 px screen, for sideways overflow. Screenshots of each view go to the test's tmp
folder; the README's (docs/web-fixing.png) is written when missing or with UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.conftest import ROOT, V2_HEADERS, V2_ROW, write_csv
from tests.web.conftest import WebServer, start_server

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from tests.web.browsing import Page  # noqa: E402

pytestmark = pytest.mark.browser
V2 = "sandbox-360learning-v2"
FRENCH = "Début (heure de Paris)"
#: The README's screenshot of the sheet with problem cells as inputs (kept small).
DOCS_SHOT = ROOT / "docs" / "web-fixing.png"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """A `serve --sandbox` of this module's own: a column choice is remembered per account for
    sheets with the same headers, so another module's choice must not skip our mapping step."""
    running = start_server(tmp_path_factory.mktemp("fixing-browser"))
    try:
        yield running
    finally:
        running.stop()


def _row(name: str, start: str = "2027-07-01 15:00", validation: str = "disabled") -> list[str]:
    return [V2_ROW[0], name, V2_ROW[2], start, "2027-07-31 15:00", validation]


def _upload(page: Page, server: WebServer, sheet: Path) -> float:
    """Choose ``sheet`` in the file input, the sandbox's v2 account, and upload; the time of
    the click."""
    driver = page.driver
    driver.get(server.url)
    driver.find_element(By.ID, "sheet").send_keys(str(sheet))
    Select(driver.find_element(By.ID, "account")).select_by_value(V2)
    button = driver.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]")
    started = time.monotonic()
    button.click()
    return started


def _choose_start_date(page: Page) -> None:
    """On the mapping step: the French start column chosen by typing in its select, then the
    form sent with Enter on its button."""
    driver = page.driver
    field = driver.find_element(By.ID, "field-startDate")
    assert Select(field).first_selected_option.get_attribute("value") == ""
    field.send_keys("Déb")  # a closed select picks the option its typed letters begin
    assert Select(field).first_selected_option.get_attribute("value") == FRENCH
    page.keys(Keys.TAB)
    # The select's hint (if any) is text: the next stop is a select or the button.
    while page.focused().tag_name == "select":
        page.keys(Keys.TAB)
    assert page.focused().text == "Check the sheet with these columns"
    page.keys(Keys.ENTER)
    page.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.sheet"))


def _docs_shot(page: Page) -> None:
    """The README's screenshot: the sheet page's problems-only view down to the end of the
    table, 940 px wide at 85 %, the first problem input focused. Saved with the others; copied
    to docs/web-fixing.png when that is missing or UPDATE_SCREENSHOTS=1 (so a test run leaves
    the repository as it was)."""
    driver = page.driver
    driver.set_window_size(940, 900)
    driver.get(driver.current_url.split("?")[0] + "?problems=1")
    try:
        driver.execute_script("document.querySelector('input.cell').focus()")
        bottom = driver.execute_script(
            "const r = document.querySelector('.scroll').getBoundingClientRect();"
            " return Math.ceil(r.bottom + window.scrollY + 12)"
        )
        width = driver.execute_script("return document.documentElement.clientWidth")
        clip = {"x": 0, "y": 0, "width": width, "height": bottom, "scale": 0.85}
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": clip},
        )
    finally:
        driver.set_window_size(1280, 900)
        driver.back()
    data = base64.b64decode(shot["data"])
    (page.shots / "web-fixing.png").write_bytes(data)
    assert len(data) < 150_000, f"the README's screenshot is {len(data)} bytes"
    if not DOCS_SHOT.exists() or os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS_SHOT.write_bytes(data)


def _fix_by_enter(page: Page, value: str) -> None:
    """Type ``value`` over the focused problem input (all of it selected), then Enter."""
    page.chord(Keys.CONTROL, "a")
    page.keys(value, Keys.ENTER)


def _wait_fixed(page: Page, row: int, counts: dict[str, int]) -> None:
    """The row no longer invalid and the counts as expected, the page swapped in place."""
    page.until(
        lambda d: (
            d.execute_script(
                "const r = document.getElementById(arguments[0]);"
                " return r !== null && !r.classList.contains('st-invalid')",
                f"row-{row}",
            )
            and page.counts() == counts
        )
    )


def test_an_unmatched_header_is_chosen_on_the_mapping_step(
    tmp_path: Path, server: WebServer, page: Page
) -> None:
    """A sheet whose start date column is "Début (heure de Paris)": the mapping step appears
    (no serious axe finding, fits a phone); the column chosen by keyboard in its select; the
    sheet's rows all valid."""
    headers = [FRENCH if h == "Start date" else h for h in V2_HEADERS]
    sheet = write_csv(
        tmp_path / "francais.csv", [headers, *(_row(f"Mapped {n}") for n in range(3))]
    )
    _upload(page, server, sheet)
    driver = page.driver
    page.until(lambda d: d.current_url.endswith("/columns"))
    assert driver.find_element(By.TAG_NAME, "h1").text == "Which column is which?"
    said = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "[role=alert]")]
    assert len(said) == 1 and "missing required column 'Start date'" in said[0], said
    labels = {e.get_attribute("for"): e.text for e in driver.find_elements(By.TAG_NAME, "label")}
    assert labels["field-startDate"] == "Start date (required)"
    page.shot("01-mapping")
    page.check_axe("mapping")
    page.check_phone("01-mapping")
    _choose_start_date(page)
    assert not driver.current_url.endswith("/columns")
    page.shot("02-mapped")
    assert page.counts() == {"rows": 3, "valid": 3}
    assert not driver.find_elements(By.CSS_SELECTOR, "td.bad, input.cell")
    statuses = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "tbody td.status")]
    assert statuses == ["valid"] * 3
    button = driver.find_element(By.CSS_SELECTOR, "button[value=import]")
    assert button.is_enabled() and button.text == "Import the 3 valid rows"


def test_cells_and_a_column_corrected_by_keyboard_then_imported_as_corrected(
    tmp_path: Path, server: WebServer, page: Page
) -> None:
    """Two bad dates in different rows and one value wrong in two rows: Tab reaches the first
    problem input and then the second with no stop between; the first corrected with Enter,
    the second by typing and Tab, each time without a new page, the counts and Import button
    updated and focus on the next problem; the repeated value replaced after a preview; the
    import creates the corrected rows; the result and corrected sheets read back."""
    driver = page.driver
    rows = [
        _row("Keys 2"),
        _row("Keys 3", start="2027-02-31 15:00"),  # no 31 February
        _row("Keys 4"),
        _row("Keys 5", start="2027-06-31 09:00"),  # no 31 June
        _row("Keys 6"),
        _row("Keys 7", validation="Everyone"),  # not a registration choice, twice
        _row("Keys 8", validation="Everyone"),
    ]
    sheet = write_csv(tmp_path / "keys.csv", [[*V2_HEADERS, "Our notes"],
                                              *([*r, f"note {r[1]}"] for r in rows)])  # fmt: skip
    _upload(page, server, sheet)
    page.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.sheet"))
    sheet_url = driver.current_url
    assert page.counts() == {"rows": 7, "valid": 3, "invalid": 4}
    problems = page.problem_keys()
    assert problems == ["3/Start date", "5/Start date", "7/Registration validation",
                        "8/Registration validation"]  # fmt: skip
    repeated = driver.find_element(By.CSS_SELECTOR, "section[aria-labelledby=repeated-title]")
    assert "“Everyone” in 2 rows" in repeated.text
    page.shot("03-problems")
    page.check_axe("sheet-with-problems")
    page.check_phone("03-problems")
    _docs_shot(page)

    # Keyboard only: from the page's start, Tab to the first problem input, then the second.
    driver.get(sheet_url)
    driver.execute_script("window.notReloaded = true")  # gone if the page is loaded again
    stops = []
    for _ in range(40):
        page.keys(Keys.TAB)
        stops.append(page.focused_key())
        if stops[-1] in problems:
            break
    assert stops[-1] == problems[0], f"Tab never reached the first problem: {stops}"
    page.keys(Keys.TAB)
    assert page.focused_key() == problems[1], "no stop between problem inputs"
    page.chord(Keys.SHIFT, Keys.TAB)
    assert page.focused_key() == problems[0]
    button = driver.find_element(By.CSS_SELECTOR, "button[value=import]")
    assert button.text == "Import the 3 valid rows"

    # The first corrected with Enter: the row valid, the counts and button updated in place.
    took = time.monotonic()
    _fix_by_enter(page, "2027-02-28 15:00")
    _wait_fixed(page, 3, {"rows": 7, "valid": 4, "invalid": 3})
    enter_seconds = time.monotonic() - took
    assert driver.current_url == sheet_url
    assert driver.execute_script("return window.notReloaded === true"), "the page was reloaded"
    assert driver.find_element(By.CSS_SELECTOR, "button[value=import]").text == (
        "Import the 4 valid rows"
    )
    page.until(lambda d: page.focused_key() == problems[1])
    fixed = driver.find_element(By.CSS_SELECTOR, "#row-3 td.fixed")
    assert fixed.text.startswith("2027-02-28 15:00") and "was “2027-02-31 15:00”" in fixed.text

    # The second: typed, then Tab (the change event sends it); focus on the next problem.
    page.chord(Keys.CONTROL, "a")
    page.keys("2027-06-30 09:00", Keys.TAB)
    _wait_fixed(page, 5, {"rows": 7, "valid": 5, "invalid": 2})
    page.until(lambda d: page.focused_key() == problems[2])
    assert driver.execute_script("return window.notReloaded === true")
    assert driver.find_element(By.CSS_SELECTOR, "button[value=import]").text == (
        "Import the 5 valid rows"
    )
    said = driver.find_element(By.ID, "fix-status").get_attribute("textContent")
    assert said == "Row 5 checked again."

    # The repeated value: replaced in both rows after a preview with the count.
    new = driver.find_element(By.ID, "new-1")
    assert new.get_attribute("value") == "Everyone"
    new.send_keys(Keys.CONTROL, "a")
    new.send_keys(Keys.NULL, "disabled", Keys.ENTER)  # Enter sends the form: Preview
    question = page.until(lambda d: d.find_element(By.ID, "replace-question")).text
    assert "Replace “Everyone” with “disabled” in 2 rows of keys.csv (rows 7, 8)" in question
    page.shot("04-replace-preview")
    page.check_axe("replace-preview")
    page.check_phone("04-replace-preview")
    driver.find_element(By.XPATH, "//button[normalize-space()='Replace in 2 rows']").click()
    page.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.sheet"))
    assert driver.current_url == sheet_url
    assert page.counts() == {"rows": 7, "valid": 7}
    assert not driver.find_elements(By.CSS_SELECTOR, "input.cell")
    assert len(driver.find_elements(By.CSS_SELECTOR, "td.fixed")) == 4
    page.shot("05-corrected")
    page.check_axe("sheet-after-corrections")
    page.check_phone("05-corrected")

    # The import sends the corrected rows.
    driver.find_element(By.CSS_SELECTOR, "button[value=import]").click()
    page.until(lambda d: d.find_elements(By.ID, "result"))
    assert "7 created" in driver.find_element(By.ID, "counts").text.replace("\n", " ")
    page.shot("06-imported")
    made = {
        item["data"]["name"]: item["data"]
        for item in server.created("360learning-v2")
        if item.get("kind") == "session" and "Keys " in item["data"].get("name", "")
    }
    assert sorted(made) == [f"Keys {n}" for n in range(2, 9)]
    assert str(made["Keys 3"]["startDate"]).startswith("2027-02-28")
    assert str(made["Keys 5"]["startDate"]).startswith("2027-06-30")
    assert made["Keys 7"]["registrationRequestValidation"] == "disabled"

    # The result sheet: every row, in order, the corrected values and the note.
    downloads = tmp_path / "downloads"
    driver.find_element(By.ID, "result").click()
    result = downloads / "keys.result.xlsx"
    page.until(lambda d: result.exists() and result.stat().st_size > 0)
    table = list(openpyxl.load_workbook(result)["Result"].iter_rows(values_only=True))
    header, body = list(table[0]), table[1:]
    name, start, note = (header.index(h) for h in ("Session name", "Start date", "Notes"))
    assert [r[name] for r in body] == [f"Keys {n}" for n in range(2, 9)]
    assert [r[header.index("Status")] for r in body] == ["created"] * 7
    assert body[1][start] == "2027-02-28 15:00" and body[3][start] == "2027-06-30 09:00"
    assert "Corrected on the page" in body[1][note] and "'2027-02-31 15:00'" in body[1][note]
    assert "'Everyone'" in body[6][note]
    assert not (body[0][note] or "").count("Corrected on the page")

    # The corrected sheet: the coordinator's own layout (their extra column too).
    driver.get(sheet_url)
    driver.find_element(By.PARTIAL_LINK_TEXT, "Download your sheet with the 4 corrections").click()
    corrected = downloads / "keys.corrected.csv"
    page.until(lambda d: corrected.exists() and corrected.stat().st_size > 0)
    with corrected.open(encoding="utf-8-sig", newline="") as handle:
        back = list(csv.reader(handle))
    assert back[0] == [*V2_HEADERS, "Our notes"]
    assert [r[3] for r in back[1:]] == [
        "2027-07-01 15:00", "2027-02-28 15:00", "2027-07-01 15:00", "2027-06-30 09:00",
        "2027-07-01 15:00", "2027-07-01 15:00", "2027-07-01 15:00",
    ]  # fmt: skip
    assert [r[5] for r in back[1:]] == ["disabled"] * 7
    assert back[7][6] == "note Keys 8"
    print(f"\nEnter to the row checked again and the page swapped: {enter_seconds:.2f} s")


def test_the_sample_with_mistakes_and_an_unknown_header_to_sessions_created(
    tmp_path: Path, server: WebServer, page: Page, record_property: Callable[[str, Any], None]
) -> None:
    """sample_data/360learning-v2-mistakes.xlsx with its start date column renamed in French:
    the column chosen, its four mistakes (an email for an ID, a limit of 0, an unknown
    registration value, 31 February) corrected by keyboard, imported with Enter; the sessions
    created as corrected; the corrected sheet read back with openpyxl. The time from the
    upload to the import's end is printed (and kept as the test's property)."""
    driver = page.driver
    book = openpyxl.load_workbook(ROOT / "sample_data" / "360learning-v2-mistakes.xlsx")
    headers = [cell.value for cell in book.active[1]]
    book.active.cell(1, headers.index("Start date") + 1, FRENCH)
    sheet = tmp_path / "mistakes.xlsx"
    book.save(sheet)
    names = ["Wrong instructor", "Zero seats", "Unknown validation", "No such day"]
    fixes = {
        "2/Main instructor ID": "647098a731a809ed36889ed1",
        "3/User limit": "10",
        "4/Registration validation": "disabled",
        f"5/{FRENCH}": "2025-02-28 10:00",
    }

    started = _upload(page, server, sheet)
    page.until(lambda d: d.current_url.endswith("/columns"))
    _choose_start_date(page)
    mapped = time.monotonic()
    assert page.counts() == {"rows": 4, "invalid": 4}
    assert page.problem_keys() == list(fixes)
    assert driver.find_element(By.CSS_SELECTOR, "button[value=import]").get_attribute("disabled")
    page.shot("07-sample-problems")
    # A message under an ID-like value ("Everyone") wraps within its cell.
    overflowing = driver.execute_script(
        "return [...document.querySelectorAll('td.bad .msg')]"
        ".filter(m => m.scrollWidth > m.clientWidth + 1).map(m => m.textContent)"
    )
    assert overflowing == [], overflowing
    # The session name column is in the ink colour, right after the row number.
    colours = driver.execute_script(
        "const lead = document.querySelector('tbody td.name-col');"
        " return [lead.textContent.trim(), getComputedStyle(lead).color,"
        " getComputedStyle(document.body).color]"
    )
    assert colours[0] == names[0] and colours[1] == colours[2], colours

    driver.execute_script("window.notReloaded = true")
    for _ in range(40):
        page.keys(Keys.TAB)
        if page.focused_key() in fixes:
            break
    seconds = []
    for number, (key, value) in enumerate(fixes.items()):
        assert page.focused_key() == key
        took = time.monotonic()
        _fix_by_enter(page, value)
        row = int(key.split("/")[0])
        left = len(fixes) - number - 1
        _wait_fixed(
            page, row, {"rows": 4, "valid": number + 1, **({"invalid": left} if left else {})}
        )
        seconds.append(time.monotonic() - took)
        if left:
            page.until(lambda d, k=list(fixes)[number + 1]: page.focused_key() == k)
    # No problem left: focus is on the Import button, pressed with Enter.
    page.until(lambda d: page.focused_key() == "BUTTON#import")
    assert driver.execute_script("return window.notReloaded === true"), "the page was reloaded"
    assert page.focused().text == "Import the 4 valid rows"
    corrected_at = time.monotonic()
    page.keys(Keys.ENTER)
    page.until(lambda d: d.find_elements(By.ID, "result"))
    done = time.monotonic()
    assert "4 created" in driver.find_element(By.ID, "counts").text.replace("\n", " ")
    figures = {
        "upload to import finished (s)": round(done - started, 2),
        "upload to sheet checked after the column chosen (s)": round(mapped - started, 2),
        "each correction, Enter to the row checked again (s)": [round(s, 2) for s in seconds],
        "import of 4 rows, Enter to the result link (s)": round(done - corrected_at, 2),
    }
    record_property("fixing_figures", figures)
    print(f"\nsample with mistakes, in the browser: {json.dumps(figures)}")

    made = {
        item["data"]["name"]: item["data"]
        for item in server.created("360learning-v2")
        if item.get("kind") == "session" and item["data"].get("name") in names
    }
    assert sorted(made) == sorted(names)
    assert made["Wrong instructor"]["mainInstructorId"] == "647098a731a809ed36889ed1"
    assert made["Zero seats"]["userLimit"] == 10
    assert made["Unknown validation"]["registrationRequestValidation"] == "disabled"
    assert str(made["No such day"]["startDate"]).startswith("2025-02-28")

    # The result sheet and the corrected sheet (xlsx, the owner's headers), read back.
    downloads = tmp_path / "downloads"
    driver.find_element(By.ID, "result").click()
    result = downloads / "mistakes.result.xlsx"
    page.until(lambda d: result.exists() and result.stat().st_size > 0)
    table = list(openpyxl.load_workbook(result)["Result"].iter_rows(values_only=True))
    header, body = list(table[0]), table[1:]
    assert [r[header.index("Session name")] for r in body] == names
    notes = [r[header.index("Notes")] or "" for r in body]
    assert all("Corrected on the page" in note for note in notes), notes
    assert "'jane.doe@example.com'" in notes[0] and "'31/02/2025 10:00'" in notes[3]
    driver.find_element(By.LINK_TEXT, "Back to the sheet").click()
    driver.find_element(By.PARTIAL_LINK_TEXT, "Download your sheet with the 4 corrections").click()
    corrected = downloads / "mistakes.corrected.xlsx"
    page.until(lambda d: corrected.exists() and corrected.stat().st_size > 0)
    back = [list(r) for r in openpyxl.load_workbook(corrected).active.iter_rows(values_only=True)]
    assert back[0] == [*headers[:4], FRENCH, *headers[5:]]
    column = {name: back[0].index(name) for name in back[0]}
    assert back[1][column["Main instructor ID"]] == "647098a731a809ed36889ed1"
    assert str(back[2][column["User limit"]]) == "10"
    assert back[3][column["Registration validation"]] == "disabled"
    assert back[4][column[FRENCH]] == "2025-02-28 10:00"
    assert [r[column["Additional information"]] for r in back[1:]] == [
        "instructor is an email", "limit 0", "validation value", "31 Feb"
    ]  # fmt: skip
