"""The workbook fuzzer: run by tests/test_fuzz.py in a memory-capped subprocess.

Usage: ``python tests/fuzz_workbooks.py EXAMPLES FOLDER``. For each generated or
mutated xlsx, ods and xls file: the guard refuses it, or calamine reads every sheet
within the guard's budget (its grid no wider than the column limit and no larger
than the memory budget allows) and the importer's reader gives a table or an
ImporterError. A reader allocation the guard did not foresee aborts this process
(the test then fails); the last case is kept in FOLDER/last-case.* to add to the
corpus. Prints ``cases NAME: N`` lines for the summary.
"""

from __future__ import annotations

import io
import os
import random
import resource
import sys
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "corpus")]
os.environ["IMPORTER_READ_BUDGET_MB"] = "64"  # small, so that cases reach the edge cheaply

import python_calamine  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from make_corpus import (  # noqa: E402
    biff_shared_string_workbook,
    biff_workbook,
    cell,
    ods,
    ole_file,
    sheet,
    xlsx,
)

from importer.core.errors import ImporterError, UnreadableFileError, UnsafeFileError  # noqa: E402
from importer.sheet.guard.check import CELL_BYTES, Limits, check_workbook  # noqa: E402
from importer.sheet.headers import header_scorer  # noqa: E402
from importer.sheet.reading.table import column_letter, read_table  # noqa: E402
from importer.vendors import get_vendor  # noqa: E402

LIMITS = Limits.from_env()
SCORER = header_scorer(get_vendor("zoho-people"))
CASES: Counter[str] = Counter()
OUTCOMES: Counter[str] = Counter()
SEEDS = [p.read_bytes() for p in sorted((ROOT / "sample_data").glob("*valid.xlsx"))]
SEEDS += [p.read_bytes() for p in sorted((ROOT / "tests" / "corpus").glob("*.[xo]*"))]


def _rows() -> st.SearchStrategy[int]:
    return st.one_of(st.integers(1, 40), st.integers(1, 70_000), st.just(1_048_576))


def _columns() -> st.SearchStrategy[int]:
    return st.one_of(st.integers(1, 30), st.integers(1, 1100), st.just(16_384))


@st.composite
def xlsx_files(draw: st.DrawFn) -> bytes:
    """Sheets with cell references spelled every way XML allows, some without any."""
    prefix = draw(st.sampled_from(["", "x:"]))
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        row = draw(_rows())
        quote = draw(st.sampled_from(['"', "'"]))
        space = draw(st.sampled_from(["", " ", "\n\t"]))
        row_ref = f" r{space}={space}{quote}{row}{quote}" if draw(st.booleans()) else ""
        cells = []
        for _ in range(draw(st.integers(0, 4))):
            letters = column_letter(draw(_columns()) - 1)
            letters = letters.lower() if draw(st.integers(0, 4)) == 0 else letters
            ref = f" r{space}={space}{quote}{letters}{row}{quote}" if draw(st.booleans()) else ""
            body = draw(st.sampled_from(["<v>1</v>", "<is><t>x</t></is>", "<f>1</f>", ""]))
            body = body.replace("<", f"<{prefix}").replace(f"<{prefix}/", f"</{prefix}")
            count = draw(st.sampled_from([1, 1, 3, 2000]))  # runs of positionless cells
            cells.append(f"<{prefix}c{ref}>{body}</{prefix}c>" * (count if not ref else 1))
        parts.append(f"<{prefix}row{row_ref}>{''.join(cells)}</{prefix}row>")
    # The reader finds the sheet through the workbook's relationships, whatever its name.
    part = draw(st.sampled_from(["worksheets/sheet1.xml", "worksheets/data.dat",
                                 "worksheets/Sheet1.XML", "worksheets/cells"]))  # fmt: skip
    return xlsx(sheet("".join(parts), prefix=prefix), part=part)


@st.composite
def ods_files(draw: st.DrawFn) -> bytes:
    """Tables with rows and cells repeated up to the format's limits, filled or empty."""
    rows = []
    for _ in range(draw(st.integers(0, 5))):
        repeat = draw(st.one_of(st.integers(1, 5), st.integers(1, 1_100_000)))
        cells = []
        for _ in range(draw(st.integers(0, 4))):
            across = draw(st.one_of(st.integers(1, 3), st.integers(1, 20_000)))
            filled = draw(st.booleans())
            value = "<text:p>x</text:p>" if filled else ""
            kind = ' office:value-type="string"' if filled else ""
            cells.append(f'<table:table-cell table:number-columns-repeated="{across}"{kind}>'
                         f"{value}</table:table-cell>")  # fmt: skip
        rows.append(f'<table:table-row table:number-rows-repeated="{repeat}">{"".join(cells)}'
                    "</table:table-row>")  # fmt: skip
    return ods("<table:table-row>" + cell("Session name") + "</table:table-row>" + "".join(rows))


