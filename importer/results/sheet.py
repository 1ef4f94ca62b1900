"""Write the result sheet: every input row, in input order, with its outcome.

The first columns say what happened (sheet row, status, created ID, messages,
notes); then come all the input columns as typed, including the ones no vendor
field uses. As .xlsx (frozen styled header, autofilter, problem rows
highlighted, a Summary sheet) or .csv (UTF-8 with BOM, so that Excel shows
accents; the input's delimiter when it was a CSV).

Formula injection: a cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR
is never written as a formula. In .xlsx it is a string cell with Excel's
quote prefix (shown as text, and it stays text when edited); in .csv it gets
a leading apostrophe, unless it is a plain number such as ``-5`` (OWASP's
rule for CSV injection). A .csv is also safe when opened with another
separator than its own (Excel takes the locale's: a ``;`` result opened where
the list separator is ``,``): inside a cell, a comma, semicolon, tab or line
break followed by such a start gets the apostrophe after it (``a,=2+5`` is
written ``a,'=2+5``), since any of them may begin a field for some reader.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pandas as pd

from importer.core.errors import ConfigurationError
from importer.core.files import atomic_write
from importer.core.outcomes import PROBLEMS
from importer.core.secret import scrub

if TYPE_CHECKING:
    from importer.results.csv_writer import CsvWriter

__all__ = [
    "RESULT_COLUMNS",
    "ResultSheet",
    "SummaryLine",
    "check_writable",
    "csv_writer",
    "default_result_path",
    "neutralise",
    "result_path",
    "write_result",
]

#: The outcome columns, before the input's own columns.
RESULT_COLUMNS = ("Sheet row", "Status", "Created ID", "Messages", "Notes")
#: Columns whose text wraps (the rest are sized to their content).
_WRAPPED = frozenset({"Messages", "Notes", "Differences"})
#: Columns whose text may quote a vendor's answer (masked: see :func:`_scrubbed`).
_QUOTING = ("Messages", "Notes", "Differences")
#: Statuses whose rows are highlighted as needing attention.
PROBLEM_STATUSES = PROBLEMS
_EXCEL_MAX_ROWS = 1_048_576
_EXCEL_MAX_CELL = 32_767
_DANGEROUS = "=+-@\t\r\uff1d\uff0b\uff0d\uff20"  # with the full-width forms Excel also honours
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?")
#: What may end a field for some reader of a .csv: each locale's separator, a line end.
_SEPARATORS = r",;\t\r\n"
#: A formula's first character, after a separator (tab and CR are separators themselves:
#: the field after them is checked on its own).
_STARTS = "=+\\-@\uff1d\uff0b\uff0d\uff20"
#: A field start inside a cell: a separator, quotes a reader may take as the field's
#: opening, a formula's first character (also a pyarrow/RE2 pattern: no lookaround).
_INNER_START = f'[{_SEPARATORS}]"*[{_STARTS}]'
_INNER_START_RE = re.compile(_INNER_START)
#: The field after a separator inside a cell, up to the next one.
_INNER_FIELD = re.compile(f'(?<=[{_SEPARATORS}])("*[{_STARTS}][^{_SEPARATORS}]*)')
#: The characters XML 1.0 cannot hold (a CSV can carry them into a cell): replaced by U+FFFD.
_XML_ILLEGAL_CHARS = "".join(
    map(chr, (*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF))
)
_XML_ILLEGAL = re.compile(f"[{re.escape(_XML_ILLEGAL_CHARS)}]")


#: A line of the Summary sheet: (item, value) or (item, value, details); numbers stay numbers.
SummaryLine = tuple[str, str | int | float] | tuple[str, str | int | float, str]


@dataclass(frozen=True)
class ResultSheet:
    """What a result sheet shows.

    Attributes:
        frame: the outcome columns (:data:`RESULT_COLUMNS`) then the input
            columns, one row per input row, all text.
        summary: (label, value) lines for the Summary sheet.
        delimiter: the delimiter for CSV output.
        status_column: the column whose problem statuses highlight a row (``None``: no
            row is highlighted: a sheet in its owner's layout).
        title: the name of the workbook's sheet of rows.
    """

    frame: pd.DataFrame
    summary: Sequence[SummaryLine]
    delimiter: str = ","
    status_column: str | None = "Status"
    title: str = "Result"


def default_result_path(source: Path) -> Path:
    """``sessions.xlsx`` -> ``sessions.result.xlsx``; CSV input gives a CSV result."""
    suffix = ".csv" if source.suffix.lower() in (".csv", ".txt", ".tsv") else ".xlsx"
    return source.with_name(f"{source.stem}.result{suffix}")


def check_writable(path: Path, what: str) -> None:
    """Refuse, before any call is made, an output path that cannot be written.

    Raises:
        ConfigurationError: the path is a folder, under a file, or not writable.
    """
    if path.is_dir():
        raise ConfigurationError(f"{path}: {what} is a folder; give a file name.")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigurationError(
            f"{path}: {what} cannot be written: {folder} is a file, not a folder."
        )
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK):
        raise ConfigurationError(
            f"{path}: {what} cannot be written by this user ({target} is not writable); "
            "change its permissions or the path."
        )


def result_path(source: Path, result: Path | None) -> Path:
    """Where the result sheet of ``source`` goes, checked before anything is read or sent.

    Raises:
        ConfigurationError: it would overwrite the input, or cannot be written.
    """
    target = Path(result) if result is not None else default_result_path(source)
    if target.exists() and source.exists() and target.resolve() == source.resolve():
        raise ConfigurationError(
            f"{target}: the result sheet would overwrite the input sheet; give another --result."
        )
    check_writable(target, "the result sheet")
    return target


def neutralise(value: str) -> str:
    """Make a CSV cell safe to open in Excel, whichever separator it splits on: no formula runs.

    A cell starting like a formula gets a leading ``'``; so does every field start inside
    it, after a ``,``, ``;``, tab or line break (a plain number such as ``-5`` excepted).
    """
    if _INNER_START_RE.search(value):
        value = _INNER_FIELD.sub(_inner_field, value)
    if value and value[0] in _DANGEROUS and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _inner_field(match: re.Match[str]) -> str:
    """One field start inside a cell, up to the next separator, made safe unless a number."""
    field = match.group(1)
    return field if _PLAIN_NUMBER.fullmatch(field) else "'" + field


def write_result(sheet: ResultSheet, path: Path) -> Path:
    """Write ``sheet`` to ``path`` (.xlsx or .csv, by its suffix); return the path."""
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise ConfigurationError(f"{path}: the result sheet must end in .xlsx or .csv.")
    if suffix == ".xlsx" and len(sheet.frame) >= _EXCEL_MAX_ROWS:
        raise ConfigurationError(
            f"{path}: {len(sheet.frame):,} rows do not fit in an Excel sheet; "
            "ask for a .csv result instead."
        )
    sheet = _scrubbed(sheet)
    # Written beside the target, then renamed over it: a full disk never truncates the last
    # good result; the file is 0600 (it holds learners' names and emails).
    with atomic_write(path) as temporary:
        if suffix == ".csv":
            _write_csv(sheet, temporary)
        else:
            _write_xlsx(sheet, temporary)
    return path


def _scrubbed(sheet: ResultSheet) -> ResultSheet:
    """``sheet`` with every secret the process holds masked in the texts that may quote a
    vendor (its messages, notes and summary); the input's own cells are the user's data."""
    frame = sheet.frame
    masked = {}
    for name in _QUOTING:
        if name in frame.columns:
            cells = frame[name]
            # Each distinct text once: most rows share a message, or have none.
            texts = {t: scrub(t) for t in cells.dropna().unique() if isinstance(t, str) and t}
            changed = {t: m for t, m in texts.items() if m != t}
            if changed:
                masked[name] = cells.replace(changed)
    summary: list[SummaryLine] = []
    for line in sheet.summary:
        value = scrub(line[1]) if isinstance(line[1], str) else line[1]
        summary.append((line[0], value, scrub(line[2])) if len(line) > 2 else (line[0], value))
    frame = frame.assign(**masked) if masked else frame
    return replace(sheet, frame=frame, summary=summary)


def _width(name: str, cells: Sequence[str]) -> float:
    """A column wide enough for its header and its longest value (an 18-digit ID), within reason."""
    if name in _WRAPPED:
        return 60 if name == "Messages" else 40
    longest = max((len(c) for c in cells[:2000]), default=0)
    return float(min(max(len(name) + 2, longest + 2, 9), 50))


def csv_writer(out: BinaryIO, delimiter: str) -> CsvWriter:
    """A writer of a CSV result sheet into ``out``, slice by slice, cells made safe."""
    from importer.results.csv_writer import CsvWriter

    return CsvWriter(out, delimiter, neutralise, _DANGEROUS, _PLAIN_NUMBER.pattern, _INNER_START)


def _write_csv(sheet: ResultSheet, path: Path) -> None:
    from importer.results.csv_writer import write_csv

    # Header cells come from the input too: an extra column named "=HYPERLINK(...)".
    write_csv(
        sheet.frame,
        path,
        sheet.delimiter,
        neutralise,
        _DANGEROUS,
        _PLAIN_NUMBER.pattern,
        _INNER_START,
    )


def _write_xlsx(sheet: ResultSheet, path: Path) -> None:
    import xlsxwriter
    import xlsxwriter.exceptions

    frame = sheet.frame
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    header = workbook.add_format(
        {"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top"}
    )
    quoted_header = workbook.add_format(
        {"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top",
         "quote_prefix": True}
    )  # fmt: skip
    # (problem row, wrapped column, formula-like text) -> the cell's format
    formats = {
        (problem_row, wrap, quoted): workbook.add_format(
            {"valign": "top"}
            | ({"bg_color": "#FFC7CE"} if problem_row else {})
            | ({"text_wrap": True} if wrap else {})
            | ({"quote_prefix": True} if quoted else {})
        )
        for problem_row in (False, True)
        for wrap in (False, True)
        for quoted in (False, True)
    }
    data = workbook.add_worksheet(sheet.title)
    names = list(frame.columns)
    widths = [_width(name, frame[name].iloc[:2000].fillna("").tolist()) for name in names]
    wrapped = {i for i, name in enumerate(names) if name in _WRAPPED}
    for index, width in enumerate(widths):
        data.set_column(index, index, width)
    data.freeze_panes(1, 2)
    data.set_row(0, row_height([(n, w) for n, w in zip(names, widths, strict=True)]))
    for index, name in enumerate(names):
        data.write_string(0, index, name, quoted_header if name[:1] in _DANGEROUS else header)
    # The data rows are rendered column-wise (importer.results.xlsx_writer) once xlsxwriter has
    # written the rest; their formats get their numbers now (xlsxwriter's own call).
    styles = {key: cell_format._get_xf_index() for key, cell_format in formats.items()}
    data.autofilter(0, 0, len(frame), len(names) - 1)
    if sheet.summary:
        _write_summary(workbook, sheet.summary, header)
    try:
        workbook.close()
    except xlsxwriter.exceptions.FileCreateError as error:
        # xlsxwriter wraps the OSError of a full disk or a read-only folder.
        cause = error.args[0] if error.args and isinstance(error.args[0], OSError) else None
        raise cause or OSError(str(error)) from None
    if len(frame):
        from importer.results.xlsx_writer import fill_rows, problem_rows

        column = sheet.status_column
        statuses = frame[column].fillna("") if column else pd.Series("", index=frame.index)
        problem = problem_rows(statuses, set(PROBLEM_STATUSES) if column else set())
        heights = _tall_rows(frame, names, widths, wrapped)
        limits = (_EXCEL_MAX_CELL, _XML_ILLEGAL_CHARS, _DANGEROUS)
        fill_rows(path, frame, problem, wrapped, styles, heights, limits)


def _tall_rows(
    frame: pd.DataFrame, names: list[str], widths: list[float], wrapped: set[int]
) -> dict[int, float]:
    """Sheet row -> height, for rows whose wrapped cells need more than one line."""
    if not wrapped:
        return {}
    texts = {i: frame[names[i]].fillna("") for i in sorted(wrapped)}
    tall = np.zeros(len(frame), dtype=bool)
    for cells in texts.values():
        tall |= (cells.str.contains("\n", regex=False) | cells.str.len().gt(30)).to_numpy(bool)
    heights: dict[int, float] = {}
    for position in np.flatnonzero(tall).tolist():
        row = [(str(texts[i].iat[position]), widths[i]) for i in sorted(wrapped)]
        heights[position + 2] = row_height([(t, w) for t, w in row if "\n" in t or len(t) > 30])
    return heights


def _write_summary(workbook: object, lines: Sequence[SummaryLine], header: object) -> None:
    summary = workbook.add_worksheet("Summary")  # type: ignore[attr-defined]
    widths = (34, 40, 80)
    for column, width in enumerate(widths):
        summary.set_column(column, column, width)
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})  # type: ignore[attr-defined]
    quoted = workbook.add_format(  # type: ignore[attr-defined]
        {"quote_prefix": True, "text_wrap": True, "valign": "top"}
    )
    number = workbook.add_format({"align": "left", "valign": "top"})  # type: ignore[attr-defined]
    for column, title in enumerate(("Item", "Value", "Details")):
        summary.write_string(0, column, title, header)
    for row, line in enumerate(lines, start=1):
        label, value, details = line[0], line[1], (line[2] if len(line) > 2 else "")
        texts = [(label, widths[0]), (str(value), widths[1]), (str(details), widths[2])]
        summary.set_row(row, row_height(texts))
        summary.write_string(row, 0, label, quoted if label[:1] in _DANGEROUS else wrap)
        if isinstance(value, int | float):
            summary.write_number(row, 1, value, number)
        else:
            summary.write_string(row, 1, value, quoted if value[:1] in _DANGEROUS else wrap)
        if details:
            summary.write_string(row, 2, details, quoted if details[:1] in _DANGEROUS else wrap)


def row_height(cells: Sequence[tuple[str, float]], line: float = 15.0) -> float:
    """The height (points) a row needs to show wrapped text: (text, column width) per cell.

    Spreadsheets do not all grow a row to fit wrapped text on opening (LibreOffice and
    Excel differ), so the height is written: the most lines any cell takes, at most 20.
    """
    lines = 1
    for text, width in cells:
        per_line = max(int(width * 1.1), 1)
        needed = sum(max(1, -(-len(part) // per_line)) for part in text.split("\n"))
        lines = max(lines, needed)
    return min(lines, 20) * line
