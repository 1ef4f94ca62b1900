"""Files we write are private (0600, folders 0700) and replaced atomically, never truncated."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from importer.cli import main as cli
from importer.core.errors import OutputError, UnreadableFileError
from importer.core.files import (
    NotOwnFileError,
    atomic_write,
    copy_private,
    open_own_file,
    open_private_append,
    open_sheet,
    touch_private,
)
from tests.conftest import ZOHO_HEADERS, ZOHO_ROW, run_cli, write_csv, zoho_row

UNWRITABLE = Path("/sys")  # sysfs refuses new files, even to root


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_write_creates_private_file_in_private_folder(tmp: Path) -> None:
    """A new file is 0600 and a folder we create is 0700, whatever the umask allows."""
    target = tmp / "new" / "deeper" / "r.csv"
    with atomic_write(target) as temporary:
        temporary.write_text("a,b\n")
    assert target.read_text() == "a,b\n"
    assert _mode(target) == 0o600
    assert _mode(tmp / "new") == 0o700 and _mode(tmp / "new" / "deeper") == 0o700
    assert [p.name for p in target.parent.iterdir()] == ["r.csv"]  # no temporary left


def test_failed_write_leaves_previous_file_whole(tmp: Path) -> None:
    """An error mid-write leaves the old file as it was and no temporary file behind."""
    target = tmp / "r.csv"
    target.write_text("previous good result\n")
    with pytest.raises(OutputError, match="No space left"), atomic_write(target) as temporary:
        temporary.write_text("half")
        raise OSError(28, "No space left on device")
    assert target.read_text() == "previous good result\n"
    assert [p.name for p in tmp.iterdir()] == ["r.csv"]


def test_unwritable_folder_is_one_plain_error() -> None:
    """A folder where no file can be created gives OutputError, a sentence, no traceback."""
    target = UNWRITABLE / "importer-test.csv"
    with pytest.raises(OutputError, match=r"cannot write /sys/importer-test\.csv: "):  # noqa: SIM117
        with atomic_write(target) as temporary:
            temporary.write_text("x")


def test_log_and_lock_files_are_private(tmp: Path) -> None:
    """Logs and touched files are created 0600."""
    with open_private_append(tmp / "logs" / "job.log") as log:
        log.write("line\n")
    touch_private(tmp / "j.sqlite.lock")
    assert _mode(tmp / "logs" / "job.log") == 0o600
    assert _mode(tmp / "j.sqlite.lock") == 0o600


def test_cli_result_into_unwritable_folder_exits_2_with_one_line(tmp: Path) -> None:
    """validate --result into a folder that cannot be written: exit 2, one plain line."""
    source = write_csv(tmp / "s.csv", [ZOHO_HEADERS, ZOHO_ROW])
    done = run_cli("validate", source, "--vendor", "zoho-people", "--result", UNWRITABLE / "r.xlsx")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "session-importer: error: cannot write /sys/r.xlsx: Permission denied."
    ]


def _file_size_cap(limit: int) -> None:
    # A "full disk" for this process only: writes past `limit` bytes fail with EFBIG.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_full_disk_keeps_previous_result_and_exits_2(tmp: Path, suffix: str) -> None:
    """When the disk fills mid-write, the last good result stays whole; exit 2, one line."""
    result = tmp / f"r{suffix}"
    result.write_bytes(b"previous good result")
    rows = [ZOHO_HEADERS, *(zoho_row(f"Session {n} " + "x" * 200) for n in range(400))]
    source = write_csv(tmp / "s.csv", rows)
    # Coverage (when the tests are measured) could not save its own data under the 20 KB cap.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMPORTER_", "COVERAGE_"))}
    done = subprocess.run(
        [sys.executable, "-m", "importer", "validate", str(source), "--vendor", "zoho-people",
         "--result", str(result)],
        capture_output=True, text=True, env=env, timeout=120,
        preexec_fn=lambda: _file_size_cap(20_000),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"session-importer: error: cannot write {result}"
    )
    assert result.read_bytes() == b"previous good result"
    assert sorted(p.name for p in tmp.iterdir()) == sorted(["s.csv", result.name])


def test_run_writes_private_journal_log_and_result(tmp: Path) -> None:
    """A sandbox run's journal (and its WAL), log and result sheet are all 0600."""
    source = (
        write_csv(tmp / "in" / "s.csv", [ZOHO_HEADERS, zoho_row("Private")])
        if ((tmp / "in").mkdir() or True)
        else None
    )
    assert source is not None
    out = tmp / "out"
    done = run_cli("run", source, "--vendor", "zoho-people", "--sandbox",
                   "--journal", out / "j.sqlite", "--log", out / "job.log",
                   "--result", out / "r.xlsx")  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = [p for p in out.iterdir() if p.is_file()]
    assert {"j.sqlite", "job.log", "r.xlsx"} <= {p.name for p in written}
    assert {p.name: _mode(p) for p in written} == {p.name: 0o600 for p in written}
    assert _mode(out) == 0o700


# --- sheets in a folder others can write to ------------------------------------------------


