"""Who ran each run (issue 24): the command line's runs, updates and undos keep the
operating-system user, or $IMPORTER_USER, in the account's journal, and `status` shows it, for
a SQLite journal and for the PostgreSQL store alike. The real CLI against the sandbox
process."""

from __future__ import annotations

import getpass
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from importer.core.errors import ConfigurationError
from importer.jobs.runs import run_detail
from importer.jobs.who import MAX_LENGTH, command_line_user, plain_who
from tests.conftest import ROOT, CliResult, run_cli
from tests.run.conftest import SandboxProcess
from tests.run.test_changes import VENDOR, calls, row, sheet

#: The keys of each run in `status --json`'s runs_detail.
DETAIL_KEYS = {"id", "started", "finished", "source", "who", "counts", "stopped", "dry_run", "undo"}


def env_of(sandbox: SandboxProcess, user: str | None = None) -> dict[str, str]:
    """The sandbox's environment, with $IMPORTER_USER set to ``user`` when given."""
    env = sandbox.env(VENDOR)
    if user is not None:
        env["IMPORTER_USER"] = user
    return env


def cli(sandbox: SandboxProcess, *args: str, user: str | None = None) -> CliResult:
    """`session-importer ARGS --vendor V` with the sandbox's hosts, as ``user`` if given."""
    info = sandbox.info[VENDOR]
    hosts = ["--base-url", info["base_url"], "--auth-url", info["auth_url"]]
    return run_cli(*args, "--vendor", VENDOR, *hosts, env=env_of(sandbox, user), cwd=ROOT)


