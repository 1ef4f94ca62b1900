"""The nightly inbox (issue 22): editors' files, sheets still being written, swapped names."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from importer.cli import inbox as cli_inbox
from importer.cli import main as cli
from importer.core.clock import FakeClock
from tests.run.conftest import SandboxProcess
from tests.run.test_trust import cli as run_cli
from tests.run.test_trust import inbox_job, line, v2_sheet

VENDOR = "360learning-v2"


def _in_process(
    job: Path,
    sandbox: SandboxProcess,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *extra: str,
    clock: FakeClock | None = None,
) -> tuple[int, dict[str, Any], str]:
    """`run --config JOB --json` in this process (real files, real HTTP to the sandbox)."""
    for name in [n for n in os.environ if n.startswith("IMPORTER_")]:
        monkeypatch.delenv(name)
    for name, value in sandbox.env(VENDOR).items():
        monkeypatch.setenv(name, value)
    if clock is not None:
        monkeypatch.setattr(cli_inbox, "SystemClock", lambda: clock)
    code = cli.main(["run", "--config", str(job), "--json", *extra])
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1, out + err
    return code, json.loads(out), err


def _names(sandbox: SandboxProcess) -> list[str]:
    return [c["data"]["name"] for c in sandbox.created(VENDOR)]


# --- editors' lock, temporary and hidden files ---------------------------------------------


def test_lock_temporary_and_hidden_files_are_left_alone(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Excel's ~$ lock, LibreOffice's .~lock, backups and hidden files: not read, not filed."""
    inbox, job = inbox_job(tmp_path, sandbox)
    v2_sheet(inbox / "monday.csv", ["Monday"])
    scratch = ["~$monday.xlsx", ".~lock.monday.xlsx#", "monday.csv~", "#monday.csv#",
               ".monday.csv.swp", ".hidden.csv", "~WRL0001.csv"]  # fmt: skip
    for name in scratch:  # an owner file is a few bytes of user name: not a sheet at all
        (inbox / name).write_bytes(b"\x0bjane.doe  \x00\x00")
    done = run_cli("run", "--config", job, "--json", env=sandbox.env(VENDOR))
    assert done.returncode == 0, done.stderr
    said = line(done)
    assert [Path(f["file"]).name for f in said["files"]] == ["monday.csv"]
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == sorted(scratch)
    assert not (inbox / "failed").exists() and _names(sandbox) == ["Monday"]
    assert "left alone" not in done.stderr  # nothing to say about them


# --- sheets still being copied or saved -------------------------------------------------------


