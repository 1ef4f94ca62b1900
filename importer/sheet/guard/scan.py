"""Count what each part of a workbook would make the reader build (for the guard).

Streaming expat handlers for xlsx worksheets, shared strings and OpenDocument
``content.xml`` (the .xls records are walked in :mod:`importer.sheet.guard.xls`); all of
them feed a :class:`Budget` that refuses the file as soon as the estimate is over
the limits.
See :mod:`importer.sheet.guard.check` for why and for the figures.
"""

from __future__ import annotations

import os
import zipfile
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

from importer.core.errors import UnsafeFileError

__all__ = [
    "CELL_BYTES",
    "SHARED_STRING_BYTES",
    "TEXT_FACTOR",
    "Budget",
    "Limits",
    "OdsScan",
    "PartScan",
    "SharedStrings",
    "SheetScan",
    "local_name",
    "not_well_formed",
    "parse_part",
    "xml_parser",
]

MAX_COLUMNS = 1024
#: Bytes one cell of the used range costs, from calamine to our text frame: measured about
#: 245 for xlsx and 310 for ods (100,000 x 10 cells read: 235 MB and 294 MB over the
#: interpreter's baseline, benchmarks/hostile.py). The estimate must stay above the real cost.
CELL_BYTES = 320
#: Each byte of cell text lives in calamine, in a Python str, then in the frame.
TEXT_FACTOR = 3
#: What the reader sets aside for each shared string an xlsx *says* it holds (its
#: ``uniqueCount``), before reading any: one Rust ``String`` (measured: 2**31 - 1 of them
#: asked for 51,539,607,528 bytes and aborted the process).
SHARED_STRING_BYTES = 24
SCAN_SECONDS = 60.0
MAX_UNPACKED_BYTES = 512 * 1024 * 1024
_DEFAULT_BUDGET_MB = 2048
#: The reader's child process may use the read budget plus this much address space: the
#: interpreter and the reader's own code (about 150 MB of address space), the file's bytes
#: (at most MAX_UNPACKED_BYTES) and the cells on their way back to us (see reading_child).
_READER_HEADROOM_MB = 1024
_CHUNK = 1024 * 1024
_MAX_DEPTH = 256


@dataclass(frozen=True)
class Limits:
    """What one workbook may cost to read.

    Attributes:
        memory_bytes: the estimated memory the read may take.
        max_columns: the widest used range accepted.
        max_unpacked_bytes: the total size of a zip's entries, unpacked.
        seconds: how long the structural scan may take.
        reader_memory_bytes: the address space of the reader's child process.
    """

    memory_bytes: int = _DEFAULT_BUDGET_MB * 1024 * 1024
    max_columns: int = MAX_COLUMNS
    max_unpacked_bytes: int = MAX_UNPACKED_BYTES
    seconds: float = SCAN_SECONDS
    reader_memory_bytes: int = (_DEFAULT_BUDGET_MB + _READER_HEADROOM_MB) * 1024 * 1024

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Limits:
        """The default limits, the memory budget from ``IMPORTER_READ_BUDGET_MB``.

        The reader's child process is capped at ``IMPORTER_READER_MEMORY_MB`` of address
        space (by default the budget plus 1 GB of headroom). The guard's estimate is what a
        file it accepts costs; the cap is the backstop for whatever the guard does not
        model: past it the child fails, and the file is refused, instead of the machine
        swapping or the whole command (the inbox, the web server) being aborted.
        """
        values = env if env is not None else dict(os.environ)
        megabytes = _megabytes(values.get("IMPORTER_READ_BUDGET_MB", ""), _DEFAULT_BUDGET_MB)
        cap = _megabytes(values.get("IMPORTER_READER_MEMORY_MB", ""), 0)
        cap = cap or megabytes + _READER_HEADROOM_MB
        return cls(memory_bytes=megabytes * 1024 * 1024, reader_memory_bytes=cap * 1024 * 1024)


def _megabytes(raw: str, default: int) -> int:
    """A positive whole number of megabytes from the environment, else ``default``."""
    raw = raw.strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else default


