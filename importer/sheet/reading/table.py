"""Read a coordinator's spreadsheet (CSV, xlsx, xls, ods) into a frame of text.

Every cell becomes text exactly as the coordinator sees it, so that IDs keep
their leading zeros and long numeric IDs are never turned into floats. Every
row keeps the row number Excel shows for it (the frame's index), which is what
error messages quote. Blank rows are dropped *after* numbering, and the header
row is found even below a title row.

Workbooks are read by :mod:`importer.sheet.reading.xlsx` (typed cells turned into text).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from importer.core.errors import SheetNotFoundError, UnreadableFileError
from importer.core.files import open_sheet
from importer.sheet.reading import csv_arrow, csv_checks

__all__ = [
    "HEADER_SEARCH_ROWS",
    "CsvLayout",
    "HeaderScorer",
    "Table",
    "build_frame",
    "column_letter",
    "find_header",
    "header_names",
    "is_workbook",
    "read_table",
    "utf8_csv_layout",
]

#: Given the cells of a row, how many of them look like headers we know.
HeaderScorer = Callable[[Sequence[str]], int]

#: How many rows from the top the header row is looked for in.
HEADER_SEARCH_ROWS = 20
_SNIFF_BYTES = 256 * 1024
_EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}
_WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")  # zip (xlsx, ods), OLE (xls)


@dataclass(frozen=True)
class Table:
    """The cells of one sheet, as text, under their original headers.

    Attributes:
        frame: one column per header (original text, made unique), one row per
            non-blank input row; the index holds the sheet row number (1-based,
            as Excel shows it); every value is a ``str`` ("" for an empty cell).
        source: the file read.
        sheet: the worksheet read, or ``None`` for a CSV file.
        header_row: the sheet row number of the header row.
        encoding: for CSV files, the text encoding detected.
        delimiter: for CSV files, the delimiter detected.
        skipped: for workbooks, the hidden sheets passed over to reach ``sheet``.
    """

    frame: pd.DataFrame
    source: Path
    sheet: str | None
    header_row: int
    encoding: str | None = None
    delimiter: str | None = None
    skipped: tuple[str, ...] = ()

    def which_sheet(self) -> str | None:
        """Which sheet was read, for the command's output (``None`` for a CSV file)."""
        if self.sheet is None:
            return None
        hidden = ", ".join(repr(name) for name in self.skipped)
        passed = f" (the first visible sheet; hidden, not read: {hidden})" if hidden else ""
        return f"sheet {self.sheet!r}{passed}"


def column_letter(index: int) -> str:
    """Return the spreadsheet letter of a 0-based column index (0 -> A, 27 -> AB)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def read_table(path: Path, scorer: HeaderScorer, sheet: str | None = None) -> Table:
    """Read a CSV or Excel file into a :class:`Table`.

    Args:
        path: the file; its content decides the format when the suffix lies
            (an .xlsx renamed to .csv is still read as a workbook).
        scorer: tells how header-like a row is, to find the header row.
        sheet: worksheet name for workbooks (case-insensitive); the first
            visible sheet when omitted.

    Raises:
        UnreadableFileError: missing, empty or undecodable file; not a regular file.
        UnsafeFileError: a workbook that would exhaust memory.
        SheetNotFoundError: ``sheet`` is not in the workbook.
    """
    # The one door of every reader: a pipe, a device, a folder or a socket stops here.
    with open_sheet(path) as handle:
        try:
            head = handle.read(8)
        except OSError as error:
            raise UnreadableFileError(f"{path}: cannot be read ({error.strerror}).") from None
        if not head:
            raise UnreadableFileError(f"{path}: the file is empty.")
        if is_workbook(path, head):
            # a cycle broken on purpose: the workbook reader builds on this module's header
            # finding. It reads the file the door opened, not the name again.
            from importer.sheet.reading.xlsx import read_workbook

            return read_workbook(path, handle, scorer, sheet)
    if sheet is not None:
        raise SheetNotFoundError(f"{path}: --sheet only applies to Excel workbooks, not CSV files.")
    return _read_csv(path, scorer)


def is_workbook(path: Path, head: bytes) -> bool:
    """Whether the file (whose first bytes are ``head``) is read as a workbook, not a CSV: a
    zip (xlsx, ods) or OLE (xls) file, or a workbook's suffix."""
    return head.startswith(_WORKBOOK_MAGIC) or path.suffix.lower() in _EXCEL_SUFFIXES


# --- header detection ----------------------------------------------------------------------


def find_header(rows: Sequence[Sequence[str]], scorer: HeaderScorer) -> int:
    """Return the index of the header row among the first rows.

    The header is the first row with the best score; with no row scoring,
    the first non-blank row (the column check then reports what is missing).
    """
    best, best_score, first_filled = -1, 0, -1
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if first_filled < 0:
            first_filled = index
        score = scorer(cells)
        if score > best_score:
            best, best_score = index, score
    if best >= 0:
        return best
    if first_filled >= 0:
        return first_filled
    raise UnreadableFileError("no header row: the first rows of the sheet are all blank.")


