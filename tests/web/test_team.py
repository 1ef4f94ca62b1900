"""A team on one server (issue 24's "done when"): two coordinators of two teams and an admin,
each in a headless Chromium of their own, at once, behind a real nginx.

nginx (Debian's) signs them in with ``auth_basic``, standing in for the company's sign-on, and
passes the name on as ``X-Forwarded-User`` to the real ``session-importer serve --auth proxy
--config accounts.toml``. The accounts file gives Team A to ana and Team B to ben (two API
clients of the sandbox this test starts, so two vendor accounts and two journals) and makes
``admin`` an admin. Each browser sends its Basic credentials on every request (the page, its
forms, the run's event stream), set through the DevTools protocol.

Each person uploads a sheet through the page's form, imports it and watches the run finish;
then each sees what they may: their accounts, their runs, the not-found page for another
team's run or upload typed into the address bar; the admin sees and may undo them all. A
screenshot of each person's history is saved in the test's tmp folder.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from importer.sandbox import Sandbox, SandboxServer, SandboxState, load_seed
from importer.vendors import sandbox_parts
from tests.conftest import V2_HEADERS, V2_ROW, write_csv
from tests.web.conftest import free_port, nginx, nginx_binary, start_server

pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.web.browsing import Patient
from tests.web.conftest import chromium

pytestmark = pytest.mark.browser

PEOPLE = {"ana": "ana's password", "ben": "ben's password", "admin": "the admin's password"}
#: The account each imports into: the admin into Team B, whose runs ben sees too (not private).
INTO = {"ana": "Team A", "ben": "Team B", "admin": "Team B"}
ROWS = 3
GUESS = "Guess from the sheet's headers"
NOT_FOUND = {
    "run": "No such run on this server (see History).",
    "upload": "That upload is no longer on the server: upload it again.",
    "undo": "No such run on this server (see History).",
    "result": "no result yet",
}


@dataclass
class Team:
    """The page behind nginx (its URL), and the vendor's sandbox it imports into."""

    url: str
    sandbox: Sandbox


#: Team B's API client, added to the sandbox's company (Team A's is the sandbox's own).
_TEAM_B = {
    "IMPORTER_360L_CLIENT_ID": "sbx-360-team-b",
    "IMPORTER_360L_CLIENT_SECRET": "sbx-360-team-b-secret-5e0a",
}


def _accounts(path: Path, info: dict[str, Any]) -> dict[str, str]:
    """Write the accounts file: Team A (ana's) and Team B (ben's), each its own API client
    of the sandbox's company, and ``admin`` an admin. Returns the server's environment (each
    team's credentials under the variables the file names)."""
    env, tables = {}, []
    for team, credentials in (("A", info["env"]), ("B", _TEAM_B)):
        names = []
        for ours, value in credentials.items():
            theirs = f"TEAM_{team}_{ours.removeprefix('IMPORTER_')}"
            env[theirs] = value
            names.append(f"{ours} = {json.dumps(theirs)}")
        user = "ana" if team == "A" else "ben"
        tables.append(
            f'[[account]]\nname = "Team {team}"\nvendor = "360learning-v2"\ntimezone = "UTC"\n'
            f"base_url = {json.dumps(info['base_url'])}\nauth_url = {json.dumps(info['auth_url'])}\n"
            f'users = ["{user}"]\n\n[account.credentials]\n' + "\n".join(names) + "\n"
        )
    path.write_text('admins = ["admin"]\n\n' + "\n".join(tables), encoding="utf-8")
    return env


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    """``serve --auth proxy`` (no embedded sandbox: the accounts file's two accounts only, its
    state folder under tmp_path) behind nginx, importing into a sandbox served here."""
    nginx_binary()  # skipped (or failed, in CI) before anything starts
    seed = load_seed()
    clients = seed["360learning"]["credentials"]
    clients.append({**clients[0], "client_id": _TEAM_B["IMPORTER_360L_CLIENT_ID"],
                    "client_secret": _TEAM_B["IMPORTER_360L_CLIENT_SECRET"]})  # fmt: skip
    sandbox = Sandbox(sandbox_parts(), SandboxState.fresh(seed))
    with SandboxServer(sandbox.app) as vendor:
        accounts = tmp_path / "accounts.toml"
        env = _accounts(accounts, sandbox.describe(vendor.url)["360learning-v2"])
        port = free_port()
        server = start_server(
            tmp_path / "data",
            *("--auth", "proxy", "--config", str(accounts)),
            *("--allowed-host", f"127.0.0.1:{port}"),
            env=env,
            sandbox=False,
        )
        try:
            (tmp_path / "nginx").mkdir()
            with nginx(tmp_path / "nginx", PEOPLE, server.url, port) as url:
                yield Team(url, sandbox)
        finally:
            server.stop()


