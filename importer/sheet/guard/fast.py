"""The guard's scans of worksheets and shared strings at C speed, for the usual forms.

The careful scan (:class:`importer.sheet.guard.scan.SheetScan`) calls Python for each of
the 3 million elements of a 100,000-row sheet: it took a third of validating one (issue
27). Here expat runs with no element handler (only the DTD and entity refusals: it still
checks that the part is well-formed XML), and the same counts are made from the bytes,
with numpy, a piece of about 2 MB at a time, cut where a ``<row r="`` starts (so that no
cell spans two pieces):

- every ``<`` opens a tag and every ``>`` closes one (no comment, CDATA, processing
  instruction or DTD, and no ``>`` in text or attribute values), so the tags are where the
  ``<`` are; their names are read at fixed offsets;
- a cell is ``<c r="A1"...`` and a row ``<row r="1"...`` (``r`` first, upper-case letters,
  at most 9 digits); no cell inside a cell, no row inside a cell; no element named
  ``...:c`` or ``...:row``; no ``'``, ``&`` or space around ``=`` inside a tag (so that
  ``t="s"`` is the only spelling of a shared-string cell); a shared-string cell holds
  exactly ``<v>digits</v>``;
- the pessimistic positions have a closed form: after events ``1..k`` (rows and cells),
  the row is ``rows(k) + max(row before, max over j <= k of (r_j - rows(j)))`` where
  ``rows(k)`` counts the row elements among them; the column is the same within each row
  (a cumulative maximum per row, see :func:`_positions`);
- text is counted in bytes (at least the characters the careful scan counts).

Shared strings (:class:`FastStrings`) the same way: pieces cut where a ``<si>`` starts, each
string's length the bytes of text between its ``<si>`` and ``</si>`` (none nested), the
root's ``uniqueCount`` handed to the careful scan's own claim.

A piece's arrays take about 10 times its size (a row is at most 4 MB here, a sheet's
scan about 20 MB over the careful one's).

Whatever falls outside these forms, and every refusal, raises :class:`GiveUp`: the part is
then scanned again, from its start, by the careful scan, which says what it always said.
So the fast path only ever *accepts*, and only with counts that are the careful scan's
(or higher, for text that is not ASCII or holds entities): ``tests/test_guard_fast.py``
checks it on generated, fuzzed and hostile sheets.
"""

from __future__ import annotations

import re
import zipfile
from array import array
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from importer.sheet.guard.scan import (
    Budget,
    SharedStrings,
    SheetScan,
    parse_part,
    xml_parser,
)

__all__ = ["FastSheet", "FastStrings", "GiveUp", "scan_sheet", "scan_strings"]

_CHUNK = 1024 * 1024
#: Bytes gathered before a piece is counted (numpy's per-call cost is then negligible).
PIECE = 2 * 1024 * 1024
#: A piece with no row start past this size (a row of megabytes) is left to the careful scan.
_MAX_CARRY = 4 * 1024 * 1024
_ROW = b'<row r="'
_PAD = 32  # zero bytes after a piece, so that reads at fixed offsets stay in bounds
_MAX_DEPTH = 256
_DECLARATION_ENCODING = re.compile(rb"""encoding\s*=\s*["']([^"']*)["']""")
_LT, _GT, _SLASH, _QUOTE, _APOSTROPHE, _AMPERSAND, _EQUALS = 60, 62, 47, 34, 39, 38, 61
_SEGMENT = 1 << 32  # spreads each row's cells apart in one cumulative maximum
_POWERS = 10 ** np.arange(8, -1, -1, dtype=np.int32)
_R = np.frombuffer(b' r="', dtype=np.uint32)[0]  # after "<c" and "<row"
_VALUE = np.frombuffer(b"<v>", dtype=np.uint8)
_VALUE_END = np.frombuffer(b"</v>", dtype=np.uint8)

Bytes = npt.NDArray[np.uint8]
Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


