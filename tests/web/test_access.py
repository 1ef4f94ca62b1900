"""Who may touch what on the team page (issue 24): accounts' users and managers, admins,
private runs; every route asked for by a user without the right answers 404 or 403.

The page runs in process behind its proxy mode (the user is the ``X-Forwarded-User`` of a
loopback peer, groups in ``X-Forwarded-Groups``), its accounts importing into a sandbox on
127.0.0.1; the real nginx in front is ``test_proxy.py``'s and the browser's ``test_team``'s.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

from importer.core.errors import ConfigurationError
from importer.jobs.runs import recorded_who
from importer.sandbox import Sandbox, SandboxServer
from importer.vendors import sandbox_parts
from importer.web.access import Access, User
from importer.web.accounts import Account, load_accounts
from importer.web.app import create_app
from importer.web.proxy import ProxyUsers
from importer.web.workspace import Workspace
from tests.web.test_changes import HEADER, JANE, JOHN, PATH

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
ADMIN = "root@corp.example"


# --- the rules, alone ------------------------------------------------------------------------


def _account(name: str = "A", **rules: Any) -> Account:
    return Account(name, "360learning-v2", timezone="UTC", **rules)


def test_users_and_groups_are_matched_without_regard_to_case() -> None:
    ana = User("Ana@Corp.example", frozenset({"Team-A"}))
    assert ana.listed(["ana@corp.EXAMPLE"]) and ana.listed(["group:team-a"])
    assert not ana.listed(["ben@corp.example", "group:team-b", "team-a"])
    assert not User("group:x").listed(["group:x"])  # a user named like an entry is not a group


def test_what_each_may_touch() -> None:
    rules = Access((ADMIN, "group:ops"), named=True)
    team = _account(users=("ana", "group:team-a"), managers=("group:leads",))
    private = _account(users=("ana", "cleo"), private_runs=True)
    everyone = _account()
    ana, ben, lea = User("ana"), User("ben"), User("lea", frozenset({"team-a", "leads"}))
    al = User("al", frozenset({"team-a"}))
    for admin in (User(ADMIN), User("olga", frozenset({"ops"}))):
        assert rules.is_admin(admin) and rules.may_manage(admin, private, "ana")
    assert rules.may_use(ana, team) and rules.may_use(al, team) and not rules.may_use(ben, team)
    assert rules.may_use(ben, everyone)  # no users list: every signed-in user
    assert rules.may_see_upload(ana, team, "ana") and not rules.may_see_upload(al, team, "ana")
    assert rules.may_see_run(al, team, "ana") and not rules.may_see_run(ben, team, "ana")
    assert rules.may_manage(ana, team, "ana") and rules.may_manage(lea, team, "ana")
    assert not rules.may_manage(al, team, "ana")  # sees it, may not undo it
    assert rules.may_see_run(User("cleo"), private, "cleo")
    assert not rules.may_see_run(User("cleo"), private, "ana")  # private: own runs only
    assert not rules.may_see_run(User("cleo"), private, None)  # nobody recorded: not hers
    assert rules.others(ana, ["ana", "ben", None, "ben"]) == ["ben", "(not recorded)"]


def test_without_a_named_sign_in_there_is_one_coordinator() -> None:
    rules = Access()
    team = _account(users=("ana",))
    assert rules.is_admin(User("anyone")) and rules.may_manage(User(""), team, "ana")
    assert rules.others(User("x"), ["ana"]) == []
    with pytest.raises(ConfigurationError, match=r"admins, users of 'A'.*--auth proxy"):
        Access(("ops",)).check([team], "password")
    with pytest.raises(ConfigurationError, match="private_runs of 'A'"):
        Access().check([_account(private_runs=True)], "none")
    Access().check([_account()], "none")  # nothing to hold anyone to: fine
    Access(("ops",), named=True).check([team], "proxy")


def test_the_accounts_file_says_who_and_refuses_typos(tmp_path: Path) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(
        'admins = ["ops@corp", "group:admins"]\n'
        '[[account]]\nname = "A"\nvendor = "coursepath"\n'
        'users = ["ana", "group:team-a"]\nmanagers = ["lea"]\nprivate_runs = true\n'
        '[[account]]\nname = "B"\nvendor = "coursepath"\n'
    )
    found = load_accounts(path)
    a, b = found.accounts
    assert found.admins == ("ops@corp", "group:admins")
    assert (a.users, a.managers, a.private_runs) == (("ana", "group:team-a"), ("lea",), True)
    assert (b.users, b.managers, b.private_runs) == (None, (), False)
    for text, said in (
        ('[[account]]\nname = "A"\nvendor = "coursepath"\nuser = ["ana"]\n', "'user'"),
        ('admin = ["x"]\n[[account]]\nname = "A"\nvendor = "coursepath"\n', "'admin'"),
        ('[[account]]\nname = "A"\nvendor = "coursepath"\nusers = "ana"\n', "must be a list"),
        ('[[account]]\nname = "A"\nvendor = "coursepath"\nusers = ["group:"]\n', "no group"),
        ('[[account]]\nname = "A"\nvendor = "coursepath"\nprivate_runs = 1\n', "true or false"),
    ):
        path.write_text(text)
        with pytest.raises(ConfigurationError, match=said):
            load_accounts(path)


# --- a team on one page ------------------------------------------------------------------------


@dataclass
class Browser:
    """One person's browser: their cookies; the proxy's headers name them."""

    app: Any
    user: str
    groups: str = ""
    cookies: httpx.Cookies = field(default_factory=httpx.Cookies)

    def __call__(self, method: str, path: str, **options: Any) -> httpx.Response:
        async def ask() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 40000))
            headers = {"X-Forwarded-User": self.user}
            if self.groups:
                headers["X-Forwarded-Groups"] = self.groups
            async with httpx.AsyncClient(
                transport=transport, base_url="http://page.test", headers=headers
            ) as client:
                client.cookies = self.cookies
                answer = await client.request(method, path, **options)
                self.cookies = client.cookies
                return answer

        return asyncio.run(ask())

    def csrf(self) -> str:
        found = _CSRF.search(self("GET", "/").text)
        assert found, "no CSRF token on the home page"
        return found.group(1)

    def upload(self, name: str, account: str, rows: list[list[str]]) -> str:
        text = "\n".join(",".join(row) for row in [HEADER, *rows]) + "\n"
        answer = self(
            "POST",
            "/upload",
            data={"csrf": self.csrf(), "account": account},
            files={"sheet": (name, text.encode())},
        )
        assert answer.status_code == 303, answer.text
        return answer.headers["location"].rsplit("/", 1)[1]

    def run(self, upload: str, mode: str = "import", **form: str) -> httpx.Response:
        data = {"csrf": self.csrf(), "mode": mode, **form}
        return self("POST", f"/uploads/{upload}/run", data=data)

    def finished(self, answer: httpx.Response, timeout: float = 60) -> dict[str, Any]:
        assert answer.status_code == 303, answer.text
        run = answer.headers["location"].rsplit("/", 1)[1]
        deadline = time.monotonic() + timeout
        while True:
            state = self("GET", f"/runs/{run}/status").json()
            if state["state"] in ("finished", "failed"):
                return dict(state)
            assert time.monotonic() < deadline, state
            time.sleep(0.05)


def _rows(prefix: str, count: int, changed: int = 0) -> list[list[str]]:
    return [
        [f"{prefix}{n}", PATH, f"{prefix} session {n}", JOHN if n < changed else JANE,
         "2027-05-01 09:00", "disabled"]
        for n in range(count)
    ]  # fmt: skip


@dataclass
class Team:
    """The page of a team: Team A (ana and the group team-a, managed by the group leads),
    Team B (ben's), Team C (ana's and cleo's, private runs); ana's import into A."""

    app: Any
    space: Workspace
    sandbox: Sandbox
    ana_upload: str
    ana_run: str
    ana_number: int
    undo_number: int

    def browser(self, user: str, groups: str = "") -> Browser:
        return Browser(self.app, user, groups)

    def history_number(self, account: str, file: str) -> int:
        for entry in self.space.history():
            if entry["account"].slug == account and entry["summary"].get("file") == file:
                return int(entry["id"])
        raise AssertionError(f"no run of {file} in {account}")


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    sandbox = Sandbox(sandbox_parts())
    with SandboxServer(sandbox.app) as server:
        info = sandbox.describe(server.url)["360learning-v2"]

        def account(name: str, **rules: Any) -> Account:
            return Account(
                name, "360learning-v2", timezone="UTC", base_url=info["base_url"],
                auth_url=info["auth_url"], key="Ref", env=info["env"], sandbox=True, **rules,
            )  # fmt: skip

        accounts = [
            account("Team A", users=("ana", "group:team-a"), managers=("group:leads",)),
            account("Team B", users=("ben",)),
            account("Team C", users=("ana", "cleo"), private_runs=True),
        ]
        data = tmp_path_factory.mktemp("team") / "data"
        space = Workspace(accounts, data, max_rows=100, max_bytes=100_000)
        proxy = ProxyUsers(groups_header="X-Forwarded-Groups")
        app = create_app(space, proxy=proxy, access=Access((ADMIN,), named=True))
        ana = Browser(app, "ana")
        upload = ana.upload("ana-own.csv", "team-a", _rows("AnaOwn", 3))
        answer = ana.run(upload)
        run = answer.headers["location"].rsplit("/", 1)[1]
        assert ana.finished(answer)["counts"] == {"created": 3}
        for name, slug, prefix in (("undo-me.csv", "team-a", "UndoMe"),
                                   ("upd.csv", "team-a", "Upd"),
                                   ("ana-private.csv", "team-c", "AnaPrivate")):  # fmt: skip
            made = ana.upload(name, slug, _rows(prefix, 3))
            assert ana.finished(ana.run(made))["counts"] == {"created": 3}
        ben = Browser(app, "ben")
        assert ben.finished(ben.run(ben.upload("ben.csv", "team-b", _rows("Ben", 2))))
        team = Team(app, space, sandbox, upload, run, 0, 0)
        team.ana_number = team.history_number("team-a", "ana-own.csv")
        team.undo_number = team.history_number("team-a", "undo-me.csv")
        try:
            yield team
        finally:
            space.shutdown()


def test_each_user_sees_their_accounts_and_the_runs_of_them(team: Team) -> None:
    ana, ben = team.browser("ana"), team.browser("ben")
    home = ana("GET", "/").text
    assert 'value="team-a"' in home and 'value="team-c"' in home and 'value="team-b"' not in home
    home, history = ben("GET", "/").text, ben("GET", "/history").text
    assert 'value="team-b"' in home and 'value="team-a"' not in home
    for page in (home, history):
        assert "ana-own" not in page and "Team A" not in page and "AnaPrivate" not in page
    assert "ben.csv" in history
    mine = ana("GET", "/history").text
    assert "ana-own.csv" in mine and "ana-private.csv" in mine and "ben.csv" not in mine
    # One of the group team-a sees the team's runs, not its member's uploads.
    al = team.browser("al", "team-a")
    assert "ana-own.csv" in al("GET", "/history").text
    assert al("GET", f"/runs/{team.ana_run}").status_code == 200
    assert al("GET", f"/uploads/{team.ana_upload}").status_code == 404
    # Uploading for another's account is refused as if it did not exist.
    text = ",".join(HEADER) + "\n" + ",".join(_rows("BenIntoA", 1)[0]) + "\n"
    answer = ben("POST", "/upload", data={"csrf": ben.csrf(), "account": "team-a"},
                 files={"sheet": ("x.csv", text.encode())})  # fmt: skip
    assert answer.status_code == 404 and "BenIntoA" not in str(team.sandbox.state.requests)
    # Someone the accounts file does not list is told so, and offered no upload form.
    nobody = team.browser("zed")("GET", "/").text
    assert "No account of this page is open to you, zed" in nobody and "upload-form" not in nobody


def test_private_runs_are_their_owners_alone(team: Team) -> None:
    cleo = team.browser("cleo")
    assert 'value="team-c"' in cleo("GET", "/").text  # she may use the account
    history = cleo("GET", "/history").text
    assert "ana-private.csv" not in history and "ana-own.csv" not in history
    private = next(r for r in team.space.runs.values() if r.upload.name == "ana-private.csv")
    assert cleo("GET", f"/runs/{private.id}").status_code == 404
    number = team.history_number("team-c", "ana-private.csv")
    assert cleo("GET", f"/history/team-c/{number}/result").status_code == 404
    assert team.browser(ADMIN)("GET", f"/runs/{private.id}").status_code == 200


def test_an_admin_sees_and_manages_everything(team: Team) -> None:
    admin = team.browser(ADMIN)
    history = admin("GET", "/history").text
    for file in ("ana-own.csv", "ana-private.csv", "ben.csv"):
        assert file in history
    for path in _owner_pages(team):
        assert admin("GET", path).status_code == 200, path


def _owner_pages(team: Team) -> list[str]:
    return [
        f"/uploads/{team.ana_upload}",
        f"/uploads/{team.ana_upload}/checked.xlsx",
        f"/runs/{team.ana_run}",
        f"/runs/{team.ana_run}/status",
        f"/runs/{team.ana_run}/events",
        f"/runs/{team.ana_run}/result",
        f"/history/team-a/{team.ana_number}/result",
        f"/history/team-a/{team.ana_number}/undo",
    ]


# Each route of the page and how it is guarded: a route not listed here fails the test below,
# so a new route cannot forget to say who may use it.
OPEN = {  # any signed-in user: they show or take only what the user may use (checked here)
    ("/", "GET"),
    ("/login", "GET"),
    ("/login", "POST"),
    ("/logout", "POST"),
    ("/upload", "POST"),
    ("/history", "GET"),
    ("/templates/{vendor}", "GET"),
}
GUARDED = {  # of an upload, a run or an account: refused to whoever may not touch it
    ("/uploads/{upload}", "GET"),
    ("/uploads/{upload}/checked.xlsx", "GET"),
    ("/uploads/{upload}/run", "POST"),
    ("/uploads/{upload}/dates", "POST"),
    ("/uploads/{upload}/columns", "GET"),
    ("/uploads/{upload}/columns", "POST"),
    ("/uploads/{upload}/cells", "POST"),
    ("/uploads/{upload}/replace", "POST"),
    ("/uploads/{upload}/corrected", "GET"),
    ("/runs/{run}", "GET"),
    ("/runs/{run}/status", "GET"),
    ("/runs/{run}/events", "GET"),
    ("/runs/{run}/stop", "POST"),
    ("/runs/{run}/result", "GET"),
    ("/history/{account}/{number:int}/result", "GET"),
    ("/history/{account}/{number:int}/undo", "GET"),
    ("/history/{account}/{number:int}/undo", "POST"),
}


def _routes() -> list[tuple[str, str]]:
    """Every (path, method) of the page, read from its router."""
    with tempfile.TemporaryDirectory() as folder:
        space = Workspace([_account()], Path(folder), max_rows=1, max_bytes=1)
        app = create_app(space, proxy=ProxyUsers())
    found = []
    for route in app.routes:
        if isinstance(route, Mount):
            assert route.path == "/static", route.path  # the page's own files, nobody's
            continue
        assert isinstance(route, Route)
        found += [(route.path, m) for m in sorted(route.methods or ()) if m != "HEAD"]
    return found


@pytest.mark.parametrize(("path", "method"), _routes())
def test_every_route_refuses_a_user_without_the_right(team: Team, path: str, method: str) -> None:
    """Ben (Team B's) asks for each route with Ana's upload, run and journal run in it, with
    his own valid form token: 404 or 403, never her content; what is open shows him nothing
    of hers. The owner gets each page (a check that could fail)."""
    assert (path, method) in OPEN | GUARDED, f"{method} {path}: say who may use this route"
    filled = (
        path.replace("{upload}", team.ana_upload)
        .replace("{run}", team.ana_run)
        .replace("{account}", "team-a")
        .replace("{number:int}", str(team.ana_number))
        .replace("{vendor}", "360learning-v2")
    )
    ben = team.browser("ben")
    form = {"csrf": ben.csrf(), "mode": "import", "order": "MDY", "confirm": "3", "expect": "3"}
    if filled == "/upload":
        sheet = ",".join(HEADER) + "\n" + ",".join(_rows("BenRoute", 1)[0]) + "\n"
        extra: dict[str, Any] = {"files": {"sheet": ("r.csv", sheet.encode())}}
        form["account"] = "team-a"
    else:
        extra = {}
    before = len(team.sandbox.state.requests)
    answer = ben(method, filled, data=form, **extra) if method == "POST" else ben("GET", filled)
    body = answer.content.decode("utf-8", "replace")
    for secret in ("AnaOwn", "ana-own", team.ana_upload):
        assert secret not in body, (method, filled)
    assert "the form expired" not in body  # refused for who he is, not for a token
    if (path, method) in GUARDED or filled == "/upload":
        assert answer.status_code in (403, 404), (method, filled, answer.status_code)
        assert len(team.sandbox.state.requests) == before  # nothing sent, nothing deleted
    else:
        assert answer.status_code in (200, 303), (method, filled, answer.status_code)
    if method == "GET" and (path, method) in GUARDED:
        owner = team.browser("ana")("GET", filled)
        assert owner.status_code == 200 and "the form expired" not in owner.text, filled


def test_someone_elses_run_is_undone_by_a_manager_typing_the_count(team: Team) -> None:
    al, lea = team.browser("al", "team-a"), team.browser("lea", "team-a, leads")
    path = f"/history/team-a/{team.undo_number}/undo"
    assert al("GET", path).status_code == 403  # sees the run, may not undo it
    assert f'href="{path}"' not in al("GET", "/history").text  # and is offered no button
    shown = lea("GET", path)
    assert shown.status_code == 200 and "started by <strong>ana</strong>" in shown.text
    assert 'name="confirm" type="number"' in shown.text  # typed, not a click
    live = len(team.sandbox.state.objects("360learning-v2", "session"))
    clicked = lea("POST", path, data={"csrf": lea.csrf(), "expect": "3", "confirm": ""})
    assert clicked.status_code == 409 and "type the number of sessions" in clicked.text
    assert len(team.sandbox.state.objects("360learning-v2", "session")) == live
    done = lea("POST", path, data={"csrf": lea.csrf(), "expect": "3", "confirm": "3"})
    assert done.status_code == 200 and "3 deleted" in done.text, done.text
    left = [o.data["name"] for o in team.sandbox.state.objects("360learning-v2", "session")]
    assert not any(name.startswith("UndoMe") for name in left)
    lines = (team.space.data / "audit.log").read_text().splitlines()
    undone = [json.loads(line) for line in lines if '"undo"' in line]
    assert undone[-1]["who"] == "lea" and undone[-1]["owner"] == "ana"
    # The journal keeps the undo as a run of its own, by lea (what `status` shows).
    undos = [e for e in team.space.history() if e["source"] == f"undo of run {team.undo_number}"]
    assert [recorded_who(e) for e in undos] == ["lea"]


def test_updating_rows_of_someone_elses_run_needs_a_manager_and_the_count(team: Team) -> None:
    al, lea = team.browser("al", "team-a"), team.browser("lea", "team-a,leads")
    edited = _rows("Upd", 3, changed=1)
    mine = al.upload("upd.csv", "team-a", edited)
    page = al("GET", f"/uploads/{mine}").text
    assert "1 of the rows to change were created by runs of ana" in page
    refused = al.run(mine, "update", others="1")
    assert refused.status_code == 403 and "only they, a manager" in refused.text
    theirs = lea.upload("upd.csv", "team-a", edited)
    untyped = lea.run(theirs, "update")
    assert untyped.status_code == 409 and "type 1 in" in untyped.text
    patches = [r for r in team.sandbox.state.requests if r["method"] == "PATCH"]
    assert not patches
    state = lea.finished(lea.run(theirs, "update", others="1"))
    assert state["counts"] == {"updated": 1, "skipped": 2}, state
    lines = (team.space.data / "audit.log").read_text().splitlines()
    logged = [json.loads(line) for line in lines]
    assert [(e["who"], e.get("what")) for e in logged if e["event"] == "refused"][-2:] == [
        ("al", "update"),
        ("lea", "update"),
    ]
    assert [e["who"] for e in logged if e["event"] == "update"] == ["lea"]


def test_two_accounts_on_one_journal_show_each_its_own_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two of the page's accounts on the same credentials share one journal (the account's
    at the vendor): a run started from the page shows under its own account only."""
    monkeypatch.setenv("IMPORTER_STATE_DIR", str(tmp_path / "state"))
    sandbox = Sandbox(sandbox_parts())
    with SandboxServer(sandbox.app) as server:
        info = sandbox.describe(server.url)["360learning-v2"]
        pair = [
            Account(name, "360learning-v2", timezone="UTC", base_url=info["base_url"],
                    auth_url=info["auth_url"], env=info["env"])
            for name in ("Team A", "Team B")
        ]  # fmt: skip
        space = Workspace(pair, tmp_path / "data", max_rows=10, max_bytes=100_000)
        try:
            assert space.journal_path(pair[0]) == space.journal_path(pair[1])
            sheet = tmp_path / "a.csv"
            sheet.write_text(",".join(HEADER) + "\n" + ",".join(_rows("Shared", 1)[0]) + "\n")
            run = space.start(space.check(sheet, pair[0], "ana"), "import", "ana")
            assert run.thread is not None
            run.thread.join(60)
            assert run.counts == {"created": 1}, run.messages
            shown = [(e["account"].slug, e["summary"].get("file")) for e in space.history()]
            assert shown == [("team-a", "a.csv")]
        finally:
            space.shutdown()