def test_a_sheet_changed_in_the_last_minute_waits_for_the_next_run(
    tmp_path: Path,
    sandbox: SandboxProcess,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """30 s after its last change a sheet is listed as waiting (exit 0); 61 s after, imported."""
    inbox, job = inbox_job(tmp_path, sandbox, settle=60)
    v2_sheet(inbox / "monday.csv", ["Monday"])
    written = max(os.stat(inbox / "monday.csv").st_ctime, time.time())
    code, said, _ = _in_process(job, sandbox, monkeypatch, capsys, clock=FakeClock(written + 30))
    assert code == 0 and said["files"] == [] and said["exit_code"] == 0
    [waiting] = said["waiting"]
    assert waiting["file"] == str(inbox / "monday.csv")
    assert "changed 30 s ago, less than the 60 s" in waiting["why"]
    assert (inbox / "monday.csv").exists() and _names(sandbox) == []
    log = (tmp_path / "logs" / "nightly.log").read_text("utf-8")
    assert "monday.csv: left for the next run: it changed 30 s ago" in log
    # --settle beats the job file's value: 20 s of quiet are enough now
    code, said, _ = _in_process(
        job, sandbox, monkeypatch, capsys, "--settle", "20", clock=FakeClock(written + 30)
    )
    assert code == 0 and said["waiting"] == [] and _names(sandbox) == ["Monday"]
    assert (inbox / "done" / "monday.csv").exists()
    v2_sheet(inbox / "tuesday.csv", ["Tuesday"])
    code, said, _ = _in_process(
        job, sandbox, monkeypatch, capsys, clock=FakeClock(time.time() + 61)
    )
    assert (
        code == 0
        and said["waiting"] == []
        and [f["counts"] for f in said["files"]] == [{"created": 1}]
    )


def test_the_default_quiet_period_is_a_minute_through_the_real_cli(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Without --settle, a sheet written a moment ago is left in the inbox, not failed."""
    inbox, job = inbox_job(tmp_path, sandbox, settle=None)
    (inbox / "half.xlsx").write_bytes(b"PK\x03\x04 half copied")  # would go to failed/
    done = run_cli("run", "--config", job, "--json", env=sandbox.env(VENDOR))
    assert done.returncode == 0, done.stderr
    said = line(done)
    assert [Path(w["file"]).name for w in said["waiting"]] == ["half.xlsx"]
    assert "less than the 60 s" in said["waiting"][0]["why"]
    assert (inbox / "half.xlsx").exists() and not (inbox / "failed").exists()
    assert (
        f"{inbox / 'half.xlsx'}: left for the next run"
        in run_cli("run", "--config", job, env=sandbox.env(VENDOR)).stdout
    )


def test_a_sheet_written_while_it_is_read_waits(
    tmp_path: Path,
    sandbox: SandboxProcess,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A sheet that grows between its checks and its copy is left for the next run, unsent."""
    inbox, job = inbox_job(tmp_path, sandbox)
    sheet = v2_sheet(inbox / "monday.csv", ["Monday"])

    def still_writing(path: Path) -> None:
        with path.open("a", encoding="utf-8") as more:
            more.write("6853f6de567dc5f80528f80d,Half")

    monkeypatch.setattr(cli_inbox, "_checked", still_writing)
    code, said, _ = _in_process(job, sandbox, monkeypatch, capsys)
    assert code == 0 and said["files"] == []
    assert said["waiting"] == [
        {"file": str(sheet), "why": "it changed while it was read: still being copied or saved"}
    ]
    assert sheet.exists() and _names(sandbox) == []


# --- a name swapped for a link after its checks ------------------------------------------------


def test_a_name_swapped_for_a_link_after_its_checks_is_not_followed(
    tmp_path: Path,
    sandbox: SandboxProcess,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The sheet read is the file checked: another team's sheet behind a swapped link is not."""
    inbox, job = inbox_job(tmp_path, sandbox)
    monday = v2_sheet(inbox / "monday.csv", ["Monday"])
    tuesday = v2_sheet(inbox / "tuesday.csv", ["Tuesday"])
    theirs = v2_sheet(tmp_path / "other-team.csv", ["Other team's session"])
    token = tmp_path / "token.csv"  # the run's own token cache, say
    token.write_text("rt-8f3a9c-do-not-print\n", encoding="utf-8")
    behind = {monday: theirs, tuesday: token}

    def swap(path: Path) -> None:  # after every check, before the sheet is read
        path.unlink()
        path.symlink_to(behind[path])

    monkeypatch.setattr(cli_inbox, "_checked", swap)
    code, said, err = _in_process(job, sandbox, monkeypatch, capsys)
    assert code == 0, err
    assert sorted(_names(sandbox)) == ["Monday", "Tuesday"], (
        said
    )  # the files checked, not the links'
    assert [f["file"] for f in said["files"]] == [str(monday), str(tuesday)]
    for summary in said["files"]:
        assert summary["counts"] == {"created": 1}
        assert summary["left_in_inbox"] and "changed while it was imported" in summary["why"]
    assert monday.is_symlink() and not (inbox / "done").exists()  # the links are not filed
    # the next night: the links are refused before anything is read
    code, again, err = _in_process(job, sandbox, monkeypatch, capsys)
    assert code == 0 and again["files"] == [] and "monday.csv: left alone" in err
    log = (tmp_path / "logs" / "nightly.log").read_text("utf-8")
    assert "rt-8f3a9c" not in err + json.dumps([said, again]) + log


def test_no_room_for_the_private_copy_stops_the_run_and_leaves_the_sheets(
    tmp_path: Path,
    sandbox: SandboxProcess,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A full disk under the private copy is the run's problem: exit 2, every sheet stays."""
    import errno

    inbox, job = inbox_job(tmp_path, sandbox)
    sheets = [v2_sheet(inbox / f"{day}.csv", [day]) for day in ("monday", "tuesday")]

    def full(descriptor: int, target: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    monkeypatch.setattr(cli_inbox, "copy_private", full)
    code, said, err = _in_process(job, sandbox, monkeypatch, capsys)
    assert code == 2 and said["exit_code"] == 2 and said["files"] == []
    assert said["left_in_inbox"] == [str(s) for s in sheets]
    assert said["stopped"].startswith("no private copy of monday.csv: ")
    assert all(s.exists() for s in sheets) and _names(sandbox) == []
    assert "Traceback" not in err


def test_a_negative_quiet_period_is_refused(
    tmp_path: Path,
    sandbox: SandboxProcess,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--settle -1 and settle = -1 in the job file: one line, exit 2, nothing touched."""
    inbox, job = inbox_job(tmp_path, sandbox)
    sheet = v2_sheet(inbox / "monday.csv", ["Monday"])
    code, said, _ = _in_process(job, sandbox, monkeypatch, capsys, "--settle", "-1")
    assert code == 2 and "--settle must be 0 or more seconds" in said["error"]
    _, job = inbox_job(tmp_path, sandbox, settle=-1)
    code, said, _ = _in_process(job, sandbox, monkeypatch, capsys)
    assert code == 2 and "[job] settle must be 0 or more" in said["error"]
    assert sheet.exists() and _names(sandbox) == []