class GiveUp(Exception):
    """The fast path met something it does not fully understand (or a refusal)."""


def _space(values: Bytes) -> Mask:
    found: Mask = (values == 32) | (values == 9) | (values == 10) | (values == 13)
    return found


def _delimiter(values: Bytes) -> Mask:
    """What may follow an element's name: white space, ``>`` or ``/``."""
    found: Mask = _space(values) | (values == _GT) | (values == _SLASH)
    return found


def _digits(data: Bytes, at: Ints, length: Ints) -> Ints:
    """The numbers written with ``length`` (1 to 9) bytes at each offset: all ASCII digits,
    else :class:`GiveUp`."""
    # Right-aligned in 9 bytes, each place has a fixed power of ten.
    right = sliding_window_view(data, 9)[at + length - 9] - np.uint8(48)
    before = np.arange(9) < 9 - length[:, None]  # the bytes before the number's first digit
    right[before] = 0
    if (right >= 10).any():
        raise GiveUp
    number: Ints = (right.astype(np.int32) @ _POWERS).astype(np.int64)  # < 10**9 < 2**31
    return number


def _reference(data: Bytes, at: Ints, letters: bool) -> tuple[Ints, Ints]:
    """Parse ``[A-Z]{1,3}[0-9]{1,9}"`` (``letters``) or ``[0-9]{1,9}"`` at each offset.

    Returns (column, number); raises :class:`GiveUp` unless every one is in that form.
    """
    window = sliding_window_view(data, 14)[at]
    count: Ints = (
        np.argmin((window[:, :4] - np.uint8(65)) < 26, axis=1)  # letters before a non-letter
        if letters
        else np.zeros(len(at), dtype=np.int64)
    )
    end = np.argmax(window == _QUOTE, axis=1)  # 0 when there is no quote: refused below
    digits = end - count
    if letters and ((count < 1) | (count > 3)).any():
        raise GiveUp
    if ((digits < 1) | (digits > 9)).any():
        raise GiveUp
    number = _digits(data, at + count, digits)
    column = np.zeros(len(at), dtype=np.int64)
    if letters:
        first, second, third = (window[:, k].astype(np.int64) - 64 for k in range(3))
        column = np.where(
            count == 1,
            first,
            np.where(count == 2, first * 26 + second, (first * 26 + second) * 26 + third),
        )
    return column, number


def _word(data: Bytes, at: Ints) -> npt.NDArray[np.uint32]:
    """The 4 bytes at each offset, as one number each (to compare with :data:`_R`)."""
    words: npt.NDArray[np.uint32] = sliding_window_view(data, 4)[at].view(np.uint32)[:, 0]
    return words


def _cummax(values: Ints) -> Ints:
    return np.maximum.accumulate(values) if len(values) else values


def _sum(values: Ints, where: Mask) -> int:
    return int(np.sum(values, where=where))


@dataclass(frozen=True)
class _Tags:
    """One piece's tags: where each opens and closes, its first bytes, and its kind."""

    data: Bytes
    opens: Ints
    closes: Ints
    first: Bytes
    second: Bytes
    third: Bytes
    end: Mask
    empty: Mask
    equals: Ints

    def gaps(self, inside: Mask) -> int:
        """The bytes of text after the tags where ``inside`` (never the last tag)."""
        within = inside[:-1]
        found = _sum(self.opens[1:], within) - _sum(self.closes[:-1], within)
        return found - int(np.count_nonzero(within))