class Budget:
    """Running totals for one sheet, checked against the limits (and a deadline)."""

    def __init__(self, name: str, limits: Limits, clock: Callable[[], float]) -> None:
        self.name, self.limits, self.clock = name, limits, clock
        self.deadline = clock() + limits.seconds
        #: The largest estimate seen so far, in bytes (the figure checked against the budget).
        self.estimate = 0

    @property
    def max_elements(self) -> int:
        """The most XML elements one part may hold (see :meth:`count`)."""
        return 4 * (self.limits.memory_bytes // CELL_BYTES) + 1_000_000

    def fits(self, rows: int, columns: int, text: int) -> bool:
        """Whether :meth:`check` would accept these counts (it raises otherwise)."""
        cost = rows * columns * CELL_BYTES + text * TEXT_FACTOR
        return columns <= self.limits.max_columns and cost <= self.limits.memory_bytes

    def tick(self) -> None:
        if self.clock() > self.deadline:
            raise UnsafeFileError(
                f"{self.name}: checking the workbook took over {self.limits.seconds:.0f} s, "
                "which only a deliberately crafted file does; refusing to open it."
            )

    def count(self, part: str, elements: int) -> None:
        """Refuse a part with far more XML elements than the cells the budget allows.

        A real sheet has about three elements per cell; millions of empty ones are
        a way to make the scan itself slow.
        """
        allowed = self.max_elements
        if elements > allowed:
            raise UnsafeFileError(
                f"{self.name}: part {part} holds over {allowed:,} XML elements, far more than "
                "its cells need, which only a deliberately crafted file does; refusing to open it."
            )

    def claim(self, part: str, what: str, size: int) -> None:
        """Refuse a size the file *declares* and the reader sets aside before reading.

        Args:
            part: the part or sheet that declares it (for the message).
            what: what it declares, as the end of a sentence.
            size: the bytes the reader would allocate for it.
        """
        self.estimate = max(self.estimate, size)
        if size > self.limits.memory_bytes:
            raise UnsafeFileError(
                f"{self.name}: {part} {what}, for which the reader would set aside "
                f"{size // 2**20:,} MB before reading a cell, over the budget of "
                f"{self.limits.memory_bytes // 2**20:,} MB; only a damaged or deliberately "
                "crafted file claims that much. Open it in Excel and save it again."
            )

    def check(self, part: str, rows: int, columns: int, text: int) -> None:
        if columns > self.limits.max_columns:
            raise UnsafeFileError(
                f"{self.name}: a sheet ({part}) reaches column {columns:,}; we read at most "
                f"{self.limits.max_columns:,} columns. Delete the stray cells far right, "
                "or save the sheet again."
            )
        cost = rows * columns * CELL_BYTES + text * TEXT_FACTOR
        self.estimate = max(self.estimate, cost)
        if cost > self.limits.memory_bytes:
            raise UnsafeFileError(
                f"{self.name}: reading a sheet ({part}: {rows:,} rows by {columns:,} columns, "
                f"{text // 2**20:,} MB of text) would take about {cost // 2**20:,} MB of memory, "
                f"over the budget of {self.limits.memory_bytes // 2**20:,} MB. Delete stray "
                "cells far down or right, or split the file (IMPORTER_READ_BUDGET_MB raises "
                "the budget)."
            )


def local_name(name: str) -> str:
    """``'prefix:local'`` (expat's names, namespaces not resolved) -> ``'local'``."""
    return name.rpartition(":")[2]


class PartScan:
    """Handlers for one streamed XML part; subclasses count what the reader will build."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.depth = 0

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self.depth += 1
        self.check_depth()

    def check_depth(self) -> None:
        """Refuse XML nested deeper than any spreadsheet program writes."""
        if self.depth > _MAX_DEPTH:
            raise UnsafeFileError(
                f"{self.budget.name}: the workbook nests XML {_MAX_DEPTH} levels deep, which "
                "only a deliberately crafted file does; refusing to open it."
            )

    def end(self, name: str) -> None:
        self.depth -= 1

    def text(self, data: str) -> None:
        """Character data (ignored unless a subclass counts it)."""

    def finish(self) -> None:
        """Called once the whole part was parsed."""


def parse_part(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, scan: PartScan, budget: Budget
) -> None:
    """Stream one zip entry through expat, with DTDs (and so entities) refused."""
    # Names are not resolved to their namespaces: only local names matter here (an element
    # of any namespace named like a cell is counted as one), and resolving costs a third.
    parser = xml_parser(budget, info)
    parser.StartElementHandler = scan.start
    parser.EndElementHandler = scan.end
    parser.CharacterDataHandler = scan.text
    parser.buffer_text = True
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                parser.Parse(chunk, False)
                budget.tick()
            parser.Parse(b"", True)
    except expat.ExpatError as error:
        raise not_well_formed(budget, info, error) from None
    scan.finish()


def xml_parser(budget: Budget, info: zipfile.ZipInfo) -> expat.XMLParserType:
    """An expat parser that refuses any DTD or entity declaration (no element handlers)."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_: Any) -> int:
        raise UnsafeFileError(
            f"{budget.name}: part {info.filename} declares a DTD or entities (an XML bomb "
            "pattern no spreadsheet program writes); refusing to open it."
        )

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    return parser


def not_well_formed(
    budget: Budget, info: zipfile.ZipInfo, error: expat.ExpatError
) -> UnsafeFileError:
    """The refusal of a part expat could not parse."""
    return UnsafeFileError(
        f"{budget.name}: part {info.filename} is not well-formed XML "
        f"({expat.errors.messages.get(error.code, 'syntax error')}, line {error.lineno}); "
        "open the file in Excel and save it again."
    )


class SharedStrings(PartScan):
    """Record the length of every shared string (``<si>``), in order."""

    def __init__(self, budget: Budget, lengths: array[int], part: str = "") -> None:
        super().__init__(budget)
        self.lengths, self.part = lengths, part
        self.current = -1

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self.depth += 1
        self.check_depth()
        if name.endswith("si") and local_name(name) == "si":
            self.current = 0
        elif self.depth == 1 and attributes:
            self.claim(attributes)

    def claim(self, attributes: dict[str, str]) -> None:
        """The reader sets aside room for ``uniqueCount`` strings before reading one."""
        for key, value in attributes.items():
            if local_name(key).lower() != "uniquecount":
                continue
            digits = value[1:] if value.startswith("+") else value  # as Rust parses a usize
            if digits.isdigit() and digits.isascii() and len(digits) <= 20:
                self.budget.claim(
                    f"part {self.part}",
                    f"declares {int(digits):,} shared strings",
                    int(digits) * SHARED_STRING_BYTES,
                )

    def end(self, name: str) -> None:
        self.depth -= 1
        if self.current >= 0 and name.endswith("si") and local_name(name) == "si":
            self.lengths.append(self.current)
            self.current = -1

    def text(self, data: str) -> None:
        if self.current >= 0:
            self.current += len(data.encode("utf-8"))


class SheetScan(PartScan):
    """Bound the used range and the text of one worksheet-like part, as calamine reads it.

    Positions are *pessimistic*: each row (and each cell in a row) is at least one
    past the previous one, and at least its own ``r=``; whatever the reader makes of
    an odd reference, it cannot place a cell further than we count. The handlers are
    called for every element of a sheet (3 million for 100,000 rows), hence their
    inlined, cached style.
    """

    def __init__(self, budget: Budget, part: str, strings: array[int]) -> None:
        super().__init__(budget)
        self.part, self.strings = part, strings
        self.row = self.column = 0
        self.max_row = self.max_column = 0
        self.text_bytes = 0
        self.cell_depth = 0  # depth of the open <c>, 0 outside a cell
        self.filled = self.shared = False
        self.value = ""
        self.elements = 0
        self.locals: dict[str, str] = {}
        self.columns: dict[str, int] = {}

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self.depth += 1
        self.elements += 1
        if self.cell_depth:
            self.filled = True  # any child (<v>, <is>, <f>): the reader may build a cell
            if self.depth > _MAX_DEPTH or not self.elements & 0xFFFF:
                self._tick()
            return
        local = self.locals.get(name)
        if local is None:
            local = local_name(name)
            if len(self.locals) < 1024:
                self.locals[name] = local
        if local == "c":
            reference = attributes.get("r")
            if reference is None:
                self.column += 1
                self.row = self.row or 1
            else:
                column = self.columns.get(reference.rstrip("0123456789"))
                digits = reference.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
                if column is None or not (digits.isdigit() and len(digits) <= 9):
                    column = self._column(reference)
                row = int(digits)
                self.column = column if column > self.column else self.column + 1
                if row > self.row:
                    self.row = row
            self.cell_depth = self.depth
            self.filled, self.shared = False, attributes.get("t") == "s"
            self.value = ""
        elif local == "row":
            reference = attributes.get("r")
            row = self.row + 1
            if reference is not None:
                if not (reference.isdigit() and reference.isascii() and len(reference) <= 9):
                    raise self._bad(reference)
                row = max(row, int(reference))
            self.row, self.column = row, 0
        if self.depth > _MAX_DEPTH or not self.elements & 0xFFFF:
            self._tick()

    def _tick(self) -> None:
        """Every 65,536 elements: the deadline, the element count and the budget so far."""
        self.check_depth()
        self.budget.tick()
        self.budget.count(self.part, self.elements)
        self.finish()  # refuse as soon as the budget is gone, not at the end of the part

    def _column(self, reference: str) -> int:
        """The column of a reference like ``AB12`` (any case), remembered by its letters."""
        letters = reference.rstrip("0123456789")
        digits = reference[len(letters) :]
        if not (letters.isalpha() and letters.isascii() and 0 < len(letters) <= 3):
            raise self._bad(reference)
        if not (digits.isdigit() and digits.isascii() and len(digits) <= 9):
            raise self._bad(reference)
        column = 0
        for char in letters.upper():
            column = column * 26 + (ord(char) - 64)
        if len(self.columns) < 20_000:
            self.columns[letters] = column
        return column

    def end(self, name: str) -> None:
        if self.depth == self.cell_depth:
            self.cell_depth = 0
            if self.filled:
                if self.row > self.max_row:
                    self.max_row = self.row
                if self.column > self.max_column:
                    self.max_column = self.column
                    if self.column > self.budget.limits.max_columns:
                        self.finish()
                if self.shared and self.value.isdigit():
                    index = int(self.value)
                    if index < len(self.strings):
                        self.text_bytes += self.strings[index]
        self.depth -= 1

    def text(self, data: str) -> None:
        if self.cell_depth:
            self.text_bytes += len(data)
            if self.shared and len(self.value) < 32:
                self.value += data.strip()

    def finish(self) -> None:
        self.budget.check(self.part, self.max_row, self.max_column, self.text_bytes)

    def _bad(self, reference: str) -> UnsafeFileError:
        return UnsafeFileError(
            f"{self.budget.name}: part {self.part} has a cell reference we cannot read "
            f"({reference[:20]!r}); open the file in Excel and save it again."
        )


_ODS_EMPTY_ATTRIBUTES = {
    "style-name",
    "number-columns-repeated",
    "number-columns-spanned",
    "number-rows-spanned",
    "content-validation-name",
    "protect",
    "protected",
}


class OdsScan(PartScan):
    """Bound each table of an OpenDocument ``content.xml``, repeats multiplied out.

    As in :class:`SheetScan`, the handlers run for every element, hence the cached
    local names.
    """

    def __init__(self, budget: Budget) -> None:
        super().__init__(budget)
        self.table = ""
        self.row = self.row_repeat = self.column = 0
        self.max_row = self.max_column = self.text_bytes = 0
        self.row_filled = False
        self.cell_depth = self.cell_repeat = 0
        self.filled = False
        self.elements = 0
        self.locals: dict[str, str] = {}

    def _name(self, name: str) -> str:
        local = self.locals.get(name)
        if local is None:
            local = local_name(name)
            if len(self.locals) < 1024:
                self.locals[name] = local
        return local

    def start(self, name: str, attributes: dict[str, str]) -> None:
        self.depth += 1
        self.elements += 1
        if self.depth > _MAX_DEPTH or not self.elements & 0xFFFF:
            self.check_depth()
            self.budget.tick()
            self.budget.count(self._part(), self.elements)
        if self.cell_depth:
            self.filled = True  # any child (<text:p>...): the cell has content
            return
        local = self._name(name)
        if local == "table-cell" or local == "covered-table-cell":
            self.cell_depth = self.depth
            if attributes:
                self.cell_repeat = self._repeat(attributes, "number-columns-repeated")
                self.filled = any(self._name(k) not in _ODS_EMPTY_ATTRIBUTES for k in attributes)
            else:
                self.cell_repeat, self.filled = 1, False
        elif local == "table-row":
            self.row_repeat = self._repeat(attributes, "number-rows-repeated") if attributes else 1
            self.column, self.row_filled = 0, False
        elif local == "table":
            self.finish()
            self.table = next((v for k, v in attributes.items() if self._name(k) == "name"), "")
            self.row = self.max_row = self.max_column = self.text_bytes = 0

    def end(self, name: str) -> None:
        if self.depth == self.cell_depth:
            self.cell_depth = 0
            self.column += self.cell_repeat
            if self.filled:
                self.row_filled = True
                if self.column > self.max_column:
                    self.max_column = self.column
        elif not self.cell_depth and self.row_filled and self._name(name) == "table-row":
            self.row += self.row_repeat
            self.max_row = self.row
            self.row_filled = False
            self.budget.check(self._part(), self.max_row, self.max_column, self.text_bytes)
        elif not self.cell_depth and self._name(name) == "table-row":
            self.row += self.row_repeat
        self.depth -= 1

    def text(self, data: str) -> None:
        if self.cell_depth:
            self.text_bytes += len(data) * self.cell_repeat * self.row_repeat

    def finish(self) -> None:
        self.budget.check(self._part(), self.max_row, self.max_column, self.text_bytes)

    def _part(self) -> str:
        return f"table {self.table!r}" if self.table else "content.xml"

    def _repeat(self, attributes: dict[str, str], what: str) -> int:
        raw = next((v for k, v in attributes.items() if self._name(k) == what), "1").strip()
        if not (raw.isdigit() and raw.isascii() and len(raw) <= 9):
            raise UnsafeFileError(
                f"{self.budget.name}: content.xml repeats a row or cell {raw[:20]!r} times, "
                "which is not a number we can read; open the file and save it again."
            )
        return max(int(raw), 1)
