"""The runs in progress on an account (issue 25) in a real headless Chromium: the home page
listing them (who, rows left, share, time left, "waiting for its turn"; a private account's
other people's runs counted, not detailed) and a run's page saying, as it updates itself,
that it waits for its turn. Each view is checked with axe-core (no serious or critical
finding) and on a 390 px screen (no sideways scrolling); the runs table is reached with Tab,
a region named by its heading, its headers column headers.

The real ``session-importer serve --auth proxy --config accounts.toml`` (Team A: ana's;
Team C: ana's and cleo's, private runs), the browser naming its user in ``X-Forwarded-User``
(set through the DevTools protocol, as the sign-on proxy would), importing into a sandbox
served here. The other runs are callers of the accounts' schedules in this test's process,
sharing the server's state folder: what a nightly job's or a colleague's command line's
process would be.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from importer.core.clock import SystemClock
from importer.jobs.pacing import schedule_name
from importer.sandbox import Sandbox, SandboxServer
from importer.sending.ports import Share
from importer.sending.throttle import POLL_EVERY
from importer.store.slots import SharedSlots
from importer.vendors import sandbox_parts
from importer.web.accounts import Account, load_accounts
from tests.conftest import V2_HEADERS, V2_ROW, write_csv
from tests.web.conftest import start_server

pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.web.browsing import Page

pytestmark = pytest.mark.browser

#: The run page's sentence while the page's run waits behind the backfill.
WAITING = "Waiting for its turn (sharing the account with 1 other run)"
#: Team C's API client (Team A's is the sandbox's own): no call is made with it.
_TEAM_C = {"IMPORTER_360L_CLIENT_ID": "team-c", "IMPORTER_360L_CLIENT_SECRET": "team-c-secret"}


@dataclass
class Scene:
    """The page's URL and its accounts, as the server read them (by slug)."""

    url: str
    accounts: dict[str, Account]


def _accounts(path: Path, info: dict[str, Any]) -> dict[str, str]:
    """Write the accounts file; returns the environment holding the credentials it names."""
    env, tables = {}, []
    for team, users, credentials in (
        ("A", ["ana"], info["env"]),
        ("C", ["ana", "cleo"], _TEAM_C),
    ):
        names = []
        for ours, value in credentials.items():
            theirs = f"TEAM_{team}_{ours.removeprefix('IMPORTER_')}"
            env[theirs] = value
            names.append(f"{ours} = {json.dumps(theirs)}")
        tables.append(
            f'[[account]]\nname = "Team {team}"\nvendor = "360learning-v2"\ntimezone = "UTC"\n'
            f"base_url = {json.dumps(info['base_url'])}\nauth_url = {json.dumps(info['auth_url'])}\n"
            f"users = {json.dumps(users)}\nprivate_runs = {json.dumps(team == 'C')}\n\n"
            "[account.credentials]\n" + "\n".join(names) + "\n"
        )
    path.write_text("\n".join(tables), encoding="utf-8")
    return env


@pytest.fixture
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Scene]:
    """``serve --auth proxy`` over Team A and Team C (its state folder shared with this
    process, whose schedules are then the server's), importing into a sandbox served here."""
    sandbox = Sandbox(sandbox_parts())
    with SandboxServer(sandbox.app) as vendor:
        path = tmp_path / "accounts.toml"
        env = _accounts(path, sandbox.describe(vendor.url)["360learning-v2"])
        for name, value in env.items():  # this process's view of the accounts' schedules
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("IMPORTER_STATE_DIR", str(tmp_path / "data" / "state"))
        server = start_server(
            tmp_path / "data", "--auth", "proxy", "--config", str(path), env=env, sandbox=False
        )
        try:
            accounts = {a.slug: a for a in load_accounts(path).accounts}
            yield Scene(server.url, accounts)
        finally:
            server.stop()


