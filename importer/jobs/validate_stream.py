"""``validate`` of a big UTF-8 CSV into a CSV result, slice by slice, in flat memory.

The whole-file path (:func:`importer.sheet.validation.validate`, then
:func:`importer.sheet.duplicates.flag_duplicates` and :func:`importer.results.write.write_report`)
holds the sheet, its normalised values and its result at once: about 0.9 GB for a million rows.
Here the file is read by pyarrow in slices of about :data:`SLICE_BYTES` of file (some
60,000 rows of a typical export), and each slice is validated column by column in pyarrow
(:mod:`importer.sheet.slices`), checked for repeated rows
(:class:`importer.sheet.duplicates.RepeatedRows`, which remembers 16 bytes per valid row) and
written to the result, each step in a thread of its own: three slices at most in memory,
which follows the slice, not the file.

The output is the same, byte for byte, as the whole-file path's: rows keep their sheet
numbers, blank rows are dropped, a row repeating an earlier one (in any slice) names it.
What this path does not take, :func:`validate_csv` hands back (``None``) to the whole-file
path, before writing anything or by throwing away what it wrote:

* a file of 256 KB or less, a file not in UTF-8 (Windows-1252, UTF-16: decoded whole),
  and workbooks (xlsx, xls, ods): they are read whole;
* a header ending in a blank cell (whether that column is kept depends on every row);
* rows pyarrow refuses (ragged rows, bytes further on that are not UTF-8, a cell over
  the limit): the careful reader names the row or pads the rows;
* an .xlsx result (at most 1,048,575 rows, and its Summary sheet comes first).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from importer.core.dates import TwoWays
from importer.core.errors import InputError
from importer.core.files import atomic_write, open_sheet
from importer.core.outcomes import Status
from importer.results.sheet import csv_writer
from importer.results.write import slice_result
from importer.sheet.duplicates import RepeatedRows
from importer.sheet.headers import header_scorer, match_headers
from importer.sheet.reading import csv_checks
from importer.sheet.reading.csv_arrow import stream_columns
from importer.sheet.reading.table import CsvLayout, is_workbook, utf8_csv_layout
from importer.sheet.remembered import Remembered
from importer.sheet.schema import Vendor
from importer.sheet.slices import SliceReport, non_blank, validate_slice
from importer.sheet.validation import Options, RowError, prepare

if TYPE_CHECKING:
    import pyarrow as pa

    from importer.results.csv_writer import CsvWriter

__all__ = ["SLICE_BYTES", "Validated", "validate_csv"]

#: How much of the file one slice holds (pyarrow's buffers of it: about 60,000 rows of the
#: benchmark's sheet). Measured on its 1M-row file (150 MB), three slices in flight (one a
#: stage): 12 MB slices peak at 440-470 MB, 16 MB at 485-525 MB, for the same time (3.1-3.2 s,
#: the least of 6); 8 MB slices at 400-410 MB but 0.8 s slower (work per slice).
SLICE_BYTES = 12 << 20


@dataclass(frozen=True)
class Validated:
    """What ``validate`` says of a sheet validated slice by slice.

    Attributes:
        row_count: the (non-blank) rows.
        counts: rows per status (``valid``, ``invalid``).
        first_errors: the first problems, in row order (at most the number asked for).
        result: the result sheet written.
        two_ways: the dates read one of two ways (``03/04/2027``).
        zoneless: the valid rows whose times have no zone (read in ``--timezone``).
        sheet: the sheet of a workbook that was read (``None`` for a CSV file).
        sheet_read: the same, said for the output (the hidden sheets passed over).
    """

    row_count: int
    counts: dict[str, int]
    first_errors: list[RowError]
    result: Path
    two_ways: TwoWays = field(default_factory=TwoWays)
    zoneless: int = 0
    sheet: str | None = None
    sheet_read: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every row is valid."""
        return not self.counts[Status.INVALID]