class _FastPart:
    """A part fed in chunks, counted a piece at a time (pieces cut before ``cut_at``)."""

    cut_at = b""
    #: Local names that, after a prefix (``<x:c>``), anywhere in the part, leave it to the
    #: careful scan.
    prefixed: tuple[bytes, ...] = ()

    def __init__(self, max_elements: int, piece: int) -> None:
        self.max_elements, self.piece = max_elements, piece
        self.buffer = bytearray()
        self.started = False
        self.elements = self.depth = 0

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the part; count every whole piece gathered."""
        self.buffer += chunk
        if len(self.buffer) < self.piece:
            return
        cut = self.buffer.rfind(self.cut_at)
        if cut <= 0:
            if len(self.buffer) > _MAX_CARRY:
                raise GiveUp
            return
        self._take(cut)

    def finish(self) -> None:
        """Count what is left of the part."""
        self._take(len(self.buffer))

    def _take(self, size: int) -> None:
        """Count the buffer's first ``size`` bytes, then drop them."""
        # Read in place (no copy), with at least _PAD bytes after them for reads at fixed
        # offsets: the next piece's, or zeros put there for the while.
        extra = max(0, size + _PAD - len(self.buffer))
        self.buffer.extend(bytes(extra))
        self._count(np.frombuffer(self.buffer, dtype=np.uint8), size)
        del self.buffer[:size]  # the views of it are gone with _count's frame
        if extra:
            del self.buffer[len(self.buffer) - extra :]

    def _count(self, data: Bytes, size: int) -> None:
        first = not self.started
        if first:
            self._start(data, size)
        tags = self._tags(data, size)
        if tags is None:
            if first:
                raise GiveUp  # the root is always in the first piece: no XML to speak of
            return
        if first:
            self.root(tags)
        self.count(tags)

    def _start(self, data: Bytes, size: int) -> None:
        """Blank the BOM and the XML declaration (UTF-8 only) of the part's first piece."""
        self.started = True
        head = data[: min(size, 4096)].tobytes()
        if b"\0" in head:
            # No XML holds a NUL: expat reads a part that starts "<\0" as UTF-16 (little
            # endian, no BOM needed), whose tags the byte counts would not see at all.
            raise GiveUp
        skip = 3 if head.startswith(b"\xef\xbb\xbf") else 0
        if head.startswith(b"<?xml", skip):
            end = head.find(b"?>")
            if end < 0:
                raise GiveUp
            encoding = _DECLARATION_ENCODING.search(head, 0, end)
            if encoding and encoding.group(1).lower() != b"utf-8":
                raise GiveUp
            skip = end + 2
        data[:skip] = 32
        if not head[skip:].lstrip().startswith(b"<"):
            raise GiveUp  # UTF-16, or not XML: expat or the careful scan will say

    def _tags(self, data: Bytes, size: int) -> _Tags | None:
        """The piece's tags, checked to be in the forms the fast path understands."""
        body = data[:size]
        colons = np.flatnonzero(body == ord(":"))
        for name in self.prefixed:
            found = _delimiter(data[colons + 1 + len(name)])
            for k, char in enumerate(name):
                found &= data[colons + 1 + k] == char
            if found.any():
                raise GiveUp  # an element (or text) ":c", ":row"...: maybe a prefixed name
        opens = np.flatnonzero(body == _LT)
        closes = np.flatnonzero(body == _GT)
        if len(opens) != len(closes):
            raise GiveUp
        if not len(opens):
            return None
        if (closes < opens).any() or (closes[:-1] > opens[1:]).any():
            raise GiveUp
        first, second, third = data[opens + 1], data[opens + 2], data[opens + 3]
        if ((first == ord("!")) | (first == ord("?"))).any():
            raise GiveUp  # a comment, CDATA, DTD or processing instruction
        equals = np.flatnonzero(body == _EQUALS)
        _no_odd_attributes(body, opens, closes, equals)
        end = first == _SLASH
        empty = data[closes - 1] == _SLASH
        # Depth, as the careful scan counts it (an empty element is one level, briefly).
        step = (~(end | empty)).view(np.int8) - end.view(np.int8)
        depth = np.cumsum(step, dtype=np.int32)
        if self.depth + int((depth + empty).max()) > _MAX_DEPTH:
            raise GiveUp
        self.depth += int(depth[-1])
        self.elements += len(opens) - int(np.count_nonzero(end))
        if self.elements > self.max_elements:
            raise GiveUp
        return _Tags(data, opens, closes, first, second, third, end, empty, equals)

    def root(self, tags: _Tags) -> None:
        """The part's first element (its root), once."""

    def count(self, tags: _Tags) -> None:
        """Count one piece's tags."""
        raise NotImplementedError


