"""The page shows the runs in progress on the accounts a user may use (issue 25): the page's
own and other processes' (a nightly backfill) on the account's shared schedule, with who,
rows left, share and "waiting for its turn"; a run's status says what it shares its account
with; another account's users see none of it, and a private_runs account's other people's
runs are counted, not detailed.

The page runs in process behind its proxy mode, its accounts (real ones, not the embedded
sandbox's: those pace alone) importing into a sandbox on 127.0.0.1; the other runs are
callers of the same schedule in this process (alive, as a nightly job's process would be).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from importer.core.clock import SystemClock
from importer.jobs.pacing import schedule_name
from importer.sandbox import Sandbox, SandboxServer
from importer.sending.ports import Share
from importer.store.slots import SharedSlots
from importer.vendors import sandbox_parts
from importer.web.access import Access
from importer.web.accounts import Account
from importer.web.app import create_app
from importer.web.proxy import ProxyUsers
from importer.web.workspace import Workspace
from tests.conftest import until
from tests.web.test_access import ADMIN, Browser, _rows


@pytest.fixture
def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Workspace]]:
    """Team A (ana's), Team B (ben's) and Team C (ana's and cleo's, private runs): three
    accounts of the vendor (their own credentials), this test's state folder."""
    monkeypatch.setenv("IMPORTER_STATE_DIR", str(tmp_path / "state"))
    sandbox = Sandbox(sandbox_parts())
    with SandboxServer(sandbox.app) as server:
        info = sandbox.describe(server.url)["360learning-v2"]

        def account(name: str, client: str | None = None, **rules: Any) -> Account:
            env = dict(info["env"])
            if client is not None:  # another company's account at the same host
                env["IMPORTER_360L_CLIENT_ID"] = client
            return Account(
                name, "360learning-v2", timezone="UTC", base_url=info["base_url"],
                auth_url=info["auth_url"], env=env, **rules,
            )  # fmt: skip

        accounts = [
            account("Team A", users=("ana",)),
            account("Team B", "b", users=("ben",)),
            account("Team C", "c", users=("ana", "cleo"), private_runs=True),
        ]
        space = Workspace(accounts, tmp_path / "data", max_rows=100, max_bytes=100_000)
        proxy = ProxyUsers(groups_header="X-Forwarded-Groups")
        app = create_app(space, proxy=proxy, access=Access((ADMIN,), named=True))
        try:
            yield app, space
        finally:
            space.shutdown()


def _caller(space: Workspace, slug: str, share: Share) -> SharedSlots:
    """Another run on the account's schedule (what a nightly job's process would be)."""
    account = space.accounts[slug]
    name = schedule_name(account.plugin, account.settings())
    slots = SharedSlots(SharedSlots.default_folder(), name, SystemClock())
    slots.join(share)
    return slots


def test_the_page_shows_the_runs_on_the_users_accounts_only(
    page: tuple[Any, Workspace],
) -> None:
    """A backfill waits on Team A (the account paused) ahead of ana's page run, which then
    waits for its turn: its status says so (sharing with 1 other run), its page too; ana's
    home lists both runs of Team A with who and rows left; ben (Team B) sees neither, nor
    the run; on the private Team C, ana sees her own run and only counts cleo's."""
    app, space = page
    ana, ben, cleo = Browser(app, "ana"), Browser(app, "ben"), Browser(app, "cleo")
    backfill = _caller(space, "team-a", Share("run 9: backfill.csv", True, who="nightly:acme",
                                              journal="/srv/j", run_id=9))  # fmt: skip
    backfill.token = "0" * 16  # first among equals: the next slot is its
    backfill.pause_for(3600, "a test's pause")
    assert backfill.take(0.1, None)[0] is None
    backfill.publish(0, 500, 9000.0)
    mine = _caller(space, "team-c", Share("run 2: own.csv", who="ana", run_id=2))
    theirs = _caller(space, "team-c", Share("run 3: hers.csv", who="cleo", run_id=3))
    try:
        for caller in (mine, theirs):
            assert caller.take(0.0, None)[0] is not None
            caller.publish(1, 4, 30.0)
        answer = ana.run(ana.upload("ana.csv", "team-a", _rows("AnaSeen", 5)))
        assert answer.status_code == 303, answer.text
        run = answer.headers["location"].rsplit("/", 1)[1]

        def waiting() -> Any:
            backfill.take(0.1, None)  # alive, and waiting: a poll as its pacer's
            state = ana("GET", f"/runs/{run}/status").json()
            return state if state["sharing"]["waiting"] else None

        state = until("ana's run waits for its turn", waiting)
        assert state["state"] == "running"
        assert state["sharing"] == {"others": 1, "waiting": True, "share": 0.5}
        said = "Waiting for its turn (sharing the account with 1 other run): 50% of its budget."
        assert said in ana("GET", f"/runs/{run}").text
        home = ana("GET", "/").text
        assert "Team A: 2 runs at once" in home and "nightly:acme" in home
        assert "run 9: backfill.csv" in home and "500" in home and "about 2 h 30 min" in home
        assert home.count("waiting for its turn") == 1  # ana's: the backfill's slot is next
        assert "Team C: 2 runs at once" in home and "run 2: own.csv" in home
        assert "run 3: hers.csv" not in home and "cleo" not in home
        assert "1 run of other people on this account: its runs are private." in home
        # Another account's user: none of Team A's runs, nor ana's run.
        other = ben("GET", "/").text
        assert "nightly:acme" not in other and "Team A" not in other and "ana" not in other
        assert "runs at once" not in other
        assert ben("GET", f"/runs/{run}/status").status_code == 404
        hers = cleo("GET", "/").text
        assert "run 3: hers.csv" in hers and "run 2: own.csv" not in hers
        assert "nightly:acme" not in hers  # Team A is not hers
        space.runs[run].stop.set()
        finished = until("the run ends", lambda: space.runs[run].state != "running")
        assert finished
        state = ana("GET", f"/runs/{run}/status").json()
        assert state["sharing"] == {"others": 0, "waiting": False, "share": None}
    finally:
        for caller in (backfill, mine, theirs):
            caller.close()
    until("no run left on the page", lambda: "runs at once" not in ana("GET", "/").text)