class _Tally:
    """Writes the slices' results in order and counts what ``validate`` prints."""

    def __init__(
        self,
        writer: CsvWriter,
        shown: int,
        options: Options,
        headers: list[str],
        written: Callable[[], None],
    ) -> None:
        self.rows, self.invalid, self.errors = 0, 0, list[RowError]()
        self._written = written
        self._writer, self._shown = writer, shown
        self._options, self._headers = options, headers
        self._started = False
        self.two_ways, self.zoneless = TwoWays(), 0

    def add(self, report: SliceReport) -> None:
        """Write the next slice's result rows (its repeats flagged), count them."""
        names, columns = slice_result(report, report.notes(self._options), self._headers)
        if not self._started:
            self._writer.header(names)
            self._started = True
        self._writer.columns(columns)
        self.rows, self.invalid = self.rows + report.row_count, self.invalid + len(report.errors)
        self.two_ways += report.two_ways
        self.zoneless += report.zoneless(self._options)
        if len(self.errors) < self._shown:
            every = itertools.chain.from_iterable(report.errors.values())
            self.errors += itertools.islice(every, self._shown - len(self.errors))
        self._written()


def _write(tally: _Tally, flagged: Future[SliceReport]) -> None:
    tally.add(flagged.result())


class _Refused(Exception):
    """pyarrow refused a slice: the whole-file path reads the file (and names the row)."""