def _no_odd_attributes(body: Bytes, opens: Ints, closes: Ints, equals: Ints) -> None:
    """Refuse ``'``, ``&`` and white space around ``=`` inside a tag (see the module)."""
    suspects = [np.flatnonzero((body == _APOSTROPHE) | (body == _AMPERSAND))]
    if len(equals):
        after = body[np.minimum(equals + 1, len(body) - 1)]
        suspects.append(equals[_space(body[equals - 1]) | _space(after)])
    for where in suspects:
        if len(where):
            tag = np.searchsorted(opens, where, side="right") - 1
            if ((tag >= 0) & (where < closes[np.maximum(tag, 0)])).any():
                raise GiveUp


class FastSheet(_FastPart):
    """Count one worksheet part fed in chunks; :meth:`close` gives the totals.

    Args:
        strings: the length of each shared string (their longest, across tables).
        max_elements: past this many elements, give up (the careful scan refuses).
        fits: whether (rows, columns, text bytes) are within the budget; when they are
            not, give up at once (the careful scan refuses, with its message).
        piece: the bytes gathered before counting (small in tests, to cut sheets often).
    """

    cut_at = _ROW
    prefixed = (b"c", b"row")

    def __init__(
        self,
        strings: array[int],
        max_elements: int,
        fits: Callable[[int, int, int], bool],
        piece: int = PIECE,
    ) -> None:
        super().__init__(max_elements, piece)
        self.lengths: Ints = (
            np.frombuffer(strings, dtype=np.int64) if len(strings) else np.zeros(0, np.int64)
        )
        self.fits = fits
        self.row = self.column = self.max_row = self.max_column = self.text = 0

    def close(self) -> tuple[int, int, int, int]:
        """Count what is left: (max row, max column, text bytes, elements)."""
        self.finish()
        return self.max_row, self.max_column, self.text, self.elements

    def count(self, tags: _Tags) -> None:
        data, opens, closes = tags.data, tags.opens, tags.closes
        first, second, third, end, empty = tags.first, tags.second, tags.third, tags.end, tags.empty
        cell = (first == ord("c")) & _delimiter(second)
        cell_end = end & (second == ord("c")) & (_space(third) | (third == _GT))
        maybe = np.flatnonzero(first == ord("r"))
        rows = maybe[
            (second[maybe] == ord("o"))
            & (third[maybe] == ord("w"))
            & _delimiter(data[opens[maybe] + 4])
        ]

        # Cells: open from <c ...> to </c>, never nested, never around a row.
        opened = cell & ~empty
        inside = np.cumsum(opened.view(np.int8) - cell_end.view(np.int8), dtype=np.int32)
        if inside.min() < 0 or inside.max() > 1 or inside[-1] != 0:
            raise GiveUp
        cells = np.flatnonzero(cell)
        if (inside[cells] != opened[cells]).any() or inside[rows].any():
            raise GiveUp
        self.text += tags.gaps(inside == 1)  # the text after each tag inside a cell

        if (
            not (_word(data, opens[cells] + 2) == _R).all()
            & (_word(data, opens[rows] + 4) == _R).all()
        ):
            raise GiveUp
        columns, cell_rows = _reference(data, opens[cells] + 6, letters=True)
        _, row_numbers = _reference(data, opens[rows] + 8, letters=False)
        filled = ~empty[cells] & ~cell_end[np.minimum(cells + 1, len(opens) - 1)]
        at_row, at_column = self._positions(cells, rows, columns, cell_rows, row_numbers)
        if filled.any():
            self.max_row = max(self.max_row, int(at_row[filled].max()))
            self.max_column = max(self.max_column, int(at_column[filled].max()))
        self.text += self._shared(data, opens, closes, tags.equals, cell, cell_end, empty)
        if not self.fits(self.max_row, self.max_column, self.text):
            raise GiveUp

    def _positions(
        self, cells: Ints, rows: Ints, columns: Ints, cell_rows: Ints, row_numbers: Ints
    ) -> tuple[Ints, Ints]:
        """The pessimistic (row, column) of each cell, and the state after the piece.

        Row: at a row element ``max(row + 1, r)``, at a cell ``max(row, r)``. Column: at a
        cell ``max(column + 1, c)``, back to 0 at each row element.
        """
        order = np.concatenate([cells, rows])
        is_row = np.concatenate([np.zeros(len(cells), bool), np.ones(len(rows), bool)])
        value = np.concatenate([cell_rows, row_numbers])
        sort = np.argsort(order, kind="stable")
        is_row, value = is_row[sort], value[sort]
        counted = np.cumsum(is_row)
        row_after = counted + np.maximum(self.row, _cummax(value - counted))
        if len(row_after):
            self.row = int(row_after[-1])
        is_cell = ~is_row
        at_row = row_after[is_cell]
        segment = counted[is_cell]  # which row element each cell follows (0: none in this piece)
        index = np.arange(len(segment))
        change = np.ones(len(segment), dtype=bool)
        change[1:] = segment[1:] != segment[:-1]
        first = _cummax(np.where(change, index, 0))
        in_row = index - first + 1
        key = segment * _SEGMENT + (columns - in_row)  # cells are in document order
        best = _cummax(key) - segment * _SEGMENT
        base = np.where(segment == 0, self.column, 0)
        at_column = in_row + np.maximum(base, best)
        if len(rows):
            last_row = int(counted[-1])
            after = at_column[segment == last_row]
            self.column = int(after[-1]) if len(after) else 0
        elif len(at_column):
            self.column = int(at_column[-1])
        return at_row, at_column

    def _shared(
        self,
        data: Bytes,
        opens: Ints,
        closes: Ints,
        equals: Ints,
        cell: Mask,
        cell_end: Mask,
        empty: Mask,
    ) -> int:
        """The shared strings' bytes, once per ``t="s"`` cell holding ``<v>index</v>``."""
        equals = equals[equals >= 2]
        shared = (
            (data[equals - 1] == ord("t"))
            & _space(data[equals - 2])
            & (data[equals + 1] == _QUOTE)
            & (data[equals + 2] == ord("s"))
            & (data[equals + 3] == _QUOTE)
        )
        where = equals[shared]
        if not len(where):
            return 0
        tag = np.searchsorted(opens, where, side="right") - 1
        keep = (tag >= 0) & (where < closes[np.maximum(tag, 0)])
        tag = tag[keep]
        tag = tag[cell[tag] & ~empty[tag]]
        if not len(tag):
            return 0
        if int(tag.max()) + 3 >= len(opens):
            raise GiveUp
        if (
            (sliding_window_view(data, 3)[opens[tag + 1]] != _VALUE).any()
            or (sliding_window_view(data, 4)[opens[tag + 2]] != _VALUE_END).any()
            or not cell_end[tag + 3].all()
            or (opens[tag + 1] != closes[tag] + 1).any()
            or (opens[tag + 3] != closes[tag + 2] + 1).any()
        ):
            raise GiveUp
        length = opens[tag + 2] - closes[tag + 1] - 1
        if ((length < 1) | (length > 9)).any():
            raise GiveUp
        index = _digits(data, closes[tag + 1] + 1, length)
        known = index[index < len(self.lengths)]
        return int(self.lengths[known].sum())