def header_names(cells: Sequence[str]) -> list[str]:
    """Turn header cells into unique column names, naming blank headers by their letter."""
    names: list[str] = []
    seen: Counter[str] = Counter()
    for index, cell in enumerate(cells):
        name = " ".join(cell.split()) or f"Column {column_letter(index)}"
        seen[name.casefold()] += 1
        if seen[name.casefold()] > 1:
            name = f"{name} ({seen[name.casefold()]})"
        names.append(name)
    return names


def build_frame(
    columns: list[list[str]] | list[pd.Series], headers: list[str], first_row: int
) -> pd.DataFrame:
    """Assemble text columns into a frame indexed by sheet row, dropping blank rows and columns.

    Args:
        columns: one sequence of cells (text) per header, all of the same length.
        headers: the column names (see :func:`header_names`).
        first_row: the sheet row number of the first cells.
    """
    # Trailing columns with neither a header nor a value are formatting leftovers.
    while (
        columns
        and headers[-1].startswith("Column ")
        and not any(cell.strip() for cell in columns[-1])
    ):
        columns.pop()
        headers.pop()
    height = len(columns[0]) if columns else 0
    index = pd.RangeIndex(first_row, first_row + height, name="row")
    frame = pd.DataFrame(
        {
            header: pd.Series(column, dtype="str").set_axis(index)
            for header, column in zip(headers, columns, strict=True)
        },
        index=index,
    )
    return _drop_blank_rows(frame)


