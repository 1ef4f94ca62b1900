"""The page's "Import and apply changes" through its workspace: the same update as `run --update`,
with the same guard (an account with a key column, the sandbox on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from importer.sandbox import Sandbox, SandboxServer
from importer.vendors import sandbox_parts
from importer.web.accounts import Account
from importer.web.workspace import WebRun, Workspace
from tests.conftest import write_csv

PATH, JANE, JOHN = (
    "6853f6de567dc5f80528f80d",
    "647098a731a809ed36889ed1",
    "67769f32553f1e9171a186c0",
)
HEADER = ["Ref", "Path ID", "Session name", "Main instructor ID", "Start date",
          "Registration validation"]  # fmt: skip


def rows(changed: int = 0) -> list[list[str]]:
    """Ten rows keyed by Ref; the first ``changed`` have another main instructor."""
    return [
        [f"W{n}", PATH, f"Web {n}", JOHN if n < changed else JANE, "2027-05-01 09:00", "disabled"]
        for n in range(10)
    ]


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[tuple[Workspace, Sandbox]]:
    """A workspace whose one account (with a key column) imports into an in-process sandbox."""
    sandbox = Sandbox(sandbox_parts())
    with SandboxServer(sandbox.app) as server:
        info = sandbox.describe(server.url)["360learning-v2"]
        account = Account(
            "Web sync", "360learning-v2", timezone="UTC", base_url=info["base_url"],
            auth_url=info["auth_url"], key="Ref", env=info["env"], sandbox=True,
        )  # fmt: skip
        yield Workspace([account], tmp_path / "data", max_rows=100, max_bytes=100_000), sandbox


def run(space: Workspace, sheet: Path, mode: str, confirm: int | None = None) -> WebRun:
    upload = space.check(sheet, next(iter(space.accounts.values())), "Ana")
    started = space.start(upload, mode, "Ana", confirm)
    assert started.thread is not None
    started.thread.join(60)
    return started


def test_apply_changes_updates_the_edited_rows_behind_the_guard(
    tmp_path: Path, workspace: tuple[Workspace, Sandbox]
) -> None:
    """Import, then apply changes: 6 of 10 edited stops with the guard's message and sends
    nothing; the count confirmed, the six are updated at the vendor, the others skipped."""
    space, sandbox = workspace
    first = run(space, write_csv(tmp_path / "a.csv", [HEADER, *rows()]), "import")
    assert first.counts == {"created": 10}, first.messages
    edited = write_csv(tmp_path / "a.csv", [HEADER, *rows(changed=6)])
    stopped = run(space, edited, "update")
    assert stopped.exit_code == 4 and "type 6 in Confirm count" in str(stopped.stopped)
    assert "--confirm" not in str(stopped.stopped)  # the page has a field, not a flag
    assert not any(r["method"] == "PATCH" for r in sandbox.state.requests)
    stops = [e["summary"].get("stopped") or "" for e in space.history()]
    assert any("type 6 in Confirm count" in said for said in stops)  # stopped, not unfinished
    done = run(space, edited, "update", confirm=6)
    assert done.counts == {"updated": 6, "skipped": 4}, done.messages
    held = [c.data["mainInstructorId"] for c in sandbox.state.objects("360learning-v2", "session")]
    assert sorted(held) == sorted([JOHN] * 6 + [JANE] * 4)
    plain = run(space, edited, "import")
    assert plain.counts == {"skipped": 10}


def test_the_pages_undo_is_a_run_of_the_journal_with_its_user(
    tmp_path: Path, workspace: tuple[Workspace, Sandbox]
) -> None:
    """The page's undo, given its user, is kept as a run of the account's journal: History
    shows it (who, "undo of run 1", the rows deleted, its sheet) beside the run it undid;
    the imports' runs keep their user too."""
    from importer.web.undo import undo_run

    space, _ = workspace
    first = run(space, write_csv(tmp_path / "a.csv", [HEADER, *rows()]), "import")
    assert first.counts == {"created": 10}, first.messages
    account = next(iter(space.accounts.values()))
    said = undo_run(space, account, 1, confirm=10, dry_run=False, who="Bob")
    assert "10 deleted" in said, said
    newest, undone = list(space.history())
    assert (newest["source"], newest["summary"]["who"]) == ("undo of run 1", "Bob")
    assert newest["summary"]["settings"] == {"undo": "run 1", "who": "Bob"}
    assert newest["summary"]["counts"] == {"deleted": 10} and newest["live"] == 0
    assert newest["summary"]["page_account"] == account.slug
    assert space.result_file(newest["summary"]["result"]) is not None  # downloadable
    assert undone["summary"]["who"] == "Ana" and undone["deleted"] == 10