def status(journal: Path | str, *extra: str, env: dict[str, str] | None = None) -> CliResult:
    done = run_cli("status", str(journal), "--runs", "0", *extra, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done


def run_lines(text: str) -> dict[int, str]:
    """Run ID -> its line in `status`'s text."""
    return {int(line.split()[1]): line for line in text.splitlines() if line.startswith("run ")}


def test_status_shows_who_ran_each_run_update_and_undo(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """A run as the OS user, an --update as $IMPORTER_USER, a dry-run undo and an undo: each
    is a run of the journal with who ran it, in `status`'s lines and --json's runs_detail;
    the existing keys are unchanged, an undo cannot be undone, `report` still reads the last
    import's sheet."""
    journal = tmp_path / "j.sqlite"
    first = sheet(tmp_path / "s.csv", [row(n) for n in range(3)])
    common = ("--key", "Ref", "--journal", str(journal))
    made = cli(sandbox, "run", str(first), *common, "--json")
    assert made.returncode == 0, made.stderr
    me = getpass.getuser()  # the environment's user, as the command line finds it
    assert json.loads(made.stdout)["who"] == me
    edited = sheet(tmp_path / "s.csv", [row(0, limit="30"), row(1), row(2)])
    update = cli(sandbox, "run", str(edited), *common, "--update", user="nightly:acme")
    assert update.returncode == 0, update.stderr + update.stdout
    dry = cli(sandbox, "undo", "1", "--journal", str(journal), "--dry-run", user="  ops\n")
    assert dry.returncode == 0, dry.stderr
    undone = cli(sandbox, "undo", "1", "--journal", str(journal), "--guard-share", "100", "--json")
    assert undone.returncode == 0, undone.stderr
    assert json.loads(undone.stdout)["who"] == me
    assert sorted(calls(sandbox, "DELETE").values()) == [1, 1, 1]

    lines = run_lines(status(journal).stdout)
    assert f" by {me} (finished): {first.resolve()}: 3 created" in lines[1], lines
    assert " by nightly:acme (finished): " in lines[2] and "1 updated" in lines[2], lines
    assert " by ops (finished): undo of run 1: 3 would be deleted" in lines[3], lines
    assert f" by {me} (finished): undo of run 1: 3 deleted" in lines[4], lines

    shown = json.loads(status(journal, "--json").stdout)
    assert shown["run_ids"] == [1, 2, 3, 4] and shown["runs"] == 4
    assert shown["last_run"]["id"] == 4 and shown["counts"] == {"deleted": 3}
    detail = shown["runs_detail"]
    assert [set(run) for run in detail] == [DETAIL_KEYS] * 4
    assert [(r["id"], r["who"], r["undo"], r["dry_run"]) for r in detail] == [
        (1, me, None, False),
        (2, "nightly:acme", None, False),
        (3, "ops", "run 1", True),
        (4, me, "run 1", False),
    ]
    assert detail[0]["counts"] == {"created": 3} and detail[3]["counts"] == {"deleted": 3}
    assert all(r["finished"] >= r["started"] for r in detail)
    assert detail[0]["source"] == str(first.resolve()) and detail[3]["source"] == "undo of run 1"

    again = cli(sandbox, "undo", "4", "--journal", str(journal))
    assert again.returncode == 2 and "run 4 is the undo of run 1" in again.stderr
    assert sum(calls(sandbox, "DELETE").values()) == 3  # nothing more sent
    assert json.loads(status(journal, "--json").stdout)["run_ids"] == [1, 2, 3, 4]  # no run
    rewritten = run_cli("report", str(journal), "--result", str(tmp_path / "r.xlsx"), cwd=ROOT)
    assert rewritten.returncode == 0, rewritten.stderr  # the last import's sheet, not "undo of"
    assert "3 deleted" in rewritten.stdout


def test_an_undo_stopped_by_the_guard_is_kept_as_stopped_with_its_user(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """An undo over the mass-change guard sends nothing and exits 4; its run is kept as
    finished and stopped (saying why), with who asked: not left looking unfinished."""
    journal = tmp_path / "j.sqlite"
    made = cli(sandbox, "run", str(sheet(tmp_path / "s.csv", [row(n) for n in range(8)])),
               "--journal", str(journal))  # fmt: skip
    assert made.returncode == 0, made.stderr
    stopped = cli(sandbox, "undo", "1", "--journal", str(journal), user="ops")
    assert stopped.returncode == 4, stopped.stderr
    assert calls(sandbox, "DELETE") == Counter()
    (_, undo) = json.loads(status(journal, "--json").stdout)["runs_detail"]
    assert (undo["who"], undo["undo"], undo["counts"]) == ("ops", "run 1", {})
    assert undo["finished"] is not None and "Confirm count" in undo["stopped"]
    line = run_lines(status(journal).stdout)[2]
    assert " by ops (finished): undo of run 1: nothing sent; stopped early: " in line, line


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("ana\x1b[31m", "control or invisible characters"),
        ("ana\nroot", "control or invisible characters"),
        ("ana\u202egnp.exe", "control or invisible characters"),  # a right-to-left override
        ("x" * (MAX_LENGTH + 1), f"at most {MAX_LENGTH}"),
    ],
)
def test_importer_user_that_is_not_a_plain_name_is_refused_before_anything_is_sent(
    tmp_path: Path, sandbox: SandboxProcess, given: str, said: str
) -> None:
    """$IMPORTER_USER with a terminal escape, a line break, a bidirectional override, or over
    200 characters: `run` and `undo` exit 2 saying why, nothing is sent, no run recorded."""
    journal = tmp_path / "j.sqlite"
    made = cli(sandbox, "run", str(sheet(tmp_path / "s.csv", [row(0)])), "--journal", str(journal))
    assert made.returncode == 0, made.stderr
    before = len(sandbox.requests(VENDOR))
    source = sheet(tmp_path / "t.csv", [row(5)])
    for args in (("run", str(source)), ("undo", "1", "--guard-share", "100")):
        refused = cli(sandbox, *args, "--journal", str(journal), user=given)
        assert refused.returncode == 2 and said in refused.stderr, refused.stderr
        assert "IMPORTER_USER" in refused.stderr and "\x1b" not in refused.stderr
    assert len(sandbox.requests(VENDOR)) == before
    assert json.loads(status(journal, "--json").stdout)["run_ids"] == [1]


def test_a_nightly_inbox_run_records_its_job_name(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """`run INBOX` (the nightly job) goes through the same use case: each sheet's run is
    kept with $IMPORTER_USER."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("a", "b"):
        sheet(inbox / f"{name}.csv", [row(10 if name == "a" else 20)])
    journal = tmp_path / "j.sqlite"
    done = cli(sandbox, "run", str(inbox), "--journal", str(journal), "--settle", "0",
               user="nightly:acme")  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    detail = json.loads(status(journal, "--json").stdout)["runs_detail"]
    assert [(r["who"], r["counts"]) for r in detail] == [("nightly:acme", {"created": 1})] * 2


def test_the_command_line_user_is_the_systems_else_its_uid() -> None:
    """$IMPORTER_USER over the system's user; blank, the system's; a system user with a
    control character cleaned (never refused: the run is not the system's to stop); no name
    for the uid (a container's --user 1234): ``uid 1234``."""

    def missing() -> str:
        raise OSError("no name for this uid")

    def no_entry() -> str:
        raise KeyError("getpwuid(): uid not found: 1234")

    assert command_line_user({"IMPORTER_USER": " nightly:acme "}, getuser=lambda: "svc") == (
        "nightly:acme"
    )
    assert command_line_user({"IMPORTER_USER": "  "}, getuser=lambda: "ana") == "ana"
    assert command_line_user({}, getuser=lambda: "an\x1ba\t") == "ana"
    assert command_line_user({}, getuser=missing, uid=lambda: 1234) == "uid 1234"
    assert command_line_user({}, getuser=no_entry, uid=lambda: 1234) == "uid 1234"
    assert command_line_user({}, getuser=lambda: "\x07", uid=lambda: 7) == "uid 7"
    assert command_line_user({}, getuser=missing, uid=None) == "unknown"
    assert command_line_user({"IMPORTER_USER": "é" * MAX_LENGTH}) == "é" * MAX_LENGTH
    with pytest.raises(ConfigurationError, match="control or invisible"):
        command_line_user({"IMPORTER_USER": "ana\udcff"})  # an undecodable byte of the env


def test_names_kept_are_plain_and_bounded() -> None:
    """What any face passes is kept without control, format or line-break characters,
    stripped, at most 200 characters; nothing left is no name."""
    assert plain_who(" Ana\u200b Lopez\r\n") == "Ana Lopez"
    assert plain_who("a\u2028b") == "ab"
    assert plain_who("x" * 500) == "x" * MAX_LENGTH
    assert plain_who("\x1b\x00 ") is None and plain_who(None) is None
    old = {"id": 1, "started": 1.0, "finished": None, "source": "s.csv", "summary": {}}
    assert run_detail(old) == {
        "id": 1, "started": 1.0, "finished": None, "source": "s.csv", "who": None,
        "counts": {}, "stopped": None, "dry_run": False, "undo": None,
    }  # fmt: skip
    page = {**old, "summary": {"settings": {}, "who": "bob\x1b[2J"}}  # the page's end summary
    assert run_detail(page)["who"] == "bob[2J"


def test_status_of_the_postgresql_store_shows_who_as_a_sqlite_journal_does(
    tmp_path: Path, sandbox: SandboxProcess, pg_url: str
) -> None:
    """A run and an undo into a journal of the PostgreSQL store: `status NAME --store URL`
    shows who ran each, its runs_detail shaped as a SQLite journal's; a name the store does
    not hold is refused, not created."""
    source = sheet(tmp_path / "s.csv", [row(n) for n in range(2)])
    store = ("--store", pg_url, "--journal", "who-job")
    made = cli(sandbox, "run", str(source), *store, user="ana")
    assert made.returncode == 0, made.stderr
    undone = cli(sandbox, "undo", "1", *store, "--guard-share", "100", user="bob")
    assert undone.returncode == 0, undone.stderr
    assert Counter(calls(sandbox, "DELETE").values()) == Counter({1: 2})

    text = status("who-job", "--store", pg_url)
    lines = run_lines(text.stdout)
    assert " by ana (finished): " in lines[1] and "2 created" in lines[1], lines
    assert " by bob (finished): undo of run 1: 2 deleted" in lines[2], lines
    shown = json.loads(status("who-job", "--store", pg_url, "--json").stdout)
    pg: list[dict[str, Any]] = shown["runs_detail"]
    assert [(r["id"], r["who"], r["undo"]) for r in pg] == [(1, "ana", None), (2, "bob", "run 1")]

    sqlite = tmp_path / "j.sqlite"
    assert cli(sandbox, "run", str(source), "--journal", str(sqlite), user="ana").returncode == 0
    local: list[dict[str, Any]] = json.loads(status(sqlite, "--json").stdout)["runs_detail"]
    assert [set(r) for r in pg] == [DETAIL_KEYS] * 2 and set(local[0]) == DETAIL_KEYS
    assert {k: type(v) for k, v in pg[0].items()} == {k: type(v) for k, v in local[0].items()}

    missing = run_cli("status", "no-such-job", "--store", pg_url, cwd=ROOT)
    assert missing.returncode == 2 and "no journal named 'no-such-job'" in missing.stderr
    listed = run_cli("store", "status", pg_url, "--json", cwd=ROOT)
    assert [j["name"] for j in json.loads(listed.stdout)["journals"]] == ["who-job"]
    plain = run_cli("status", "j.sqlite", "--store", "sqlite:/tmp", cwd=ROOT)
    assert plain.returncode == 2 and "postgresql://" in plain.stderr
    unnamed = run_cli("status", "--store", pg_url, cwd=ROOT)
    assert unnamed.returncode == 2 and "give the journal's name" in unnamed.stderr