def validate_csv(
    path: Path,
    vendor: Vendor,
    result: Path,
    *,
    timezone: str | None = None,
    date_order: str | None = None,
    defaults: Mapping[str, str] | None = None,
    columns: Mapping[str, str | None] | None = None,
    shown: int = 21,
    slice_bytes: int | None = None,
) -> Validated | None:
    """Validate a big UTF-8 CSV and write its CSV result slice by slice.

    Args:
        path: the CSV file.
        vendor: the vendor's declaration.
        result: the result sheet (a .csv path, checked writable).
        timezone: as :func:`importer.sheet.validation.validate`.
        date_order: as :func:`importer.sheet.validation.validate`.
        defaults: as :func:`importer.sheet.validation.validate`.
        columns: as :func:`importer.sheet.validation.validate`.
        shown: how many problems to keep for the summary.
        slice_bytes: about how much of the file one slice holds (:data:`SLICE_BYTES`).

    Returns:
        What was found, or ``None`` when the file is one the whole-file path reads (see
        the module docstring); nothing is then left written.

    Raises:
        InputError: the file cannot be used (unreadable, missing columns).
        ConfigurationError: an option is invalid.
        OutputError: the result cannot be written.
    """
    options = prepare(vendor, timezone, date_order, defaults)
    try:
        with open_sheet(path) as handle:
            head = handle.read(8)
    except (OSError, InputError):
        return None  # the whole-file path says why
    if is_workbook(path, head):
        return None
    # Limits of a file read slice by slice (the whole-file path keeps its own, stricter).
    csv_checks.check_size(path, csv_checks.STREAMED_MEMORY_FACTOR)
    layout = utf8_csv_layout(path, header_scorer(options.vendor), csv_checks.STREAMED_MAX_CSV_LINES)
    if layout is None or layout.headers[-1].startswith("Column "):
        return None
    matched = match_headers(
        list(layout.headers), options.vendor, str(path), frozenset(options.defaults), columns
    )
    remembered = Remembered()
    headers = list(layout.headers)
    reports = (
        validate_slice(cells, rows, matched, headers, options, remembered)
        for cells, rows in _slices(path, layout, slice_bytes or SLICE_BYTES)
    )
    try:
        with (
            _fewer_collections(),
            _memory_handed_back() as hand_back,
            atomic_write(result) as temporary,
            temporary.open("wb") as out,
            ThreadPoolExecutor(max_workers=1) as flagging,
            ThreadPoolExecutor(max_workers=1) as writing,
        ):
            tally = _Tally(csv_writer(out, layout.delimiter), shown, options, headers, hand_back)
            repeated = RepeatedRows()
            written: deque[Future[None]] = deque()
            # Three stages, a thread each: while a slice is written, the next one is checked
            # for repeats and the one after is read and validated (each stage in sheet order;
            # much of each is pyarrow and numpy, outside the GIL): three slices in memory.
            for report in reports:
                flagged = flagging.submit(repeated.flag, report)
                written.append(writing.submit(_write, tally, flagged))
                if len(written) > 1:
                    written.popleft().result()
            for done in written:
                done.result()
    except _Refused:
        return None
    rows, invalid, errors = tally.rows, tally.invalid, tally.errors
    counts: dict[str, int] = {Status.VALID: rows - invalid, Status.INVALID: invalid}
    return Validated(rows, counts, errors, result, tally.two_ways, tally.zoneless)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Python's cycle collector run about 30 times less often while the slices go through.

    Every slice makes and drops hundreds of thousands of objects (cells' texts, readings),
    all freed by their reference counts, not one in a cycle; at the default thresholds the
    collector ran some 520 young and 4 full passes over a million rows (each full one over
    every object of pandas and pyarrow loaded): 0.3 to 0.5 s of CPU, 7 %. The thresholds
    are put back after (measured: the same peak memory).
    """
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


@contextlib.contextmanager
def _memory_handed_back() -> Iterator[Callable[[], None]]:
    """Memory the slices no longer use given back to the system as they go: what makes a
    longer sheet cost more than the 16 bytes a row of its repeats' keys.

    pyarrow's buffers come from jemalloc while the slices go through (its default, mimalloc,
    kept 70-110 MB more at the peak of a million rows, and more the longer the sheet); the
    pool is put back after. What is yielded is called once a slice is written: every fourth
    time, glibc's ``malloc_trim`` gives back the free pages of the heaps where numpy's arrays
    of a slice were (three threads, three heaps, each keeping what it freed). Measured on the
    benchmark's sheets, peak memory over 1M and 3M rows: mimalloc 450-470 and 500-515 MB
    (25-37 bytes an extra row), jemalloc 357-362 and 420-426 MB (32), with the trims 353-356
    and 395-413 MB (22).
    """
    import pyarrow as pa

    before = pa.default_memory_pool()
    with contextlib.suppress(NotImplementedError):  # a pyarrow built without it
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    trim = _malloc_trim()
    written = itertools.count(1)

    def hand_back() -> None:
        if trim is not None and next(written) % 4 == 0:
            trim(0)

    try:
        yield hand_back
    finally:
        pa.set_memory_pool(before)


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` (another C library: musl, macOS, Windows)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] | None = getattr(ctypes.CDLL(name), "malloc_trim", None)
    except OSError:
        return None
    return trim


def _slices(
    path: Path, layout: CsvLayout, slice_bytes: int
) -> Iterator[tuple[list[pa.Array], np.ndarray]]:
    """The file's rows, a slice at a time: every column's cells (blank rows dropped) and the
    rows' sheet numbers; at least one slice (maybe empty)."""
    import pyarrow as pa

    first_row = layout.header_row + 1
    width = len(layout.headers)
    batches = stream_columns(path, layout.delimiter, width, layout.header_row, slice_bytes)
    made = False
    while True:
        try:
            batch = next(batches, None)
        except Exception as error:  # pyarrow's own errors have no common base
            raise _Refused from error
        if batch is None:
            break
        height = len(batch[0])
        if height or not made:
            keep = non_blank(batch)
            if keep is None:
                yield batch, np.arange(first_row, first_row + height, dtype=np.int64)
            else:
                taken = pa.array(keep)
                yield [column.take(taken) for column in batch], keep + first_row
            made = True
        first_row += height
    if not made:
        yield [pa.array([], pa.large_string()) for _ in range(width)], np.zeros(0, np.int64)
