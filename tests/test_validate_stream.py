"""``validate`` of a big CSV, slice by slice, says and writes what the whole-file path does."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.cli import main as cli
from importer.core.errors import UnreadableFileError
from importer.jobs import validate_stream
from importer.sheet import duplicates
from importer.sheet.duplicates import RepeatedRows
from importer.sheet.reading import csv_arrow, csv_checks
from tests.conftest import CliResult, run_cli

HEADERS = (
    "Path ID,Session name,Main instructor ID,Co-instructor IDs,Start date,End date,"
    "User limit,Registration validation,Additional information"
)
PATH_ID = "6853f6de567dc5f80528f80d"
TEACHER = "647098a731a809ed36889ed1"
SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


def _row(n: int, start: str = "2026-01-05 09:00", validation: str = "disabled") -> str:
    info = f"A{n:07d}" if n % 7 else f'"Room {n}, ""B""\nbring a laptop"'
    if n % 53 == 0:
        info = f"=1+{n}"  # formula-like: neutralised in the result
    return f"{PATH_ID},Session {n},{TEACHER},,{start},,{5 + n % 40},{validation},{info}"


def _sheet(path: Path) -> Path:
    """About 3,000 rows (over the 256 KB sample): blank rows, bad rows and repeats all along."""
    lines = [HEADERS]
    for n in range(3000):
        if n % 250 == 0:
            lines.append(",,,,,,,,")  # blank: dropped, its row number kept
        if n % 401 == 0:
            lines.append(" , ,  ,,,,,,")  # blank too (spaces only)
        if n % 97 == 0:
            lines.append(_row(n).replace(",disabled,", ",Everyone,"))  # an unknown choice
        elif n % 131 == 0:
            lines.append(_row(n, start="31/02/2026 10:00"))  # no such day
        elif n in (1500, 2900):
            lines.append(_row(20))  # repeats row of n=20, slices later
        elif n == 1800:
            # the same session once normalised: the date spelled day first, the choice cased
            lines.append(_row(5, start="05/01/2026 09:00", validation="Disabled"))
        elif n == 2600:
            lines.append(_row(2599))  # repeats the row just before (the same slice, likely)
        elif n == 2700:
            lines.append(_row(97).replace(",disabled,", ",Everyone,"))  # a bad row, repeated
        else:
            lines.append(_row(n))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert path.stat().st_size > 256 * 1024
    return path


def _validate(
    source: Path,
    result: Path,
    monkeypatch: pytest.MonkeyPatch,
    streamed: bool,
    *extra: str,
    vendor: str = "360learning-v2",
) -> tuple[int, int]:
    """Run the command line in this process; return (exit code, slices streamed)."""
    slices = 0
    flag = RepeatedRows.flag

    def counted(self: RepeatedRows, report: object) -> object:
        nonlocal slices
        slices += 1
        return flag(self, report)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(RepeatedRows, "flag", counted)
        if streamed:  # slices of one 4 KB block each: dozens of them
            patch.setattr(csv_arrow, "BLOCK_BYTES", 4096)
            patch.setattr(validate_stream, "SLICE_BYTES", 1)
        else:
            patch.setattr(cli, "_STREAM_BYTES", 1 << 40)
        args = ["validate", str(source), "--vendor", vendor, "--result", str(result)]
        code = cli.main([*args, *extra])
    return code, slices


def _both(
    source: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[str, str, int]:
    """Validate ``source`` both ways; the results are the same bytes; return both outputs."""
    (tmp / "whole").mkdir()
    (tmp / "streamed").mkdir()
    code, slices = _validate(source, tmp / "whole/out.csv", monkeypatch, False)
    whole = capsys.readouterr().out.replace(str(tmp / "whole"), "DIR")
    assert slices == 0
    streamed_code, slices = _validate(source, tmp / "streamed/out.csv", monkeypatch, True)
    streamed = capsys.readouterr().out.replace(str(tmp / "streamed"), "DIR")
    assert streamed_code == code
    assert (tmp / "streamed/out.csv").read_bytes() == (tmp / "whole/out.csv").read_bytes()
    assert sorted(p.name for p in (tmp / "streamed").iterdir()) == ["out.csv"]
    return whole, streamed, slices


def test_streamed_validate_writes_what_the_whole_file_path_writes(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In 4 KB slices: the same result bytes and summary; repeats found across slices."""
    source = _sheet(tmp / "sessions.csv")
    whole, streamed, slices = _both(source, tmp, monkeypatch, capsys)
    assert slices > 50
    assert streamed == whole
    assert "3000 rows:" in whole.splitlines()[0]
    result = (tmp / "streamed/out.csv").read_text(encoding="utf-8-sig")
    # n=20 is sheet row 24 (after the header and two blank rows), repeated 1,500 rows on
    assert "the same session as row 24: remove one of them" in result
    assert result.count("the same session as row 24:") == 2
    assert "the same session as row 9:" in result  # n=5, spelled another way at n=1800
    assert "'=1+53" in result
    numbers = [line.split(",", 1)[0] for line in result.splitlines()[1:5]]
    assert numbers[:2] == ["4", "5"]  # rows 2 and 3 are blank: dropped, numbers kept


