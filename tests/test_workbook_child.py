"""Workbooks are read in a memory-capped child process, from the first visible sheet (issue 22).

A reader crash past the guard is one line for that file, never the end of the command, the
inbox or a server's other reads: these tests switch the guard off (in a capped wrapper
process, so that a regression fails the test instead of aborting pytest) and give the reader
the corpus files that aborted it.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from importer.cli import main as cli
from importer.core.errors import UnsafeFileError
from importer.sheet.guard.check import Limits
from importer.sheet.headers import header_scorer
from importer.sheet.reading.capped import _answer
from importer.sheet.reading.child import choose_sheet
from importer.sheet.reading.table import read_table
from importer.vendors import get_vendor
from tests.conftest import ROOT, ZOHO_HEADERS, ZOHO_ROW, write_xlsx, zoho_row

CORPUS = ROOT / "tests" / "corpus"
SCORE = header_scorer(get_vendor("zoho-people"))
#: Runs the given Python code with the guard switched off, under a 3 GB address-space cap.
_UNGUARDED = "import importer.sheet.reading.xlsx as r\nr.check_workbook = lambda *a, **k: 0\n"


def _capped() -> None:
    cap = 3 * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _unguarded(code: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with the guard off (so only the child process stands between)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    return subprocess.run(
        [sys.executable, "-c", _UNGUARDED + code, *map(str, args)],
        capture_output=True, text=True, env=env, timeout=300, preexec_fn=_capped, cwd=ROOT,
    )  # fmt: skip


_CLI = "import sys\nfrom importer.cli.main import main\nraise SystemExit(main(sys.argv[1:]))\n"


@pytest.mark.parametrize(
    "name", ["xlsx-sheet-not-named-xml.xlsx", "xls-dimensions-huge-renamed.csv"]
)
def test_reader_crash_past_the_guard_is_one_line(name: str, tmp: Path) -> None:
    """With no guard, the files that aborted the process (exit 134) give exit 2 and one line."""
    done = _unguarded(_CLI, "validate", CORPUS / name, "--vendor", "zoho-people",
                      "--result", tmp / "r.csv")  # fmt: skip
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stderr.strip().splitlines() == [
        f"session-importer: error: {CORPUS / name}: reading the workbook needed more than the "
        "3,072 MB of memory the reader may use, which only a damaged or deliberately crafted "
        "file does; nothing was read. Open it in Excel and save it again "
        "(IMPORTER_READER_MEMORY_MB raises the limit)."
    ]


def test_inbox_goes_on_after_a_reader_crash(tmp: Path) -> None:
    """The inbox files the crashing workbook in failed/ and imports the next sheet."""
    inbox = tmp / "inbox"
    inbox.mkdir()
    shutil.copy(CORPUS / "xlsx-sheet-not-named-xml.xlsx", inbox / "a-hostile.xlsx")
    write_xlsx(inbox / "b-good.xlsx", [ZOHO_HEADERS, zoho_row("After the crash")])
    done = _unguarded(_CLI, "run", inbox, "--vendor", "zoho-people", "--sandbox", "--json",
                      "--settle", "0")  # fmt: skip
    line = json.loads(done.stdout.strip().splitlines()[-1])
    files = {Path(f["file"]).name: f for f in line["files"]}
    assert "needed more than the 3,072 MB" in files["a-hostile.xlsx"]["error"]
    assert files["b-good.xlsx"]["counts"] == {"created": 1}
    assert (inbox / "failed" / "a-hostile.xlsx").exists()
    assert (inbox / "done" / "b-good.xlsx").exists()


def test_threads_reading_together_survive_a_crash(tmp: Path) -> None:
    """As in the web server: a crashing read in one thread, a good read in another, both end."""
    good = write_xlsx(tmp / "good.xlsx", [ZOHO_HEADERS, ZOHO_ROW])
    code = (
        "import sys\nfrom concurrent.futures import ThreadPoolExecutor\nfrom pathlib import Path\n"
        "from importer.sheet.reading.table import read_table\n"
        "def read(p):\n"
        "    try:\n        return len(read_table(Path(p), lambda c: 0).frame)\n"
        "    except Exception as e:\n        return type(e).__name__\n"
        "with ThreadPoolExecutor(2) as pool:\n    print(list(pool.map(read, sys.argv[1:])))\n"
    )
    done = _unguarded(code, CORPUS / "xls-dimensions-huge.xls", good)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['UnsafeFileError', 1]"


def test_reader_cap_comes_from_the_environment(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """IMPORTER_READER_MEMORY_MB caps the child (default: the read budget plus 1 GB)."""
    assert Limits.from_env({}).reader_memory_bytes == (2048 + 1024) * 2**20
    env = {"IMPORTER_READ_BUDGET_MB": "100", "IMPORTER_READER_MEMORY_MB": "x"}
    assert Limits.from_env(env).reader_memory_bytes == (100 + 1024) * 2**20
    path = write_xlsx(
        tmp / "big.xlsx", [ZOHO_HEADERS] + [zoho_row(f"S {n}") for n in range(20_000)]
    )
    assert len(read_table(path, SCORE).frame) == 20_000
    monkeypatch.setenv("IMPORTER_READER_MEMORY_MB", "40")
    with pytest.raises(UnsafeFileError, match="needed more than the 40 MB of memory"):
        read_table(path, SCORE)


def test_answer_unpickles_plain_values_only() -> None:
    """The parent takes text, numbers and lists from the child, and nothing that runs code."""
    import datetime as dt

    good = {"columns": [["2025-07-01T13:00:00", "x"]], "height": 2, "start": [0, 0]}
    assert _answer(pickle.dumps(good)) == good
    assert _answer(pickle.dumps(io.StringIO)) is None  # a class: refused
    assert _answer(pickle.dumps({"cell": dt.date(2025, 7, 1)})) is None  # text is sent, not objects
    assert _answer(b"\x80\x05garbage") is None


def _book(path: Path, hidden: list[str], visible: list[str]) -> Path:
    """A workbook whose sheets are ``hidden`` (hidden, first) then ``visible``."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name in [*hidden, *visible]:
        sheet = book.create_sheet(name)
        sheet.append(ZOHO_HEADERS)
        sheet.append(zoho_row(f"from {name}"))
        sheet.sheet_state = "hidden" if name in hidden else "visible"
    book.save(path)
    return path