class FastStrings(_FastPart):
    """The length of every shared string (``<si>``) of a part fed in chunks, in order.

    Counted in bytes of the XML text, as the careful scan counts them (in UTF-8 bytes of the
    decoded text: the same, or fewer where the text holds entities). The root's
    ``uniqueCount`` is handed to ``claim`` as the careful scan would see it.
    """

    cut_at = b"<si>"
    prefixed = (b"si",)

    def __init__(
        self, claim: Callable[[dict[str, str]], None], max_elements: int, piece: int = PIECE
    ) -> None:
        super().__init__(max_elements, piece)
        self.claim = claim
        self.lengths: array[int] = array("q")

    def close(self) -> array[int]:
        """Count what is left; the lengths."""
        self.finish()
        return self.lengths

    def root(self, tags: _Tags) -> None:
        if tags.end[0] or tags.empty[0]:
            raise GiveUp  # no root element to speak of: the careful scan will say
        tag = tags.data[tags.opens[0] + 1 : tags.closes[0]].tobytes()
        name = re.split(rb"[\s/]", tag, maxsplit=1)[0]
        if name.rpartition(b":")[2] == b"si":
            raise GiveUp
        attributes = re.findall(rb'([^\s=]+)="([^"]*)"', tag[len(name) :])
        if attributes:
            self.claim({key.decode(): value.decode() for key, value in attributes})

    def count(self, tags: _Tags) -> None:
        first, second, third, end, empty = tags.first, tags.second, tags.third, tags.end, tags.empty
        fourth = tags.data[tags.opens + 4]
        item = (first == ord("s")) & (second == ord("i")) & _delimiter(third)
        item_end = end & (second == ord("s")) & (third == ord("i")) & _delimiter(fourth)
        opened = item & ~empty
        inside = np.cumsum(opened.view(np.int8) - item_end.view(np.int8), dtype=np.int32)
        if inside.min() < 0 or inside.max() > 1 or inside[-1] != 0:
            raise GiveUp
        items = np.flatnonzero(item)
        if (inside[items] != opened[items]).any():
            raise GiveUp  # a string inside a string
        within = (inside == 1)[:-1]
        gaps = np.zeros(len(tags.opens), dtype=np.int64)
        gaps[:-1] = np.where(within, tags.opens[1:] - tags.closes[:-1] - 1, 0)
        total = np.concatenate([[0], np.cumsum(gaps)])
        lengths = np.zeros(len(items), dtype=np.int64)
        starts, ends = np.flatnonzero(opened), np.flatnonzero(item_end)
        lengths[~empty[items]] = total[ends] - total[starts]
        self.lengths.frombytes(lengths.tobytes())


