"""Write the result sheet: every input row, in input order, with its outcome.

The first columns say what happened (sheet row, status, created ID, messages,
notes); then come all the input columns as typed, including the ones no vendor
field uses. As .xlsx (frozen styled header, autofilter, problem rows
highlighted, a Summary sheet) or .csv (UTF-8 with BOM, so that Excel shows
accents; the input's delimiter when it was a CSV).

Formula injection: a cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR
is never written as a formula. In .xlsx it is a string cell with Excel's
quote prefix (shown as text, and it stays text when edited); in .csv it gets
a leading apostrophe, unless it is a plain number such as ``-5``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from importer.errors import ConfigurationError
from importer.files import atomic_write

__all__ = [
    "RESULT_COLUMNS",
    "ResultSheet",
    "default_result_path",
    "neutralise",
    "write_result",
]

#: The outcome columns, before the input's own columns.
RESULT_COLUMNS = ("Sheet row", "Status", "Created ID", "Messages", "Notes")
#: Statuses whose rows are highlighted as needing attention.
PROBLEM_STATUSES = frozenset({"invalid", "rejected", "unknown", "not sent"})
_EXCEL_MAX_ROWS = 1_048_576
_EXCEL_MAX_CELL = 32_767
_DANGEROUS = "=+-@\t\r\uff1d\uff0b\uff0d\uff20"  # with the full-width forms Excel also honours
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")
# XML 1.0 cannot hold these; a CSV can carry them into a cell.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class ResultSheet:
    """What a result sheet shows.

    Attributes:
        frame: the outcome columns (:data:`RESULT_COLUMNS`) then the input
            columns, one row per input row, all text.
        summary: (label, value) lines for the Summary sheet.
        delimiter: the delimiter for CSV output.
        status_column: the column whose problem statuses highlight a row.
    """

    frame: pd.DataFrame
    summary: Sequence[tuple[str, str]]
    delimiter: str = ","
    status_column: str = "Status"


def default_result_path(source: Path) -> Path:
    """``sessions.xlsx`` -> ``sessions.result.xlsx``; CSV input gives a CSV result."""
    suffix = ".csv" if source.suffix.lower() in (".csv", ".txt", ".tsv") else ".xlsx"
    return source.with_name(f"{source.stem}.result{suffix}")


def neutralise(value: str) -> str:
    """Make a CSV cell safe to open in Excel: no formula runs from it."""
    if value and value[0] in _DANGEROUS and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


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
    # Written beside the target, then renamed over it: a full disk never truncates the last
    # good result; the file is 0600 (it holds learners' names and emails).
    with atomic_write(path) as temporary:
        if suffix == ".csv":
            _write_csv(sheet, temporary)
        else:
            _write_xlsx(sheet, temporary)
    return path


def _write_csv(sheet: ResultSheet, path: Path) -> None:
    frame = sheet.frame.copy()
    for name in frame.columns:
        column = frame[name].fillna("")
        risky = column.str.slice(0, 1).isin(list(_DANGEROUS))
        if bool(risky.any()):
            frame[name] = column.mask(risky, column[risky].map(neutralise))
    # Header cells come from the input too: an extra column named "=HYPERLINK(...)".
    frame.columns = pd.Index([neutralise(str(name)) for name in frame.columns])
    frame.to_csv(
        path, index=False, sep=sheet.delimiter, encoding="utf-8-sig", lineterminator="\r\n"
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
    plain = {False: None, True: workbook.add_format({"quote_prefix": True})}
    problem = {
        False: workbook.add_format({"bg_color": "#FFC7CE"}),
        True: workbook.add_format({"bg_color": "#FFC7CE", "quote_prefix": True}),
    }
    data = workbook.add_worksheet("Result")
    names = list(frame.columns)
    widths = {"Sheet row": 9, "Status": 10, "Created ID": 26, "Messages": 70, "Notes": 40}
    for index, name in enumerate(names):
        data.set_column(index, index, widths.get(name, min(max(len(name) + 2, 12), 40)))
    data.freeze_panes(1, 2)
    data.set_row(0, 30)
    for index, name in enumerate(names):
        data.write_string(0, index, name, quoted_header if name[:1] in _DANGEROUS else header)
    status_at = names.index(sheet.status_column)
    write = data.write_string
    columns = [frame[name].fillna("").tolist() for name in names]
    for offset, cells in enumerate(zip(*columns, strict=True)):
        formats = problem if cells[status_at] in PROBLEM_STATUSES else plain
        row = offset + 1
        for index, value in enumerate(cells):
            if not value:
                if formats is problem:
                    data.write_blank(row, index, None, problem[False])
                continue
            if len(value) > _EXCEL_MAX_CELL:
                value = value[: _EXCEL_MAX_CELL - 20] + " [cut: cell too long]"
            if _XML_ILLEGAL.search(value):
                value = _XML_ILLEGAL.sub("\ufffd", value)
            write(row, index, value, formats[value[0] in _DANGEROUS])
    data.autofilter(0, 0, len(frame), len(names) - 1)
    _write_summary(workbook, sheet.summary, header)
    try:
        workbook.close()
    except xlsxwriter.exceptions.FileCreateError as error:
        # xlsxwriter wraps the OSError of a full disk or a read-only folder.
        cause = error.args[0] if error.args and isinstance(error.args[0], OSError) else None
        raise cause or OSError(str(error)) from None


def _write_summary(workbook: object, lines: Sequence[tuple[str, str]], header: object) -> None:
    summary = workbook.add_worksheet("Summary")  # type: ignore[attr-defined]
    summary.set_column(0, 0, 28)
    summary.set_column(1, 1, 70)
    summary.write_string(0, 0, "Item", header)
    summary.write_string(0, 1, "Value", header)
    quoted = workbook.add_format({"quote_prefix": True})  # type: ignore[attr-defined]
    for row, (label, value) in enumerate(lines, start=1):
        summary.write_string(row, 0, label, quoted if label[:1] in _DANGEROUS else None)
        summary.write_string(row, 1, value, quoted if value[:1] in _DANGEROUS else None)