@pytest.fixture
def people(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A headless Chromium for each person, signed in at nginx with their Basic credentials
    on every request it makes."""
    drivers: dict[str, Any] = {}
    try:
        for name, password in PEOPLE.items():
            (tmp_path / name).mkdir()
            drivers[name] = driver = chromium(tmp_path / name)
            token = base64.b64encode(f"{name}:{password}".encode()).decode()
            driver.execute_cdp_cmd("Network.enable", {})
            headers = {"headers": {"Authorization": f"Basic {token}"}}
            driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", headers)
        yield drivers
    finally:
        for driver in drivers.values():
            driver.quit()


def _status(driver: Any) -> int:
    """The HTTP status of the page shown (the navigation's, as the browser received it)."""
    return int(
        driver.execute_script("return performance.getEntriesByType('navigation')[0].responseStatus")
    )


def _history(driver: Any) -> list[dict[str, str]]:
    """The history table's rows as shown: each cell's label -> its text, and the undo link."""
    rows: list[dict[str, str]] = driver.execute_script(
        "return [...document.querySelectorAll('main table tbody tr')].map(tr => {"
        " const row = Object.fromEntries([...tr.querySelectorAll('td[data-label]')]"
        "   .map(td => [td.dataset.label, td.innerText.trim()]));"
        " const undo = tr.querySelector('td[data-label=Undo] a');"
        " row.link = undo ? undo.getAttribute('href') : ''; return row; })"
    )
    return rows


def _home(driver: Any) -> dict[str, list[str]]:
    """What the home page offers: the account select's options, the accounts table's
    accounts, and the runs listed (their links' text)."""
    select = Select(driver.find_element(By.ID, "account"))
    table = driver.find_elements(By.CSS_SELECTOR, "td[data-label=Account]")
    runs = driver.find_elements(By.CSS_SELECTOR, "ul.runs li a")
    return {
        "options": [option.text for option in select.options],
        "accounts": [cell.text for cell in table],
        "runs": sorted(link.text for link in runs),
    }


def _unseen(driver: Any, *words: str) -> None:
    """None of ``words`` is anywhere in the page, its text or its markup (links, options)."""
    source = driver.page_source
    for word in words:
        assert not re.search(rf"\b{re.escape(word)}\b", source), (word, driver.current_url)


def test_two_teams_and_an_admin_use_one_server_at_once(
    tmp_path: Path, team: Team, people: dict[str, Any]
) -> None:
    """Three browsers at once through nginx: each uploads and imports a sheet into their
    account and watches it finish; each then sees only what they may, a typed URL of another
    team's run or upload is the not-found page, and the admin sees and may undo every run."""
    waits = {name: Patient(driver, 60) for name, driver in people.items()}
    sheets = {
        name: write_csv(
            tmp_path / f"{name}-sessions.csv",
            [V2_HEADERS, *([V2_ROW[0], f"{name} session {n}", *V2_ROW[2:]] for n in range(ROWS))],
        )
        for name in people
    }

    # 1. Each is signed in as themselves and offered only the accounts they may use.
    for name, driver in people.items():
        driver.get(team.url)
        assert _status(driver) == 200
        assert driver.find_element(By.CSS_SELECTOR, ".who").text == f"Signed in as {name}"
        assert not driver.find_elements(By.ID, "who"), "no name to type: nginx said who"
    offered = {name: _home(driver)["options"] for name, driver in people.items()}
    assert offered == {
        "ana": [GUESS, "Team A (360learning-v2)"],
        "ben": [GUESS, "Team B (360learning-v2)"],
        "admin": [GUESS, "Team A (360learning-v2)", "Team B (360learning-v2)"],
    }

    # 2. Each uploads their sheet through the form (the file input), into their account.
    uploads = {}
    for name, driver in people.items():
        driver.find_element(By.ID, "sheet").send_keys(str(sheets[name]))
        Select(driver.find_element(By.ID, "account")).select_by_visible_text(
            f"{INTO[name]} (360learning-v2)"
        )
        driver.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()
    for name, driver in people.items():
        waits[name].until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.sheet"))
        lead = driver.find_element(By.CSS_SELECTOR, "p.lead").text
        assert lead.startswith(f"For {INTO[name]} ("), lead
        assert not driver.find_elements(By.CSS_SELECTOR, "td.bad")
        uploads[name] = driver.current_url

    # 3. ana and ben import at once (two accounts); each watches their run until it has
    # finished, the page updating itself. Then the admin imports into Team B: one account's
    # journal takes one import at a time, and the page refuses a second meanwhile.
    runs, results = {}, {}

    def imports(*names: str) -> None:
        for name in names:
            people[name].find_element(By.CSS_SELECTOR, "button[value=import]").click()
        for name in names:
            driver = people[name]
            waits[name].until(lambda d: d.find_elements(By.ID, "result"))
            assert "Finished" in driver.find_element(By.ID, "run-state").text
            counts = driver.find_element(By.ID, "counts").text.replace("\n", " ")
            assert counts == f"{ROWS} created", counts
            lead = driver.find_element(By.CSS_SELECTOR, "p.lead").text
            assert lead.startswith(f"Into {INTO[name]}, started by {name} at"), lead
            runs[name] = driver.current_url
            results[name] = driver.find_element(By.ID, "result").get_attribute("href")

    imports("ana", "ben")
    imports("admin")
    created = team.sandbox.state.objects("360learning-v2", "session")
    assert sorted(o.data["name"] for o in created) == sorted(
        f"{name} session {n}" for name in people for n in range(ROWS)
    )

    # 4. Home and history: each sees their accounts and the runs they may, nothing of the
    # other team's (its name, its account's slug, its people, its files); a screenshot each.
    hidden = {
        "ana": ("Team B", "team-b", "ben", "ben-sessions", "admin-sessions"),
        "ben": ("Team A", "team-a", "ana", "ana-sessions"),
        "admin": (),
    }
    seen = {}
    for name, driver in people.items():
        driver.get(team.url)
        seen[name] = _home(driver)
        _unseen(driver, *hidden[name])
        driver.get(f"{team.url}/history")
        seen[name]["history"] = _history(driver)
        _unseen(driver, *hidden[name])
        driver.save_screenshot(str(tmp_path / f"{name}-history.png"))

    ana, ben, admin = seen["ana"], seen["ben"], seen["admin"]
    assert ana["accounts"] == ["Team A"] and ana["runs"] == ["ana-sessions.csv"]
    assert ben["accounts"] == ["Team B"]
    assert ben["runs"] == ["admin-sessions.csv", "ben-sessions.csv"]  # runs of his account
    assert admin["accounts"] == ["Team A", "Team B"]
    assert admin["runs"] == ["admin-sessions.csv", "ana-sessions.csv", "ben-sessions.csv"]

    def row(name: str, of: str) -> dict[str, str]:
        (found,) = (r for r in seen[name]["history"] if r["File"] == f"{of}-sessions.csv")
        return found

    assert [r["File"] for r in ana["history"]] == ["ana-sessions.csv"]
    assert sorted(r["File"] for r in ben["history"]) == ["admin-sessions.csv", "ben-sessions.csv"]
    assert len(admin["history"]) == 3
    offer = f"Delete the {ROWS} it created…"
    for name, of in (("ana", "ana"), ("ben", "ben"), ("admin", "ana"), ("admin", "ben")):
        shown = row(name, of)
        assert (shown["Account"], shown["Who"]) == (INTO[of], of), shown
        assert shown["Rows"] == f"{ROWS} created", shown
        assert shown["Undo"] == offer and shown["link"].endswith("/undo"), shown
    assert row("ben", "admin")["Undo"] == "admin, a manager of the account or an admin may undo it"
    assert not row("ben", "admin")["link"], "ben sees the admin's run in Team B, may not undo it"
    assert row("admin", "admin")["Undo"] == offer

    # 5. Another team's run, upload, undo and result, typed into the address bar: not found.
    undo = {of: team.url + row("admin", of)["link"] for of in ("ana", "ben")}
    for viewer, of, other in (("ben", "ana", "Team A"), ("ana", "ben", "Team B")):
        driver = people[viewer]
        for what, url in (
            ("run", runs[of]),
            ("upload", uploads[of]),
            ("undo", undo[of]),
            ("result", results[of]),
        ):
            driver.get(url)
            assert _status(driver) == 404, (viewer, what, url)
            assert NOT_FOUND[what] in driver.find_element(By.TAG_NAME, "body").text
            _unseen(driver, other, f"{of}-sessions", of)
    # ... while for the admin the same URLs are the run, the sheet and the undo question.
    admin_driver = people["admin"]
    admin_driver.get(runs["ana"])
    assert _status(admin_driver) == 200 and "started by ana" in admin_driver.page_source
    admin_driver.get(uploads["ben"])
    assert admin_driver.find_element(By.TAG_NAME, "h1").text == "ben-sessions.csv"
    admin_driver.get(undo["ben"])
    question = admin_driver.find_element(By.ID, "undo-question").text
    number = undo["ben"].rsplit("/", 2)[-2]
    said = f"Delete the {ROWS} sessions run {number} (ben-sessions.csv) created at Team B"
    assert said in question, question
