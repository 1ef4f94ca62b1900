"""The coordinator's journey in a real headless Chromium (Debian's chromium + chromedriver).

Upload a sheet with mistakes, see the marked cells and messages, upload the fixed sheet,
import it into the sandbox, watch the bar reach the end, download the result and check its
rows, reopen the run's page. A screenshot of each step is saved under the test's tmp folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from tests.conftest import ROOT, V2_HEADERS, V2_ROW, write_xlsx
from tests.web.conftest import WebServer, start_server

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.expected_conditions import staleness_of  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from tests.web.browsing import Patient, fits, phone  # noqa: E402

pytestmark = pytest.mark.browser


def sessions(count: int, broken: bool) -> list[list[object]]:
    """A v2 sheet: ``count`` rows; with ``broken``, three typical mistakes and a <script> name."""
    rows: list[list[object]] = [
        [V2_ROW[0], f"Browser session {n}", *V2_ROW[2:]] for n in range(count)
    ]
    if broken:
        rows[1][3] = "31/02/2025 10:00"  # no such day
        rows[4][2] = "jane.doe@example"  # not an ID
        rows[7][5] = "Everyone"  # not a registration choice
        rows[9][1] = "<script>document.title='owned'</script>"
    return [V2_HEADERS, *rows]


def test_upload_fix_import_watch_download_reopen(
    tmp_path: Path, browser: Any, request: pytest.FixtureRequest
) -> None:
    """The whole journey, in a browser, against the embedded sandbox."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    server: WebServer = start_server(tmp_path / "data")
    request.addfinalizer(server.stop)
    wait = Patient(browser)

    def shot(name: str) -> None:
        browser.save_screenshot(str(shots / f"{name}.png"))

    def until(check: Callable[[Any], Any]) -> Any:
        return wait.until(check)

    mistakes = write_xlsx(tmp_path / "sessions.xlsx", sessions(12, broken=True))
    fixed_folder = tmp_path / "fixed"
    fixed_folder.mkdir()
    fixed = write_xlsx(fixed_folder / "sessions.xlsx", sessions(12, broken=False))

    # 1. The home page: every control has a label; upload the sheet with mistakes.
    browser.get(server.url)
    assert (
        browser.execute_script(
            "return [...document.querySelectorAll('input:not([type=hidden]), select')]"
            ".filter(e => !e.labels || !e.labels.length).length"
        )
        == 0
    )
    shot("01-home")
    phone(browser, True)  # the home page on a phone: nothing wider than the screen
    browser.refresh()
    assert fits(browser), browser.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    shot("01-home-phone")
    phone(browser, False)
    browser.refresh()
    focused = []
    for _ in range(8):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        active = browser.switch_to.active_element
        focused.append(active.get_attribute("id") or active.text)
    assert focused[0] == "Skip to content", focused
    order = [focused.index(name) for name in ("sheet", "account", "who")]
    assert order == sorted(order), f"the form is reachable by keyboard, in order: {focused}"
    browser.find_element(By.ID, "sheet").send_keys(str(mistakes))
    assert Select(browser.find_element(By.ID, "account")).first_selected_option.text.startswith(
        "Guess"
    )
    browser.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()

    # 2. The marked cells and their messages.
    until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.sheet"))
    shot("02-mistakes")
    bad = browser.find_elements(By.CSS_SELECTOR, "td.bad")
    assert len(bad) == 3
    texts = " | ".join(cell.text for cell in bad)
    assert "31/02/2025 10:00" in texts and "Everyone" in texts
    assert all(cell.find_element(By.CSS_SELECTOR, ".msg").text for cell in bad)
    assert browser.title != "owned"
    assert (
        "<script>document.title='owned'</script>" in browser.find_element(By.TAG_NAME, "table").text
    )
    counts = browser.find_element(By.CSS_SELECTOR, ".counts").text
    assert "9 valid" in counts.replace("\n", " ") and "3 invalid" in counts.replace("\n", " ")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Problems only").click()
    until(lambda d: "problems=1" in d.current_url)
    assert len(browser.find_elements(By.CSS_SELECTOR, "tbody tr")) == 3
    shot("03-problems-only")
    phone(browser, True)
    browser.refresh()
    assert fits(browser)
    shot("04-problems-phone")
    phone(browser, False)

    # 3. Upload the fixed sheet (same name, fixed in Excel) and import it.
    browser.get(server.url)
    browser.find_element(By.ID, "sheet").send_keys(str(fixed))
    Select(browser.find_element(By.ID, "account")).select_by_value("sandbox-360learning-v2")
    browser.find_element(By.ID, "who").send_keys("Ana")
    browser.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()
    until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.sheet"))
    assert not browser.find_elements(By.CSS_SELECTOR, "td.bad")
    shot("05-fixed")
    browser.find_element(By.CSS_SELECTOR, "button[value=import]").click()

    # 4. Watch the bar: it moves while rows are sent (5 a second) and reaches the end.
    until(lambda d: d.find_elements(By.ID, "bar"))
    run_url = browser.current_url
    seen: list[tuple[int, int]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        bars = browser.find_elements(By.ID, "bar")
        if bars:
            try:
                value, top = (int(float(bars[0].get_attribute(a) or 0)) for a in ("value", "max"))
                seen.append((value, top))
            except Exception:  # the page reloaded under us: read again
                continue
        if browser.find_elements(By.ID, "result"):
            break
        if seen and 0 < seen[-1][0] < 12 and not (shots / "06-running.png").exists():
            shot("06-running")
        time.sleep(0.05)
    shot("07-done")
    assert seen and seen[-1] == (12, 12), seen[-5:]
    assert any(0 < value < 12 for value, _ in seen), "the bar moved through the run"
    assert "Finished" in browser.find_element(By.ID, "run-state").text
    assert "12 created" in browser.find_element(By.ID, "counts").text.replace("\n", " ")

    # 5. Download the result and check its rows.
    browser.find_element(By.ID, "result").click()
    target = tmp_path / "downloads" / "sessions.result.xlsx"
    until(lambda d: target.exists() and target.stat().st_size > 0)
    rows = list(openpyxl.load_workbook(target)["Result"].iter_rows(min_row=2, values_only=True))
    assert [r[1] for r in rows] == ["created"] * 12
    assert all(r[2] for r in rows), "every row has its created ID"
    assert server.count("360learning-v2", "Browser session") == 12

    # 6. Close the page, reopen the run from a new tab.
    browser.switch_to.new_window("tab")
    first = browser.window_handles[0]
    browser.switch_to.window(first)
    browser.close()
    browser.switch_to.window(browser.window_handles[0])
    browser.get(run_url)
    assert "Finished" in browser.find_element(By.ID, "run-state").text
    assert browser.find_element(By.ID, "result").is_displayed()
    shot("08-reopened")
    phone(browser, True)
    browser.refresh()
    assert fits(browser)
    shot("09-reopened-phone")
    browser.get(server.url + "/history")
    assert "Ana" in browser.find_element(By.TAG_NAME, "table").text
    shot("10-history-phone")


@pytest.fixture
def keyed_server(tmp_path: Path) -> Iterator[tuple[WebServer, dict[str, Any]]]:
    """`serve` with an account keyed by Ref, importing into a sandbox process of its own."""
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "importer", "sandbox", "--port", "0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert sandbox.stdout is not None
        info = json.loads(sandbox.stdout.readline())["360learning-v2"]
        names = "\n".join(f'{name} = "{name}"' for name in info["env"])
        accounts = tmp_path / "accounts.toml"
        accounts.write_text(
            f'[[account]]\nname = "Browser sync"\nvendor = "360learning-v2"\n'
            f'timezone = "Europe/Paris"\nbase_url = "{info["base_url"]}"\n'
            f'auth_url = "{info["auth_url"]}"\nkey = "Ref"\n\n[account.credentials]\n{names}\n',
            encoding="utf-8",
        )
        server = start_server(tmp_path / "data", "--config", str(accounts), env=dict(info["env"]))
        try:
            yield server, info
        finally:
            server.stop()
    finally:
        sandbox.terminate()
        sandbox.wait(10)
        if sandbox.stdout is not None:
            sandbox.stdout.close()


def test_apply_changes_then_delete_what_a_run_created(
    tmp_path: Path, browser: Any, keyed_server: tuple[WebServer, dict[str, Any]]
) -> None:
    """In a browser: import 10 keyed rows; edit one in the sheet and "Import and apply changes":
    it is updated at the vendor, the others skipped; then the history page offers a delete for
    the first run only, its confirm step asks for the count 10 typed (a wrong one is refused),
    deletes all ten and the row reads undone."""
    server, info = keyed_server
    wait = Patient(browser)
    control = httpx.Client(base_url=info["base_url"].rsplit("/", 1)[0], timeout=10)
    header = ["Ref", "Path ID", "Session name", "Main instructor ID", "Start date",
              "Registration validation"]  # fmt: skip
    rows = [
        [f"B{n}", V2_ROW[0], f"Browser change {n}", V2_ROW[2], "2027-05-03 09:00", "disabled"]
        for n in range(10)
    ]

    def sessions() -> dict[str, dict[str, Any]]:
        found = control.get("/_sandbox/created", params={"vendor": "360learning-v2"}).json()
        return {c["data"]["name"]: c["data"] for c in found if c.get("kind") == "session"}

    def upload_and(sheet: Path, button: str) -> str:
        browser.get(server.url)
        browser.find_element(By.ID, "sheet").send_keys(str(sheet))
        Select(browser.find_element(By.ID, "account")).select_by_visible_text(
            next(
                o.text
                for o in Select(browser.find_element(By.ID, "account")).options
                if o.text.startswith("Browser sync")
            )
        )
        browser.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.sheet"))
        browser.find_element(By.CSS_SELECTOR, f"button[value={button}]").click()
        wait.until(lambda d: d.find_elements(By.ID, "result"))
        return str(browser.find_element(By.ID, "counts").text.replace("\n", " "))

    try:
        first = tmp_path / "first"
        first.mkdir()
        assert "10 created" in upload_and(
            write_xlsx(first / "team.xlsx", [header, *rows]), "import"
        )
        assert len(sessions()) == 10
        rows[4][3] = "67769f32553f1e9171a186c0"  # another main instructor
        edited = tmp_path / "edited"
        edited.mkdir()
        counts = upload_and(write_xlsx(edited / "team.xlsx", [header, *rows]), "update")
        assert "1 updated" in counts and "9 skipped" in counts, counts
        assert sessions()["Browser change 4"]["mainInstructorId"] == "67769f32553f1e9171a186c0"

        browser.get(server.url + "/history")
        offered = browser.find_elements(By.CSS_SELECTOR, "a[href$='/undo']")
        assert len(offered) == 1, "only the first run created anything to delete"
        assert offered[0].text == "Delete the 10 it created…"
        offered[0].click()
        question = wait.until(lambda d: d.find_element(By.ID, "undo-question")).text
        assert "Delete the 10 sessions run 1 (team.xlsx) created at Browser sync" in question
        form = browser.find_element(By.ID, "undo-form")
        typed = form.find_element(By.NAME, "confirm")  # 10 is over the guard: typed, not a click
        assert typed.get_attribute("required") is not None
        typed.send_keys("7")
        form.find_element(By.CSS_SELECTOR, "button.danger").click()
        wait.until(staleness_of(form))  # the answer's page, not the question still shown
        said = browser.find_element(By.TAG_NAME, "main").text
        assert "The count 7 does not match" in said and "type 10 in Confirm count" in said, said
        assert len(sessions()) == 10  # nothing deleted
        phone(browser, True)
        browser.get(server.url + "/history/browser-sync/1/undo")
        assert fits(browser), "the confirm step fits a phone"
        form = browser.find_element(By.ID, "undo-form")
        form.find_element(By.NAME, "confirm").send_keys("10")
        form.find_element(By.CSS_SELECTOR, "button.danger").click()
        notice = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".notice")).text
        assert "10 deleted" in notice, notice
        assert sessions() == {}
        rows = browser.find_element(By.TAG_NAME, "table").text
        assert "10 created, 10 deleted (undone)" in rows, rows
        assert not browser.find_elements(By.CSS_SELECTOR, "a[href$='/undo']")
    finally:
        control.close()