def _drop_blank_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop rows whose every cell is blank; row numbers of the others are kept.

    Column by column, only the rows not yet known to hold something are looked at: after
    the first column, usually none is left.
    """
    if frame.empty:
        return frame
    unknown = np.arange(len(frame))
    for name in frame.columns:
        column = frame[name] if len(unknown) == len(frame) else frame[name].iloc[unknown]
        unknown = unknown[column.str.strip().eq("").to_numpy(dtype=bool)]
        if not len(unknown):
            return frame
    blank = np.zeros(len(frame), dtype=bool)
    blank[unknown] = True
    return frame.loc[~blank]


# --- CSV -----------------------------------------------------------------------------------


def _decode(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes; return the text and the name of the encoding used.

    Order: a BOM decides (UTF-8, UTF-16 LE/BE); then UTF-16 without BOM when
    every other byte is NUL; then strict UTF-8; then Windows-1252 (what Excel
    writes for "CSV" on Western Windows), falling back to Latin-1 for the five
    bytes cp1252 leaves undefined.
    """
    sample = data[:2000]
    nul_odd = len(sample) >= 4 and sample[1::2].count(0) > len(sample) // 4
    nul_even = len(sample) >= 4 and sample[0::2].count(0) > len(sample) // 4
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or nul_odd or nul_even:
        # UTF-16 cut after an odd number of bytes: the last half-character is dropped
        # (errors="replace" then only marks bytes that are really broken).
        data = data[: len(data) // 2 * 2]
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "utf-16"
    if nul_odd:
        return data.decode("utf-16-le", errors="replace"), "utf-16-le"
    if nul_even:
        return data.decode("utf-16-be", errors="replace"), "utf-16-be"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _sniff_delimiter(sample: str) -> str:
    """Choose among ``,`` ``;`` and tab the delimiter giving the steadiest column count."""
    best, best_key = ",", (False, 0, 0)
    lines = sample.splitlines()[:-1] or sample.splitlines()  # the last line may be cut
    for delimiter in (",", ";", "\t"):
        try:
            text = "\n".join(lines)
            records = [
                r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if r
            ]
        except csv.Error:
            continue  # an over-long cell: this delimiter's reading is judged later
        widths = Counter(len(record) for record in records[:50])
        if not widths:
            continue
        width, count = widths.most_common(1)[0]
        key = (width > 1, count, width)
        if key > best_key:
            best, best_key = delimiter, key
    return best


def _read_csv(path: Path, scorer: HeaderScorer) -> Table:
    csv_checks.check_size(path)
    quick = _read_utf8_csv(path, scorer)
    if quick is not None:
        return quick
    data = path.read_bytes()
    text, encoding = _decode(data)
    if not text.strip():
        raise UnreadableFileError(f"{path}: the file has no rows.")
    csv_checks.check_lines(path, text)
    if "\x00" in text[:_SNIFF_BYTES]:
        csv_checks.refuse_binary(path)
    sample = text[:_SNIFF_BYTES]
    delimiter = _sniff_delimiter(sample)
    csv_checks.check_quotes(path, text, delimiter)
    head_records = csv_checks.records(path, sample, delimiter, complete=len(text) <= len(sample))
    if len(text) > len(sample):
        head_records = head_records[:-1]  # the sample may cut the last record short
    header_index = find_header(head_records, scorer)
    headers = header_names(head_records[header_index])
    # UTF-8 goes to the fast reader untouched; other encodings are transcoded once.
    utf8 = data if encoding in ("utf-8", "utf-8-sig") else text.encode("utf-8")
    del data
    columns: list[list[str]] | list[pd.Series] | None
    try:
        columns = csv_arrow.read_columns(utf8, delimiter, len(headers), header_index + 1)
    except Exception:
        columns = None  # ragged rows, or a cell over pyarrow's block: the careful reader decides
    if columns is None:
        columns, headers = _csv_columns_python(path, text, delimiter, headers, header_index + 1)
    frame = build_frame(columns, headers, first_row=header_index + 2)
    return Table(frame, path, None, header_index + 1, encoding, delimiter)


@dataclass(frozen=True)
class CsvLayout:
    """How a UTF-8 CSV file is laid out, found from its first 256 KB.

    Attributes:
        delimiter: the cell separator.
        encoding: ``utf-8`` or ``utf-8-sig`` (with a BOM).
        header_row: the sheet row number of the header row.
        headers: the column names, made unique (blank ones named by their letter).
    """

    delimiter: str
    encoding: str
    header_row: int
    headers: list[str]


def utf8_csv_layout(
    path: Path, scorer: HeaderScorer, most_lines: int | None = None
) -> CsvLayout | None:
    """Check a big UTF-8 file and find its layout, decoding only a sample, to sniff.

    The line and quote checks read the file a chunk at a time (at most ``most_lines``
    lines: by default the whole-file path's
    :data:`~importer.sheet.reading.csv_checks.MAX_CSV_LINES`). Returns
    ``None`` (the careful path decides) for a small file, or a sample that is not UTF-8
    (or looks like UTF-16).

    Raises:
        UnreadableFileError: binary content, an unclosed quote, no header row.
        UnsafeFileError: too many lines.
    """
    if path.stat().st_size <= _SNIFF_BYTES + 3:
        return None
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES + 3)
    bom = head[:3] == b"\xef\xbb\xbf"
    head = head[3:] if bom else head[:_SNIFF_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[:2000].count(0) > 250:
        return None  # UTF-16
    try:
        sample = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    if not sample.strip():
        return None
    delimiter = _sniff_delimiter(sample)
    # The file is read once, a chunk at a time (not mapped: its pages would count as ours),
    # for its lines and its quotes; binary content is refused in between, as the
    # whole-file path does.
    csv_checks.check_file(path, delimiter, most_lines, "\x00" in sample)
    head_records = csv_checks.records(path, sample, delimiter, complete=False)[:-1]
    header_index = find_header(head_records, scorer)
    headers = header_names(head_records[header_index])
    return CsvLayout(delimiter, "utf-8-sig" if bom else "utf-8", header_index + 1, headers)


def _read_utf8_csv(path: Path, scorer: HeaderScorer) -> Table | None:
    """Read a big UTF-8 file without decoding it (see :func:`utf8_csv_layout`).

    pyarrow reads it from disk in blocks. Returns ``None`` (the careful path decides) when
    :func:`utf8_csv_layout` does, or for rows pyarrow refuses (ragged rows, bytes further
    on that are not UTF-8, an over-long cell).
    """
    layout = utf8_csv_layout(path, scorer)
    if layout is None:
        return None
    headers = list(layout.headers)
    try:
        columns = csv_arrow.read_columns(path, layout.delimiter, len(headers), layout.header_row)
    except Exception:
        return None  # the careful reader names the row, or reads the file as Windows-1252
    frame = build_frame(columns, headers, first_row=layout.header_row + 1)
    return Table(frame, path, None, layout.header_row, layout.encoding, layout.delimiter)


def _csv_columns_python(
    path: Path, text: str, delimiter: str, headers: list[str], skip: int
) -> tuple[list[list[str]], list[str]]:
    """Read records with the csv module, tolerating rows shorter or longer than the header.

    Short rows are padded with empty cells; cells beyond the header are kept in
    extra columns named by their letter, so nothing the coordinator typed is lost.
    """
    records = csv_checks.records(path, text, delimiter)[skip:]
    width = max([len(headers), *(len(record) for record in records)])
    headers = headers + [f"Column {column_letter(i)}" for i in range(len(headers), width)]
    columns: list[list[str]] = [[] for _ in range(width)]
    for record in records:
        record = record + [""] * (width - len(record))
        for index, cell in enumerate(record):
            columns[index].append(cell)
    return columns, headers