def _run(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget, counter: _FastPart
) -> None:
    """Stream the part through expat (no element handlers) and the counter together."""
    parser = xml_parser(budget, info)
    with archive.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            parser.Parse(chunk, False)
            counter.feed(chunk)
            budget.tick()
        parser.Parse(b"", True)


def scan_strings(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget) -> array[int]:
    """The length of each shared string of one part: fast, else by the careful scan."""
    careful = SharedStrings(budget, array("q"), info.filename)
    try:
        counter = FastStrings(careful.claim, budget.max_elements)
        _run(archive, info, budget, counter)
        return counter.close()
    except Exception:  # anything odd, hostile or damaged: the careful scan decides
        parse_part(archive, info, careful, budget)
        return careful.lengths


def scan_sheet(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget, strings: array[int]
) -> None:
    """Bound one worksheet part: the fast path, else the careful scan from the part's start."""
    try:
        counter = FastSheet(strings, budget.max_elements, budget.fits)
        _run(archive, info, budget, counter)
        rows, columns, text, _ = counter.close()
    except Exception:  # anything odd, hostile or damaged: the careful scan decides
        parse_part(archive, info, SheetScan(budget, info.filename, strings), budget)
        return
    budget.check(info.filename, rows, columns, text)  # accepted: fits() said so