def test_open_own_file_takes_a_regular_file_of_its_owner(tmp: Path) -> None:
    """A regular file of the user opens; the copy made from it is 0600 and refuses to overwrite."""
    sheet = write_csv(tmp / "s.csv", [ZOHO_HEADERS, ZOHO_ROW])
    descriptor, info = open_own_file(sheet, os.getuid())
    try:
        assert stat.S_ISREG(info.st_mode) and info.st_ino == sheet.stat().st_ino
        sheet.unlink()  # the name goes: the opened file is still the one read
        copy_private(descriptor, tmp / "copy.csv")
        with pytest.raises(FileExistsError):
            copy_private(descriptor, tmp / "copy.csv")
    finally:
        os.close(descriptor)
    assert (tmp / "copy.csv").read_text(encoding="utf-8").startswith(ZOHO_HEADERS[0])
    assert _mode(tmp / "copy.csv") == 0o600


def test_open_own_file_refuses_links_and_others_files(tmp: Path) -> None:
    """A link (even to the user's own sheet) and, as root, another user's file are refused."""
    sheet = write_csv(tmp / "s.csv", [ZOHO_HEADERS, ZOHO_ROW])
    (tmp / "link.csv").symlink_to(sheet)
    with pytest.raises(NotOwnFileError, match="a symbolic link"):
        open_own_file(tmp / "link.csv", os.getuid())
    with pytest.raises(NotOwnFileError, match="not a regular file owned by user 54321"):
        open_own_file(sheet, 54321)  # the owner asked is checked on the opened file
    with pytest.raises(NotOwnFileError):
        open_own_file(tmp, os.getuid())  # a folder


def test_open_own_file_refuses_a_fifo_without_waiting_for_a_writer(tmp: Path) -> None:
    """A FIFO named like a sheet is refused at once: the open does not block for a writer."""
    import threading

    fifo = tmp / "s.csv"
    os.mkfifo(fifo)
    raised: list[BaseException] = []

    def attempt() -> None:
        try:
            os.close(open_own_file(fifo, os.getuid())[0])
        except BaseException as error:  # handed to the test thread, which asserts on it
            raised.append(error)

    opener = threading.Thread(target=attempt, daemon=True)
    opener.start()
    opener.join(timeout=10)
    if opener.is_alive():  # blocked in open(): release it with a writer, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("opening a FIFO blocked waiting for a writer")
    assert len(raised) == 1 and isinstance(raised[0], NotOwnFileError)


def _cli_in_thread(argv: list[str], fifo: Path) -> int | None:
    """Run the CLI in-process; if it is still running after 30 s (blocked on the pipe), end
    it by opening the pipe's other end and closing it (the reader then sees end of file)."""
    codes: list[int] = []
    worker = threading.Thread(target=lambda: codes.append(cli.main(argv)), daemon=True)
    worker.start()
    worker.join(30)
    if worker.is_alive():
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(30)
        return None
    return codes[0]


@pytest.mark.parametrize("command", ["validate", "run"])
def test_fifo_given_as_sheet_is_refused_at_once(
    tmp: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A named pipe nobody writes: one line, exit 2, no waiting (it hung for ever before)."""
    fifo = tmp / "sessions.csv"
    os.mkfifo(fifo)
    extra = ["--sandbox", "--dry-run"] if command == "run" else ["--result", str(tmp / "r.csv")]
    code = _cli_in_thread([command, str(fifo), "--vendor", "zoho-people", *extra], fifo)
    assert code == 2, "the command waited on the pipe"
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"session-importer: error: {fifo}: is a named pipe (FIFO), not a spreadsheet file."
    ]


def _capped() -> None:
    cap = 2 * 1024**3  # a regression reads /dev/zero until this cap, not the machine's memory
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def test_device_given_as_sheet_is_refused_at_once(tmp: Path) -> None:
    """/dev/zero: one line, exit 2, without reading it (it read 5 GB before)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    done = subprocess.run(
        [sys.executable, "-m", "importer", "validate", "/dev/zero", "--vendor", "zoho-people",
         "--result", str(tmp / "r.csv")],
        capture_output=True, text=True, env=env, timeout=120, preexec_fn=_capped,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        "session-importer: error: /dev/zero: is a device, not a spreadsheet file."
    ]


def test_folder_and_socket_are_refused_by_the_one_door(tmp: Path) -> None:
    """open_sheet names what it was given: a folder, a socket (which cannot even be opened)."""
    with pytest.raises(UnreadableFileError, match="is a folder, not a spreadsheet file"):
        open_sheet(tmp)
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp / "s.csv"))
        with pytest.raises(UnreadableFileError, match=r"s\.csv: is a socket, not a spreadsheet"):
            open_sheet(tmp / "s.csv")
    finally:
        server.close()
    with open_sheet(write_csv(tmp / "ok.csv", [ZOHO_HEADERS, ZOHO_ROW])) as handle:
        assert os.get_blocking(handle.fileno())  # a regular file is read as usual
        assert handle.read(6) == b"Course"
