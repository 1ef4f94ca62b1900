"""The use-case layer both faces call (importer.jobs.import_sheet), driven directly: the
journal's whole life cycle over a real in-process sandbox on 127.0.0.1 and a fake clock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from importer.core.errors import ConfigurationError
from importer.jobs.changes import ConfirmationNeededError, Guard
from importer.jobs.import_sheet import (
    Hooks,
    ImportSpec,
    SheetSpec,
    import_sheet,
    read_sheet,
    refuse_zoneless,
)
from importer.jobs.journals import JournalPlace
from importer.store.base import JobLockedError
from importer.store.journal import Journal
from importer.vendors import plugin
from tests.conftest import ROOT, write_csv
from tests.run.conftest import Rig

V2 = ["Path ID", "Session name", "Main instructor ID", "Start date", "Registration validation"]
PATH, JANE = "6853f6de567dc5f80528f80d", "647098a731a809ed36889ed1"


def _sheet(tmp_path: Path, names: list[str], start: str = "2025-07-01 10:00") -> Path:
    rows = [[PATH, name, JANE, start, "disabled"] for name in names]
    return write_csv(tmp_path / "v2.csv", [V2, *rows])


def _spec(tmp_path: Path, sheet: SheetSpec, **options: object) -> ImportSpec:
    return ImportSpec(
        sheet=sheet,
        result=tmp_path / "v2.result.csv",
        journal=JournalPlace(path=tmp_path / "account.journal.sqlite", shared=False),
        label="v2.csv",
        recorded={"timezone": sheet.timezone or ""},
        shared_budget=False,
        **options,  # type: ignore[arg-type]
    )


def _made(rig: Rig) -> list[str]:
    """The sessions the sandbox created (their IDs)."""
    return [c.id for c in rig.sandbox.state.created if c.vendor == "360learning-v2"]


def _settings(rig: Rig):  # type: ignore[no-untyped-def]
    from importer.jobs.config import resolve_settings

    info = rig.sandbox.describe(rig.server.url)["360learning-v2"]
    flags = {"base_url": info["base_url"], "auth_url": info["auth_url"], "concurrency": 1}
    return resolve_settings(plugin("360learning-v2"), flags=flags, env=info["env"])


def test_an_import_is_recorded_from_lock_to_end_and_a_second_sends_nothing(
    rig: Rig, tmp_path: Path
) -> None:
    """Two imports of one sheet through the use case: the first creates each row once and
    records its run (who, the settings, the result, the counts); the second skips them all."""
    chosen = plugin("360learning-v2")
    sheet = SheetSpec(_sheet(tmp_path, ["A", "B", "C"]), timezone="UTC")
    plans: list[str] = []
    hooks = Hooks(plan=plans.append)
    first = import_sheet(
        read_sheet(sheet, chosen),
        _spec(tmp_path, sheet, who="ana"),
        chosen,
        _settings(rig),
        hooks,
        clock=rig.clock,
    )
    assert first.run.counts() == {"created": 3} and first.run_id == 1
    assert first.result.read_text(encoding="utf-8-sig").count("created") >= 3
    assert plans == ["v2.csv: 3 rows, 3 valid, 0 invalid; sending 3."]
    again = import_sheet(
        read_sheet(sheet, chosen),
        _spec(tmp_path, sheet),
        chosen,
        _settings(rig),
        hooks,
        clock=rig.clock,
    )
    assert again.run.counts() == {"skipped": 3}
    assert "3 already created (not sent again); sending 0" in plans[-1]
    assert len(_made(rig)) == 3
    journal = Journal(tmp_path / "account.journal.sqlite", "360learning-v2")
    try:
        runs = journal.runs()
    finally:
        journal.close()
    assert [r["source"] for r in runs] == ["v2.csv", "v2.csv"]
    recorded = runs[0]["summary"]
    assert recorded["settings"]["who"] == "ana" and recorded["settings"]["timezone"] == "UTC"
    assert recorded["counts"] == {"created": 3} and recorded["result"] == str(first.result)
    assert runs[1]["finished"] is not None and "who" not in runs[1]["summary"]["settings"]


def test_a_journal_held_whole_is_refused_before_anything_is_sent(rig: Rig, tmp_path: Path) -> None:
    """A process holding the account's journal whole (a store copy, an earlier version's run)
    makes an import refuse before anything is sent; another import does not (issue 25)."""
    chosen = plugin("360learning-v2")
    sheet = SheetSpec(_sheet(tmp_path, ["A"]), timezone="UTC")
    spec = _spec(tmp_path, sheet)
    holder = Journal(spec.journal.path, "360learning-v2")  # type: ignore[arg-type]
    holder.lock_job()
    try:
        with pytest.raises(JobLockedError, match="holds this journal whole"):
            import_sheet(read_sheet(sheet, chosen), spec, chosen, _settings(rig), clock=rig.clock)
    finally:
        holder.close()
    assert _made(rig) == []
    importing = Journal(spec.journal.path, "360learning-v2")  # type: ignore[arg-type]
    importing.lock_job(shared=True)  # as an import holds it
    importing.hold("run 1", None, importing.start_run("other.csv"))
    try:
        done = import_sheet(
            read_sheet(sheet, chosen), spec, chosen, _settings(rig), clock=rig.clock
        )
    finally:
        importing.close()
    assert done.run.counts() == {"created": 1} and len(_made(rig)) == 1


def test_an_update_over_the_guard_ends_its_run_in_the_journal(rig: Rig, tmp_path: Path) -> None:
    """The mass-change guard stops an update before anything is sent, and the run it started
    is recorded as stopped (not left open), saying why."""
    chosen = plugin("360learning-v2")
    names = [f"S{i}" for i in range(4)]
    sheet = SheetSpec(_sheet(tmp_path, names), timezone="UTC", key="Session name")
    import_sheet(
        read_sheet(sheet, chosen), _spec(tmp_path, sheet), chosen, _settings(rig), clock=rig.clock
    )
    edited = SheetSpec(
        _sheet(tmp_path, names, "2025-07-02 10:00"), timezone="UTC", key="Session name"
    )
    spec = _spec(tmp_path, edited, update=True, guard=Guard(share=10, rows=1))
    with pytest.raises(ConfirmationNeededError):
        import_sheet(read_sheet(edited, chosen), spec, chosen, _settings(rig), clock=rig.clock)
    journal = Journal(spec.journal.path, "360learning-v2")  # type: ignore[arg-type]
    try:
        last = journal.runs()[-1]
    finally:
        journal.close()
    assert last["finished"] is not None and last["summary"]["counts"] == {}
    assert "confirm" in last["summary"]["stopped"].lower()


def test_times_without_a_zone_are_refused_when_no_zone_is_given(tmp_path: Path) -> None:
    chosen = plugin("360learning-v2")
    sheet = SheetSpec(_sheet(tmp_path, ["A", "B"]))
    with pytest.raises(ConfigurationError, match="2 rows have times without a time zone"):
        refuse_zoneless(read_sheet(sheet, chosen), sheet, "give one")
    zoned = SheetSpec(sheet.path, timezone="Europe/Paris")
    refuse_zoneless(read_sheet(zoned, chosen), zoned, "give one")  # no error


def test_the_page_loads_nothing_of_the_command_line() -> None:
    """At run time too: the page's modules, imported, bring in no module of importer.cli."""
    code = (
        "import sys, importer.web.app, importer.web.workspace, importer.web.undo;"
        "print(sorted(m for m in sys.modules if m.startswith('importer.cli')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert done.stdout.strip() == "[]"