class OtherRun:
    """Another process's run on an account's schedule. Once :meth:`start` ed, a thread asks
    for a slot every half :data:`~importer.sending.throttle.POLL_EVERY`, as a waiting run's
    pacer does: it stays alive and in the turns (one silent for a few polls is not waited
    for) until :meth:`close`."""

    def __init__(self, account: Account, share: Share) -> None:
        name = schedule_name(account.plugin, account.settings())
        self.slots = SharedSlots(SharedSlots.default_folder(), name, SystemClock())
        self.slots.join(share)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def start(self) -> None:
        self.slots.take(0.1, None)
        self._thread.start()

    def _poll(self) -> None:
        while not self._done.wait(POLL_EVERY / 2):
            self.slots.take(0.1, None)

    def close(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.slots.close()


@pytest.fixture
def others(scene: Scene) -> Iterator[dict[str, OtherRun]]:
    """On Team A, a backfill started by ``nightly:acme`` (500 rows left, 2 h 30 min), the
    account paused (a vendor's lock) so that nothing is sent: once started, it is the next
    slot's (first among equal runs), so a page run on Team A waits for its turn. On the
    private Team C, cleo's run (4 rows left), sending."""
    backfill = OtherRun(
        scene.accounts["team-a"],
        Share("run 9: backfill.csv", True, who="nightly:acme", journal="/srv/j", run_id=9),
    )
    backfill.slots.token = "0" * 16  # first among equals: the next slot is its
    backfill.slots.pause_for(3600, "a test's pause")
    backfill.slots.publish(0, 500, 9000.0)
    hers = OtherRun(scene.accounts["team-c"], Share("run 3: hers.csv", who="cleo", run_id=3))
    try:
        assert hers.slots.take(0.0, None)[0] is not None
        hers.slots.publish(1, 4, 30.0)
        yield {"backfill": backfill, "hers": hers}
    finally:
        backfill.close()
        hers.close()


def _as(page: Page, user: str) -> None:
    """The browser signed in as ``user``: every request it makes (the page's, its forms',
    the run's events) carries ``X-Forwarded-User``, as the sign-on proxy in front sets it."""
    page.driver.execute_cdp_cmd("Network.enable", {})
    headers = {"headers": {"X-Forwarded-User": user}}
    page.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", headers)


def _import(page: Page, scene: Scene, tmp_path: Path, rows: int = 3) -> str:
    """Upload a sheet of ``rows`` sessions to Team A through the home page's form and import
    it; the run page's URL once it shows the run going."""
    sheet = write_csv(
        tmp_path / "ana.csv",
        [V2_HEADERS, *([V2_ROW[0], f"Turns {n}", *V2_ROW[2:]] for n in range(rows))],
    )
    driver = page.driver
    driver.get(scene.url)
    assert driver.find_element(By.CSS_SELECTOR, ".who").text == "Signed in as ana"
    driver.find_element(By.ID, "sheet").send_keys(str(sheet))
    Select(driver.find_element(By.ID, "account")).select_by_value("team-a")
    driver.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()
    button = page.until(lambda d: d.find_element(By.CSS_SELECTOR, "button[value=import]"))
    assert button.text == f"Import the {rows} valid rows"
    button.click()
    page.until(lambda d: "/runs/" in d.current_url and d.find_elements(By.ID, "run"))
    assert driver.find_element(By.ID, "run").get_attribute("data-state") == "running"
    return str(driver.current_url)


def _sharing(page: Page) -> str:
    return str(page.driver.find_element(By.ID, "sharing").text)


def _stop(page: Page, run_url: str) -> None:
    """Stop the run with its page's button; its page then shows it ended."""
    driver = page.driver
    driver.get(run_url)
    driver.find_element(By.CSS_SELECTOR, "#stop-form button").click()
    page.until(
        lambda d: d.find_element(By.ID, "run").get_attribute("data-state") in ("finished", "failed")
    )
    assert _sharing(page) == ""


def test_the_run_page_says_live_that_the_run_waits_for_its_turn(
    tmp_path: Path, scene: Scene, others: dict[str, OtherRun], page: Page
) -> None:
    """ana's run alone on the paused Team A: its page says nothing of sharing. A backfill
    then starts waiting on the account, its turn first: the page, not reloaded, comes to say
    that the run waits for its turn (sharing the account with 1 other run). No serious axe
    finding, fits a phone; stopped with its button, the sentence goes."""
    _as(page, "ana")
    run_url = _import(page, scene, tmp_path)
    driver = page.driver
    assert _sharing(page) == ""  # alone on the account: nothing to say
    assert driver.find_element(By.ID, "run-state").text == "Running"
    driver.execute_script("window.notReloaded = true")  # gone if the page is loaded again
    others["backfill"].start()
    said = page.until(lambda d: (text := _sharing(page)).startswith(WAITING) and text)
    assert said.endswith("% of its budget.") or said == f"{WAITING}.", said
    assert driver.execute_script("return window.notReloaded === true"), "the page was reloaded"
    assert driver.find_element(By.ID, "run-state").text == "Running"
    page.shot("01-run-waiting")
    page.check_axe("run-waiting")
    page.check_phone("01-run-waiting")
    # The phone check loaded the page again: the server's own rendering says it too.
    page.until(lambda d: _sharing(page).startswith(WAITING))
    _stop(page, run_url)
    page.shot("02-run-stopped")


def _in_progress(page: Page, account: str) -> list[dict[str, str]]:
    """The rows of an account's runs-in-progress table, each cell's label -> its text."""
    rows: list[dict[str, str]] = page.driver.execute_script(
        "const h = document.getElementById('active-' + arguments[0]);"
        " const region = document.querySelector(`[aria-labelledby='${h.id}']`);"
        " return [...region.querySelectorAll('tbody tr')].map(tr => Object.fromEntries("
        "   [...tr.querySelectorAll('td[data-label]')]"
        "     .map(td => [td.dataset.label, td.innerText.trim()])))",
        account,
    )
    return rows


def test_the_home_page_lists_the_runs_in_progress_on_the_users_accounts(
    tmp_path: Path, scene: Scene, others: dict[str, OtherRun], page: Page
) -> None:
    """ana's run on Team A waits behind the nightly backfill: her home page lists both (who,
    rows left, share, time left, which one waits for its turn) and counts cleo's run on the
    private Team C without detailing it. No serious axe finding, fits a phone; Tab reaches
    the runs table's region, named by its heading, its headers column headers."""
    _as(page, "ana")
    others["backfill"].start()
    run_url = _import(page, scene, tmp_path, rows=2)
    page.until(lambda d: _sharing(page).startswith(WAITING))
    driver = page.driver
    driver.get(scene.url)
    headings = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "main h3")]
    assert headings == ["Team A: 2 runs at once", "Team C: 1 run at once"], headings
    rows = {row["Started by"]: row for row in _in_progress(page, "team-a")}
    assert sorted(rows) == ["ana", "nightly:acme"], rows
    backfill, mine = rows["nightly:acme"], rows["ana"]
    assert backfill["Run"] == "run 9: backfill.csv" and backfill["Rows left"] == "500"
    assert backfill["Time left"].startswith("about 2 h"), backfill
    assert backfill["Now"] == "sending" and mine["Now"] == "waiting for its turn", rows
    assert all(row["Share of the budget"].endswith("%") for row in rows.values()), rows
    text = driver.find_element(By.TAG_NAME, "main").text
    assert "1 run of other people on this account: its runs are private." in text
    assert "hers.csv" not in driver.page_source and "cleo" not in driver.page_source
    assert not driver.find_elements(By.CSS_SELECTOR, "[aria-labelledby=active-team-c]")
    driver.execute_script("document.getElementById('active-team-a').scrollIntoView()")
    page.shot("03-home-runs")
    page.check_axe("home-runs")
    page.check_phone("03-home-runs")

    # The keyboard: from the page's start, Tab reaches the runs table's region.
    driver.get(scene.url)
    stops: list[str] = []
    for _ in range(40):
        page.keys(Keys.TAB)
        focused = page.focused()
        stops.append(f"{focused.tag_name}:{focused.accessible_name}")
        if focused.get_attribute("aria-labelledby") == "active-team-a":
            break
    else:
        raise AssertionError(f"Tab never reached Team A's runs: {stops}")
    assert focused.aria_role == "region", focused.aria_role
    assert focused.accessible_name == "Team A: 2 runs at once"
    assert "Accounts" in [s.split(":", 1)[1] for s in stops], stops  # the accounts' table first
    headers = focused.find_elements(By.CSS_SELECTOR, "table th")
    assert [h.text for h in headers] == [
        "Run", "Started by", "Rows left", "Share of the budget", "Time left", "Now"
    ]  # fmt: skip
    assert {h.get_attribute("scope") for h in headers} == {"col"}
    assert {h.aria_role for h in headers} == {"columnheader"}
    # Read as a screen reader would: each cell under its column's header.
    cells = focused.find_elements(By.CSS_SELECTOR, "tbody td")
    assert {c.aria_role for c in cells} <= {"cell", "gridcell"}, {c.aria_role for c in cells}
    page.keys(Keys.TAB)
    after = page.focused()
    assert after.get_attribute("aria-labelledby") != "active-team-a"  # one stop, no trap
    _stop(page, run_url)