@st.composite
def xls_files(draw: st.DrawFn) -> bytes:
    """BIFF8 sheets with cells anywhere in the 65,536 x 256 grid."""
    if draw(st.booleans()):  # one shared string in many cells
        length = draw(st.integers(0, 40_000))
        rows, columns = draw(st.integers(1, 400)), draw(st.integers(1, 10))
        return ole_file(biff_shared_string_workbook(length, rows, columns))
    cells = draw(st.lists(st.tuples(st.integers(0, 65535), st.integers(0, 255)), max_size=6))
    # DIMENSIONS as the reader trusts it: any range, a last row before the first included.
    edge = st.sampled_from([0, 1, 5, 255, 256, 65535, 65536, 2**31, 2**32 - 1])
    dimensions = draw(st.none() | st.just((0, 65536, 0, 256))
                      | st.tuples(edge, edge, edge.map(lambda v: v & 0xFFFF),
                                  edge.map(lambda v: v & 0xFFFF)))  # fmt: skip
    return ole_file(biff_workbook([(r, c, 1.0) for r, c in [(0, 0), *cells]], dimensions))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real or hostile file with bytes flipped, cut or repeated, or its sheet XML edited."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    if draw(st.booleans()) and zipfile.is_zipfile(io.BytesIO(bytes(data))):
        return _mutate_xml(draw, bytes(data))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.integers(0, 2))
        if action == 0:
            data[at] = draw(st.integers(0, 255))
        elif action == 1:
            del data[at : at + draw(st.integers(1, 64))]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
        if not data:
            break
    return bytes(data)


def _mutate_xml(draw: st.DrawFn, data: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            part = source.read(info)
            if part.startswith((b"<?xml", b"<")):
                text = part.decode("utf-8", "replace")
                for _ in range(draw(st.integers(0, 4))):
                    at = draw(st.integers(0, max(len(text) - 1, 0)))
                    piece = draw(st.sampled_from(["9", "99999", "XFD", "'", '"', " ", "<c>",
                                                  "<row>", "</c>", "x:", "\n", "&lt;"]))  # fmt: skip
                    text = text[:at] + piece + text[at + draw(st.integers(0, 3)) :]
                part = text.encode()
            target.writestr(info.filename, part)
    return out.getvalue()


def check(kind: str, data: bytes, folder: Path) -> None:
    """The property: refused, or read within the guard's promise; only ImporterError escapes."""
    CASES[f"workbooks {'generated ' if kind != 'mutated' else ''}{kind}"] += 1
    suffix = {"ods": ".ods", "xls": ".xls"}.get(kind, ".xlsx")
    path = folder / f"last-case{suffix}"
    path.write_bytes(data)  # kept if the reader aborts the process: a new corpus entry
    try:
        check_workbook(path, data, LIMITS)
    except (UnsafeFileError, UnreadableFileError):  # too costly, or encrypted: one line
        OUTCOMES["workbooks: refused by the guard"] += 1
        return
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        grids = [book.get_sheet_by_name(name) for name in book.sheet_names]
    except Exception:  # the reader refuses a malformed file: fine, the importer says so
        grids = []
    except BaseException as error:  # a Rust panic (pyo3's PanicException): stderr gets noisy
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        # The importer turns it into one clear error, but Rust prints its panic on stderr:
        # counted, so that a long run shows them (each is worth a guard rule, see guard.py).
        OUTCOMES["workbooks: calamine panicked (caught; Rust's message on stderr)"] += 1
        grids = []
    for grid in grids:
        cells = grid.height * grid.width
        assert grid.width <= LIMITS.max_columns, (kind, grid.height, grid.width)
        assert cells * CELL_BYTES <= LIMITS.memory_bytes, (kind, grid.height, grid.width)
    try:
        read_table(path, SCORER)
        OUTCOMES["workbooks: read into a table"] += 1
    except ImporterError:
        OUTCOMES["workbooks: passed the guard, one clear error from the reader"] += 1


def _runner(kind: str, folder: Path) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        check(kind, data, folder)

    return run


def main() -> None:
    """Run every generator and the mutator for the number of examples given."""
    examples, folder = int(sys.argv[1]), Path(sys.argv[2])
    budget = settings(max_examples=examples, deadline=None, database=None,
                      derandomize="IMPORTER_FUZZ_SEED" not in os.environ)  # fmt: skip
    random.seed(os.environ.get("IMPORTER_FUZZ_SEED", "0"))
    for kind, strategy in [("xlsx", xlsx_files()), ("ods", ods_files()), ("xls", xls_files()),
                           ("mutated", mutated())]:  # fmt: skip
        budget(given(strategy)(_runner(kind, folder)))()
    for name, count in sorted(CASES.items()):
        print(f"cases {name}: {count}")
    for name, count in sorted(OUTCOMES.items()):
        print(f"outcome {name}: {count}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"peak memory: {peak} MB")
    # With a 64 MB read budget, every file the guard passed is cheap: a peak far above the
    # interpreter's own means some cost (text copied per cell, say) escaped the estimate.
    assert peak < 1024, f"peak memory {peak} MB: the guard let an expensive file through"


if __name__ == "__main__":
    main()