def test_streamed_validate_json_summary_is_the_same(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json: the same counts and exit code either way."""
    source = _sheet(tmp / "sessions.csv")
    _validate(source, tmp / "a.csv", monkeypatch, False, "--json")
    whole = json.loads(capsys.readouterr().out)
    _validate(source, tmp / "b.csv", monkeypatch, True, "--json")
    streamed = json.loads(capsys.readouterr().out)
    assert {**streamed, "result": ""} == {**whole, "result": ""}
    assert whole["counts"]["invalid"] > 40


def test_a_ragged_row_far_on_falls_back_to_the_whole_file_path(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row with an extra cell near the end: the careful reader keeps it; nothing stray left."""
    source = _sheet(tmp / "sessions.csv")
    source.write_text(source.read_text() + _row(9999) + ",an extra cell\n", encoding="utf-8")
    whole, streamed, _ = _both(source, tmp, monkeypatch, capsys)
    assert streamed == whole
    assert "Column J" in (tmp / "streamed/out.csv").read_text(encoding="utf-8-sig")


def test_a_header_ending_blank_is_read_whole(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whether an unnamed last column is kept depends on every row: the whole-file path."""
    source = _sheet(tmp / "sessions.csv")
    lines = source.read_text(encoding="utf-8").split("\n")
    lines[0] += ","
    source.write_text("\n".join(lines), encoding="utf-8")
    whole, streamed, slices = _both(source, tmp, monkeypatch, capsys)
    assert streamed == whole
    assert slices == 0


def test_cells_read_as_empty_repeat_an_empty_cell_in_slices_too(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A blank user limit, a date in its day-first spelling, a cased choice: the same session
    as the row that spells them plainly, whether its slice read those texts or remembered them."""
    lines = [HEADERS]
    for n in range(4000):
        start = f"2026-0{1 + n % 9}-1{n % 9} 09:00"
        lines.append(f"{PATH_ID},S{n % 1500},{TEACHER},,{start},,{'' if n % 2 else 9},disabled,")
    # the row of n=1 (sheet row 3), spelled otherwise
    lines[3001] = f"{PATH_ID},S1,{TEACHER},,11/02/2026 09:00,,  ,Disabled,"
    result = _streamed_as_whole(lines, tmp, monkeypatch, capsys)
    assert "3002,invalid,,Row: the same session as row 3:" in result


def _streamed_as_whole(
    lines: list[str],
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> str:
    """Validate ``lines`` (a sheet) both ways, in dozens of slices; the same output either
    way; return the streamed result sheet's text."""
    source = tmp / "sessions.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    whole, streamed, slices = _both(source, tmp, monkeypatch, capsys)
    assert streamed == whole
    assert slices > 20
    return (tmp / "streamed/out.csv").read_text(encoding="utf-8-sig")


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.csv")))
def test_sample_sheets_give_the_same_output_streamed(
    name: str, tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every sample CSV, padded over the sample size with blank rows, streamed or not."""
    data = (SAMPLES / name).read_bytes()
    width = data.split(b"\n", 1)[0].count(b",")
    end = b"\r\n" if b"\r\n" in data else b"\n"
    source = tmp / name
    source.write_bytes(data + (b"," * width + end) * (300 * 1024 // (width + 2)))
    vendor = name.split("-mistakes")[0].split("-valid")[0]
    results = {}
    for streamed in (False, True):
        out = tmp / f"{streamed}.csv"
        code, slices = _validate(source, out, monkeypatch, streamed, vendor=vendor)
        assert (slices > 10) == streamed
        results[streamed] = (
            code,
            capsys.readouterr().out.replace(str(out), "OUT"),
            out.read_bytes(),
        )
    assert results[True] == results[False]


@settings(max_examples=600, deadline=None)
@given(
    text=st.text(alphabet='",;a\r\n', max_size=40),
    chunk=st.integers(min_value=1, max_value=9),
    delimiter=st.sampled_from([",", ";"]),
    dense=st.sampled_from([0, 10**9]),
)
def test_the_quote_check_in_chunks_finds_what_the_whole_search_finds(
    text: str, chunk: int, delimiter: str, dense: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Searched a few bytes at a time, a file's unclosed quote is found at the same place,
    whether its chunks are searched cell by cell (few quotes) or matched in one call."""
    path = tmp_path_factory.mktemp("quotes") / "q.csv"
    path.write_bytes(text.encode())
    said = []
    for data in (text.encode(), path):
        try:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(csv_checks, "_QUOTE_CHUNK", chunk)
                patch.setattr(csv_checks, "_DENSE_QUOTES", dense)
                if isinstance(data, Path):  # searched a chunk at a time
                    csv_checks.check_file(path, delimiter, None, False)
                else:
                    csv_checks.check_quotes(path, data, delimiter)
            said.append("")
        except UnreadableFileError as error:
            said.append(str(error))
    assert said[0] == said[1]


def test_repeats_are_told_apart_when_the_first_hash_lane_collides(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every row given the same first 64 bits: the second lane still tells rows apart (the
    streamed result is the whole-file path's, which compares the values themselves)."""
    source = _sheet(tmp / "sessions.csv")
    real = duplicates._row_hashes

    def colliding(report: object, joined: frozenset[str]) -> tuple[np.ndarray, np.ndarray]:
        first, second = real(report, joined)  # type: ignore[arg-type]
        return np.zeros_like(first), second

    monkeypatch.setattr(duplicates, "_row_hashes", colliding)
    whole, streamed, slices = _both(source, tmp, monkeypatch, capsys)
    assert streamed == whole
    assert slices > 50
    result = (tmp / "streamed/out.csv").read_text(encoding="utf-8-sig")
    assert result.count(",invalid,,Row: the same session as row") == 4


def test_a_csv_longer_than_a_sheet_is_validated_in_slices_not_refused(tmp: Path) -> None:
    """Over the whole-file path's 2,000,000 lines: streamed into a CSV result (memory follows
    the slice), with the right sheet row numbers and a repeat found 2.1 million lines on; the
    same file into an .xlsx result (read whole) is refused with the line count, as before."""
    row = f"{PATH_ID},S{{n}},{TEACHER},2027-01-05 09:00,disabled\n"
    source = tmp / "backfill.csv"
    with source.open("w", encoding="utf-8") as out:
        out.write("Path ID,Session name,Main instructor ID,Start date,Registration validation\n")
        out.write(row.format(n=1))
        out.write("\n" * 2_100_000)
        out.write(row.format(n=2) + row.format(n=1))

    def command(result: Path) -> CliResult:
        return run_cli("validate", source, "--vendor", "360learning-v2", "--result", result)

    streamed = command(tmp / "backfill.result.csv")
    assert streamed.returncode == 1, streamed.stderr
    assert "3 rows: 2 valid, 1 invalid" in streamed.stdout
    lines = (tmp / "backfill.result.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    assert [line.split(",")[:2] for line in lines] == [
        ["2", "valid"], ["2100003", "valid"], ["2100004", "invalid"]
    ]  # fmt: skip
    assert "the same session as row 2" in lines[2]
    whole = command(tmp / "backfill.result.xlsx")
    assert whole.returncode == 2 and "2,100,004 lines, over the 2,000,000" in whole.stderr
    assert "Traceback" not in whole.stderr


@settings(max_examples=200, deadline=None)
@given(
    block=st.integers(1, 40),
    mapped=st.sampled_from([1, 200, 1 << 18]),
    release=st.integers(1, 300),
    slices=st.lists(
        st.lists(st.tuples(st.integers(0, 50), st.integers(0, 2**32 - 1)), max_size=120),
        max_size=10,
    ),
)
def test_remembered_keys_stay_sorted_and_found_as_they_grow(
    block: int, mapped: int, release: int, slices: list[list[tuple[int, int]]]
) -> None:
    """Keys added slice after slice (many sharing a first lane, merge steps smaller than a
    slice, runs in mapped memory or not, the pages of what a merge took handed back often):
    every key is kept once with its row, each run sorted by its first lane, the runs at
    least doubling in size from the last to the first, and every key found again."""
    keys = duplicates._Keys()
    kept: dict[tuple[int, int], int] = {}
    row = 0
    for part in slices:
        new = sorted({key for key in part if key not in kept})
        first = np.array([f for f, _ in new], dtype=np.uint64)
        second = np.array([s for _, s in new], dtype=np.uint32)
        rows = np.arange(row, row + len(new), dtype=np.int64)
        row += len(new)
        with (
            patch.object(duplicates, "_BLOCK", block),
            patch.object(duplicates, "_MAPPED", mapped),
            patch.object(duplicates, "_RELEASE", release),
        ):
            keys.add(first, second, rows)
        kept |= {key: int(r) for key, r in zip(new, rows.tolist(), strict=True)}
        _check_keys(keys, kept)


def _check_keys(keys: duplicates._Keys, kept: dict[tuple[int, int], int]) -> None:
    """``keys`` hold ``kept`` (key -> row), in sorted runs at least doubling, and find them."""
    stored = {}
    for run in keys._runs:
        lanes = run.first.tolist()
        assert lanes == sorted(lanes)
        both = zip(lanes, run.second.tolist(), strict=True)
        stored |= dict(zip(both, run.rows.tolist(), strict=True))
    assert stored == kept
    assert len(keys) == len(kept)
    sizes = [len(run) for run in keys._runs]
    assert all(bigger >= 2 * smaller for bigger, smaller in itertools.pairwise(sizes))
    asked = [*sorted(kept), (2**64 - 1, 7), (0, 2**32 - 1)]
    found = keys.seen(
        np.array([f for f, _ in asked], dtype=np.uint64),
        np.array([s for _, s in asked], dtype=np.uint32),
    )
    assert found.tolist() == [kept.get(key, -1) for key in asked]


def test_remembered_keys_are_moved_a_few_times_each_not_once_a_slice() -> None:
    """A hundred slices of keys, every run over a few thousand keys in mapped memory whose
    pages are handed back as merges take them: each key is moved (merged into a bigger run)
    about log2(100) times, not once for every slice after its own (about 50 times on
    average), and every key is found with its row."""
    moved = 0
    real = duplicates._merged

    def counted(earlier: duplicates._Run, later: duplicates._Run) -> duplicates._Run:
        nonlocal moved
        moved += len(earlier) + len(later)
        return real(earlier, later)

    keys = duplicates._Keys()
    kept: dict[tuple[int, int], int] = {}
    rng = np.random.default_rng(7)
    with (
        patch.object(duplicates, "_merged", counted),
        patch.object(duplicates, "_MAPPED", 3000),
        patch.object(duplicates, "_RELEASE", 1000),
        patch.object(duplicates, "_BLOCK", 300),
    ):
        for number in range(100):
            first = np.sort(rng.integers(0, 2**64 - 1, 1000, dtype=np.uint64))
            second = rng.integers(0, 2**32 - 1, 1000, dtype=np.uint32)
            rows = np.arange(number * 1000, (number + 1) * 1000)
            keys.add(first, second, rows)
            kept |= dict(
                zip(zip(first.tolist(), second.tolist(), strict=True), rows.tolist(), strict=True)
            )
    assert len(keys._runs) <= 7
    assert moved <= 100_000 * 8
    _check_keys(keys, kept)


def test_the_collectors_thresholds_are_put_back_after_the_slices_even_on_an_error() -> None:
    """Fewer collections while slices go through; the process's own thresholds after."""
    import gc

    before = gc.get_threshold()
    with pytest.raises(RuntimeError), validate_stream._fewer_collections():
        assert gc.get_threshold()[0] > before[0]
        raise RuntimeError("a slice failed")
    assert gc.get_threshold() == before


@pytest.mark.parametrize("limit", [100_000, 3, 0])
def test_remembered_readings_are_the_kinds_own_slice_after_slice(limit: int) -> None:
    """Dates (notes, wall-clock values), choices and IDs read through the remembered texts give
    what the field's kind gives the same cells, whether the texts are kept or the bound is hit."""
    from importer.sheet.fields import Context
    from importer.sheet.remembered import Remembered
    from importer.vendors import get_vendor

    vendor = get_vendor("360learning-v2")
    context = Context(order="MDY")
    cells = {
        "startDate": ["2026-01-05 09:00", "03/04/2026 10:00", "", "31/02/2026 10:00", "bad"],
        "registrationRequestValidation": ["disabled", "Managers", "", "Everyone", "managers"],
        "mainInstructorId": [TEACHER, "not-an-id", "", TEACHER, "６４７"],
    }
    remembered = Remembered(limit)
    for start in range(0, 200, 25):  # slices that repeat some texts and bring new ones
        for name, texts in cells.items():
            spec = vendor.field(name)
            typed = [texts[(start + i) % len(texts)] + " " * (start // 100) for i in range(25)]
            got = remembered.read(spec, pa.array(typed, pa.large_string()), context)
            want = spec.kind.parse(pd.Series(typed, dtype="str"), context)
            assert name not in remembered._distinct  # read through the remembered texts
            assert got.raw.to_pylist() == typed
            for mine, theirs in ((got.values, want.values), (got.notes, want.notes)):
                assert (mine is None) == (theirs is None)
                if mine is not None and theirs is not None:
                    assert mine.to_pylist() == [None if pd.isna(v) else v for v in theirs]
            wall = want.wall if want.wall is not None and want.wall.notna().any() else None
            assert (got.wall is None) == (wall is None)
            if got.wall is not None and wall is not None:
                assert got.wall.to_pylist() == [None if pd.isna(v) else v for v in wall]


def test_month_first_dates_are_told_so_streamed_too(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --date-order MDY, the streamed summary says what the whole-file one says (it
    advised "add --date-order MDY", the order it was given)."""
    source = _sheet(tmp / "sessions.csv")
    text = source.read_text(encoding="utf-8").replace("2026-01-05 09:00", "03/04/2026 09:00", 5)
    source.write_text(text, encoding="utf-8")
    outputs = []
    for streamed in (False, True):
        _validate(source, tmp / f"{streamed}.csv", monkeypatch, streamed, "--date-order", "MDY")
        outputs.append(capsys.readouterr().out.replace(str(tmp / f"{streamed}.csv"), "OUT"))
    assert outputs[0] == outputs[1]
    assert "month" in outputs[0]


def test_a_repeat_is_found_when_a_column_turns_mostly_distinct_slices_later(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Session names that recur in the first slices (read by distinct text) and are all new
    later (read row by row): a late row repeating an early one is still the same session."""
    lines = [HEADERS]
    for n in range(4000):
        name, limit = (f"S{n % 10}", 5 + n // 10) if n < 400 else (f"Session {n}", 9)
        lines.append(f"{PATH_ID},{name},{TEACHER},,2026-01-05 09:00,,{limit},disabled,")
    lines.append(lines[1 + 123])  # the row of n=123 (sheet row 125), thousands of rows on
    result = _streamed_as_whole(lines, tmp, monkeypatch, capsys)
    assert "4002,invalid,,Row: the same session as row 125:" in result


def test_memory_is_handed_back_as_slices_go_and_the_arrow_pool_put_back() -> None:
    """jemalloc while the slices go through, glibc's heaps trimmed every fourth slice; the
    process's own pool after, even on an error."""
    import pyarrow as pa

    before = pa.default_memory_pool().backend_name
    trims: list[int] = []
    real = validate_stream._malloc_trim()
    assert real is not None  # glibc: the machines this runs on

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(validate_stream, "_malloc_trim", lambda: trims.append)
        with pytest.raises(RuntimeError), validate_stream._memory_handed_back() as hand_back:
            assert pa.default_memory_pool().backend_name == "jemalloc"
            for _ in range(9):
                hand_back()
            raise RuntimeError("a slice failed")
    assert trims == [0, 0]
    assert pa.default_memory_pool().backend_name == before
    assert real(0) in (0, 1)  # the real one answers