def test_first_visible_sheet_is_read_and_named(
    tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hidden first sheet is passed over (it was imported); the output says what was read."""
    path = _book(tmp / "book.xlsx", ["Old", "Older"], ["Sessions", "Notes"])
    assert (
        cli.main(["validate", str(path), "--vendor", "zoho-people", "--result", str(tmp / "r.csv")])
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0]
        == f"{path}: read sheet 'Sessions' (the first visible sheet; hidden, not read: 'Old', 'Older')."
    )
    assert (tmp / "r.csv").read_text(encoding="utf-8-sig").count("from Sessions") == 1
    assert "from Old" not in (tmp / "r.csv").read_text(encoding="utf-8-sig")


def test_sheet_flag_reads_any_sheet_and_run_says_which(
    tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--sheet names a sheet (hidden or not, any case); run's output and JSON line name it."""
    path = _book(tmp / "book.xlsx", ["Old"], ["Sessions"])
    code = cli.main(["run", str(path), "--vendor", "zoho-people", "--sandbox", "--sheet", "old",
                     "--result", str(tmp / "r.csv")])  # fmt: skip
    assert code == 0
    assert f"{path}: read sheet 'Old'." in capsys.readouterr().out.splitlines()
    cli.main(["run", str(path), "--vendor", "zoho-people", "--sandbox", "--json",
              "--result", str(tmp / "r2.csv")])  # fmt: skip
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["sheet"] == "Sessions"


def test_choose_sheet() -> None:
    """The first visible worksheet (not a chart); a name in any case; all hidden: the first."""
    sheets = [("Old", False, True), ("Chart", True, False), ("Data", True, True)]
    assert choose_sheet(sheets, None) == ("Data", ["Old"])
    assert choose_sheet(sheets, " old ") == ("Old", [])
    assert choose_sheet([("A", False, True), ("B", False, True)], None) == ("A", [])
    with pytest.raises(LookupError):
        choose_sheet(sheets, "Missing")


def test_cells_arrive_as_text_and_midnight_keeps_its_time(tmp: Path) -> None:
    """A date-time at 00:00 in a date-time column keeps its time; dates, IDs, numbers as shown."""
    import datetime as dt

    rows = [
        ["Report of", dt.date(2025, 7, 1), None, None],  # a title row: its date stays a date
        ["Start", "Day", "ID", "Hours"],
        [dt.datetime(2025, 7, 1, 0, 0), dt.date(2025, 7, 1), 478346000019479103, 1.5],
        [dt.datetime(2025, 7, 2, 13, 30), dt.date(2025, 7, 2), 12, 2.0],
    ]
    path = write_xlsx(tmp / "typed.xlsx", rows)
    table = read_table(path, lambda cells: 2 * ("Start" in cells))
    assert table.header_row == 2
    assert table.frame.to_dict("list") == {
        "Start": ["2025-07-01T00:00:00", "2025-07-02T13:30:00"],
        "Day": ["2025-07-01", "2025-07-02"],
        "ID": ["4.78346000019479E+17", "12"],
        "Hours": ["1.5", "2"],
    }


def test_every_way_the_child_fails_is_one_line(tmp: Path) -> None:
    """Timeout, a crash that is not memory, and each error the child reports: one sentence."""
    from importer.core.errors import SheetNotFoundError, UnreadableFileError
    from importer.sheet.reading.capped import _crashed, _error, read_in_child

    book = write_xlsx(tmp / "b.xlsx", [ZOHO_HEADERS, ZOHO_ROW])
    with pytest.raises(UnsafeFileError, match=r"took over 0 s.*nothing was read"):
        read_in_child(book, book.read_bytes(), None, 2**31, seconds=0.001)
    assert "crashed on this file (signal 11)" in str(_crashed(book, -11, b"", 2**30))
    cases = [
        ({"error": "encrypted"}, UnreadableFileError, "is encrypted"),
        ({"error": "workbook", "detail": "ZipError"}, UnreadableFileError, "(ZipError)"),
        ({"error": "no-sheets"}, UnreadableFileError, "has no sheets"),
        ({"error": "not-found", "detail": "X", "names": ["A"]}, SheetNotFoundError, "are 'A'"),
        ({"error": "sheet", "sheet": "A", "detail": "PanicException"}, UnreadableFileError,
         "sheet 'A' cannot be read (PanicException)"),
    ]  # fmt: skip
    for answer, kind, words in cases:
        error = _error(book, answer)
        assert isinstance(error, kind) and words in str(error) and str(error).startswith(str(book))


def test_columns_are_each_cells_text() -> None:
    """The column-wise answer: every cell as cell_text renders it, the last date-time of each
    column and its bare dates, whatever mix of types a column holds (a column of one type is
    rendered once per distinct value: equal values of different types, True, 1 and 1.0, or
    -0.0 and 0.0, or distinct NaNs, must not share a text that is not theirs)."""
    import datetime as dt
    import random

    from importer.sheet.reading.child import _columns, cell_text

    rng = random.Random(5)
    kinds = [
        lambda: "text",
        lambda: None,
        lambda: dt.datetime(2026, 1, 2, 9, 30, rng.choice([0, 5]), rng.choice([0, 250_000])),
        lambda: dt.date(2026, 3, 4),
        lambda: rng.choice([1.0, 2.5, 1e16, True, 7]),
        lambda: dt.time(13, 0),
        lambda: rng.choice([0.0, -0.0, float("nan"), 1e15, 3.25]),
        lambda: rng.choice([True, False]),
    ]
    for _ in range(300):
        width, height = rng.randint(1, 4), rng.randint(0, 12)
        mixes = [rng.sample(kinds, rng.randint(1, 3)) for _ in range(width)]
        rows = [[rng.choice(mix)() for mix in mixes] for _ in range(height)]
        found = _columns(rows)
        assert found["height"] == height and len(found["columns"]) == (width if rows else 0)
        for index, column in enumerate(zip(*rows, strict=True)):
            assert found["columns"][index] == [cell_text(v) for v in column]
            stamps = [n for n, v in enumerate(column) if type(v) is dt.datetime]
            assert found["last_stamp"][index] == (stamps[-1] if stamps else -1)
            dates = [n for n, v in enumerate(column) if type(v) is dt.date]
            assert found["bare_dates"][index] == (dates if stamps else [])


def test_a_panic_over_a_failed_python_allocation_is_the_memory_cap() -> None:
    """pyo3 panics with "PyObject pointer is null" when Python cannot allocate an object: the
    child raises MemoryError for it (the parent then names the cap); other panics are kept."""
    from importer.sheet.reading.child import _memory

    class PanicException(BaseException):  # pyo3's is a BaseException, not importable alone
        pass

    with pytest.raises(MemoryError):
        _memory(PanicException("PyObject pointer is null"))
    _memory(PanicException("index out of bounds"))  # a damaged file: said as such


def _recorded(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The capped readers started by reading a workbook, as they start."""
    from importer.sheet.reading import capped, xlsx

    started: list[object] = []

    class Recorded(capped.ChildRead):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self.cap = args[3]
            started.append(self)

    monkeypatch.setattr(xlsx, "ChildRead", Recorded)
    return started


def _read_again(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The caps of the reads done again once the first read failed (the sequential reader,
    as it starts)."""
    from importer.sheet.reading import capped, xlsx

    again: list[int] = []
    sequential = capped.read_in_child

    def read_again(*args: object) -> object:
        again.append(int(args[3]))  # type: ignore[call-overload]
        return sequential(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(xlsx, "read_in_child", read_again)
    return again


def test_the_reader_reads_while_the_guard_scans_the_parts(
    tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The capped reader is under way when the guard scans the sheet (the scan's time is no
    longer added to the read's), and what it reads is what the sequential read gives."""
    from importer.sheet.guard import check

    path = write_xlsx(tmp / "book.xlsx", [ZOHO_HEADERS] + [zoho_row(f"S {n}") for n in range(300)])
    started = _recorded(monkeypatch)
    scan = check.scan_sheet
    seen_at_scan: list[int] = []

    def scanned(*args: object) -> None:
        seen_at_scan.append(len(started))
        scan(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(check, "scan_sheet", scanned)
    frame = read_table(path, SCORE).frame
    assert seen_at_scan and all(count == 1 for count in seen_at_scan)
    assert frame["Session name"].tolist()[-1] == "S 299"


def test_a_scan_that_refuses_stops_the_reader_and_has_the_last_word(
    tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard's verdict is the one given, and the child reading meanwhile is ended; a
    workbook refused on its structure (a zip bomb) starts no reader at all."""
    import zipfile

    path = write_xlsx(tmp / "book.xlsx", [ZOHO_HEADERS, *[ZOHO_ROW] * 600])
    started = _recorded(monkeypatch)
    monkeypatch.setenv("IMPORTER_READ_BUDGET_MB", "1")
    with pytest.raises(UnsafeFileError, match="over the budget of 1 MB"):
        read_table(path, SCORE)
    assert len(started) == 1
    assert started[0]._process.poll() is not None  # type: ignore[attr-defined]
    bomb = tmp / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", b"<sst>" + b"A" * 20_000_000 + b"</sst>")
    with pytest.raises(UnsafeFileError, match=r"compressed \d+ times"):
        read_table(bomb, SCORE)
    assert len(started) == 1


def test_a_reader_started_before_the_scan_is_capped_to_the_files_size(
    tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the guard has passed the parts, the reader's cap follows the workbook's unpacked
    size (a refused file costs no more than an honest one of its size); an accepted file that
    needs more is read again with the full cap, and nothing is lost."""
    from importer.sheet.reading import xlsx

    rows = [zoho_row(f"S {n}") for n in range(20_000)]
    path = write_xlsx(tmp / "book.xlsx", [ZOHO_HEADERS, *rows])
    started = _recorded(monkeypatch)
    assert len(read_table(path, SCORE).frame) == 20_000
    full = Limits.from_env().reader_memory_bytes
    assert started[0].cap < full  # type: ignore[attr-defined]
    assert xlsx.early_cap(10**12, full) == full
    again = _read_again(monkeypatch)
    monkeypatch.setattr(xlsx, "_EARLY_FACTOR", 0)
    monkeypatch.setattr(xlsx, "_EARLY_BASE", 24 * 2**20)  # too little for the reader
    frame = read_table(path, SCORE).frame
    assert frame["Session name"].tolist()[-1] == "S 19999"
    assert started[-1].out_of_memory  # type: ignore[attr-defined]
    assert again == [full]


def test_a_reader_that_cannot_start_is_the_machines_trouble_not_the_files(
    tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No process to be had (too many open files): the OSError as it is, after the guard,
    not "the workbook is damaged" (an inbox keeps the sheet for its next run)."""
    import errno

    from importer.sheet.reading import capped

    path = write_xlsx(tmp / "book.xlsx", [ZOHO_HEADERS, ZOHO_ROW])

    def no_process(*args: object, **kwargs: object) -> object:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(capped.subprocess, "Popen", no_process)
    with pytest.raises(OSError, match="Too many open files") as raised:
        read_table(path, SCORE)
    assert not isinstance(raised.value, UnsafeFileError)


def test_an_interrupt_while_waiting_for_the_reader_ends_it(tmp: Path) -> None:
    """Ctrl-C or a stop signal's exception while the parent waits: the child is killed, as
    subprocess.run killed it, not left reading for up to 900 s."""
    import signal

    from importer.sheet.reading.capped import ChildRead

    rows = [zoho_row(f"S {n}") for n in range(20_000)]
    path = write_xlsx(tmp / "book.xlsx", [ZOHO_HEADERS, *rows])
    child = ChildRead(path, path.read_bytes(), None, 2**31)

    def interrupted(timeout: float | None = None) -> None:
        raise KeyboardInterrupt

    real_join = child._talk.join
    child._talk.join = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        child.result()
    assert child._process.wait(timeout=30) == -signal.SIGKILL
    real_join()


def test_a_reader_that_panics_under_the_early_cap_is_given_the_full_one(
    tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A panic under the early cap may be a failed allocation: the accepted file is read again
    with the full cap before anything is said of it."""
    from importer.core.errors import UnreadableFileError
    from importer.sheet.reading import capped, xlsx

    class Panicking(capped.ChildRead):
        def result(self) -> capped.Grid:
            super().result()  # the real read, then as if the reader had panicked
            self._panicked = True
            raise UnreadableFileError("sheet 'Sheet1' cannot be read (PanicException).")

    again = _read_again(monkeypatch)
    monkeypatch.setattr(xlsx, "ChildRead", Panicking)
    path = write_xlsx(tmp / "book.xlsx", [ZOHO_HEADERS, ZOHO_ROW])
    assert len(read_table(path, SCORE).frame) == 1
    assert again == [Limits.from_env().reader_memory_bytes]
