"""Hand-built attacks on the guard's fast path: it never answers differently from the careful scan.

Each case is a worksheet (and maybe a shared-strings part) written byte by byte to look like
what the fast path accepts while meaning something else to expat (and so to the careful scan):
odd encodings, prefixes, spellings of ``r=`` and ``t="s"``, markup in odd places, tags cut
across pieces. For each, the guard gives the same verdict with the fast path on and off (the
same refusal, or an estimate at least as high), and on the part itself the fast path gives up
or counts at least what the careful scan counts, wherever its pieces are cut.
"""

from __future__ import annotations

import io
import struct
import sys
import zipfile
from array import array
from pathlib import Path
from typing import Any

import pytest

from importer.core.errors import UnsafeFileError
from importer.sheet.guard import check
from importer.sheet.guard.fast import FastSheet, FastStrings
from importer.sheet.guard.scan import (
    Budget,
    Limits,
    SharedStrings,
    SheetScan,
    parse_part,
    xml_parser,
)
from tests.conftest import ROOT

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_SHEET = '<worksheet xmlns="{main}" xmlns:x="urn:x"><sheetData>{rows}</sheetData></worksheet>'
_A1 = '<row r="1"><c r="A1"><v>1</v></c></row>'
_FAR = '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_STRINGS = f'<sst xmlns="{_MAIN}" uniqueCount="2"><si><t>HELLOHELLO</t></si><si><t>x</t></si></sst>'


def _sheet(rows: str, head: str = _DECLARATION) -> str:
    return head + _SHEET.format(main=_MAIN, rows=rows)


#: (id, worksheet part, shared-strings part or None).
CASES: list[tuple[str, bytes, bytes | None]] = [
    # UTF-16 with no BOM: expat reads "<\0" as UTF-16LE, the byte counts saw no tag at all.
    ("utf16le-no-bom", _sheet(_FAR, head="").encode("utf-16-le"), None),
    (
        "utf16le-no-bom-declared",
        _sheet(_FAR, head='<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16-le"),
        None,
    ),
    (
        "utf16le-no-bom-small",
        _sheet('<row r="3"><c r="C3"><v>7</v></c></row>', "").encode("utf-16-le"),
        None,
    ),
    ("utf16le-bom", b"\xff\xfe" + _sheet(_FAR, head="").encode("utf-16-le"), None),
    ("utf16be-bom", b"\xfe\xff" + _sheet(_FAR, head="").encode("utf-16-be"), None),
    ("utf16be-no-bom", _sheet(_FAR, head="").encode("utf-16-be"), None),
    (
        "utf16le-strings-no-bom",
        _sheet(_A1 + '<row r="2"><c r="A2" t="s"><v>0</v></c></row>').encode(),
        _STRINGS.replace('uniqueCount="2"', 'uniqueCount="2147483647"').encode("utf-16-le"),
    ),
    (
        "latin1-declared",
        _sheet(_FAR, head='<?xml version="1.0" encoding="ISO-8859-1"?>').encode("latin-1"),
        None,
    ),
    ("bom-utf8", b"\xef\xbb\xbf" + _sheet(_FAR).encode(), None),
    # Attributes in another namespace, and prefixed or look-alike element names.
    ("x-r-after", _sheet(_A1 + '<row r="2"><c r="A2" x:r="E7"><v>2</v></c></row>').encode(), None),
    ("x-r-first", _sheet(_A1 + '<row r="2"><c x:r="E7" r="A2"><v>2</v></c></row>').encode(), None),
    (
        "x-t-shared",
        _sheet(_A1 + '<row r="2"><c r="A2" x:t="s"><v>0</v></c></row>').encode(),
        _STRINGS.encode(),
    ),
    ("prefixed-cell", _sheet(_A1 + '<row r="2"><x:c r="XFD7"><v>2</v></x:c></row>').encode(), None),
    ("prefixed-row", _sheet('<x:row r="1048576"><c r="A1"><v>1</v></c></x:row>').encode(), None),
    ("cc", _sheet(_A1 + '<row r="2"><cc r="XFD7"><v>2</v></cc></row>').encode(), None),
    ("r-lower", _sheet(_A1 + '<row r="2">' + '<c r="xfd7"><v>2</v></c>' + "</row>").encode(), None),
    (
        "r-dollar",
        _sheet(_A1 + '<row r="2">' + '<c r="$XFD$7"><v>2</v></c>' + "</row>").encode(),
        None,
    ),
    (
        "r-leading-zeros",
        _sheet(_A1 + '<row r="2">' + '<c r="XFD0007"><v>2</v></c>' + "</row>").encode(),
        None,
    ),
    ("r-row-0", _sheet(_A1 + '<row r="2">' + '<c r="XFD0"><v>2</v></c>' + "</row>").encode(), None),
    (
        "r-space-before",
        _sheet(_A1 + '<row r="2">' + '<c r=" XFD7"><v>2</v></c>' + "</row>").encode(),
        None,
    ),
    (
        "r-space-after",
        _sheet(_A1 + '<row r="2">' + '<c r="XFD7 "><v>2</v></c>' + "</row>").encode(),
        None,
    ),
    (
        "r-ten-digits",
        _sheet(_A1 + '<row r="2">' + '<c r="A1048576000"><v>2</v></c>' + "</row>").encode(),
        None,
    ),
    (
        "r-four-letters",
        _sheet(_A1 + '<row r="2">' + '<c r="AAAA7"><v>2</v></c>' + "</row>").encode(),
        None,
    ),
    (
        "r-apostrophes",
        _sheet(_A1 + '<row r="2">' + "<c r='XFD7'><v>2</v></c>" + "</row>").encode(),
        None,
    ),
    (
        "r-character-reference",
        _sheet(_A1 + '<row r="2">' + '<c r="&#88;FD7"><v>2</v></c>' + "</row>").encode(),
        None,
    ),
    (
        "r-two-spaces",
        _sheet(_A1 + '<row r="2">' + '<c  r="XFD7"><v>2</v></c>' + "</row>").encode(),
        None,
    ),
    ("r-tab", _sheet(_A1 + '<row r="2">' + '<c\\tr="XFD7"><v>2</v></c>' + "</row>").encode(), None),
    (
        "r-newline",
        _sheet(_A1 + '<row r="2">' + '<c\\nr="XFD7"><v>2</v></c>' + "</row>").encode(),
        None,
    ),
    (
        "r-second",
        _sheet(_A1 + '<row r="2">' + '<c s="1" r="XFD7"><v>2</v></c>' + "</row>").encode(),
        None,
    ),
    (
        "no-r",
        _sheet(
            _A1
            + '<row r="2">'
            + "<c><v>1</v></c><c><v>1</v></c><c><v>1</v></c><c><v>1</v></c><c><v>1</v></c>"
            + "</row>"
        ).encode(),
        None,
    ),
    (
        "r-descending",
        _sheet(
            _A1 + '<row r="2">' + '<c r="E2"><v>1</v></c><c r="A2"><v>1</v></c>' + "</row>"
        ).encode(),
        None,
    ),
    (
        "gt-in-attribute",
        _sheet(_A1 + '<row r="2">' + '<c r="A2" x=">"><v>1</v></c>' + "</row>").encode(),
        None,
    ),
    (
        "gt-in-text",
        _sheet(_A1 + '<row r="2">' + '<c r="A2"><v>1&gt;2 > 3</v></c>' + "</row>").encode(),
        None,
    ),
    (
        "comment",
        _sheet(
            _A1
            + '<row r="2">'
            + '<c r="A2"><!-- <c r="XFD9"><v>1</v></c> --><v>1</v></c>'
            + "</row>"
        ).encode(),
        None,
    ),
    (
        "cdata",
        _sheet(
            _A1 + '<row r="2">' + '<c r="A2" t="str"><v><![CDATA[<c r="XFD9">]]></v></c>' + "</row>"
        ).encode(),
        None,
    ),
    (
        "pi",
        _sheet(
            _A1 + '<row r="2">' + '<c r="A2"><?pi <c r="XFD9"> ?><v>1</v></c>' + "</row>"
        ).encode(),
        None,
    ),
    (
        "cell-in-cell",
        _sheet(_A1 + '<row r="2">' + '<c r="A2"><c r="XFD9"><v>1</v></c></c>' + "</row>").encode(),
        None,
    ),
    (
        "empty-cell-in-cell",
        _sheet(_A1 + '<row r="2">' + '<c r="A2"><v>1</v><c r="XFD9"/></c>' + "</row>").encode(),
        None,
    ),
    (
        "self-closed",
        _sheet(_A1 + '<row r="2">' + '<c r="XFD2"/><c r="A2"/>' + "</row>").encode(),
        None,
    ),
    (
        "shared-spaces",
        _sheet(_A1 + '<row r="2">' + '<c r="A2" t = "s"><v>0</v></c>' + "</row>").encode(),
        _STRINGS.encode(),
    ),
    (
        "shared-apostrophes",
        _sheet(_A1 + '<row r="2">' + "<c r='A2' t='s'><v>0</v></c>" + "</row>").encode(),
        _STRINGS.encode(),
    ),
    (
        "shared-reference",
        _sheet(_A1 + '<row r="2">' + '<c r="A2" t="&#115;"><v>0</v></c>' + "</row>").encode(),
        _STRINGS.encode(),
    ),
    (
        "shared-tab",
        _sheet(_A1 + '<row r="2">' + '<c r="A2"\\tt="s"><v>0</v></c>' + "</row>").encode(),
        _STRINGS.encode(),
    ),
    (
        "shared-prefixed",
        _sheet(_A1 + '<row r="2">' + '<c r="A2" x:t="s"><v>0</v></c>' + "</row>").encode(),
        _STRINGS.encode(),
    ),
    (
        "shared-value-spaces",
        _sheet(_A1 + '<row r="2">' + '<c r="A2" t="s"><v> 0 </v></c>' + "</row>").encode(),
        _STRINGS.encode(),
    ),
    (
        "shared-value-reference",
        _sheet(_A1 + '<row r="2">' + '<c r="A2" t="s"><v>&#48;</v></c>' + "</row>").encode(),
        _STRINGS.encode(),
    ),
    (
        "shared-two-values",
        _sheet(_A1 + '<row r="2">' + '<c r="A2" t="s"><v>1</v><v>0</v></c>' + "</row>").encode(),
        _STRINGS.encode(),
    ),
    (
        "shared-formula-first",
        _sheet(_A1 + '<row r="2">' + '<c r="A2" t="s"><f>A1</f><v>0</v></c>' + "</row>").encode(),
        _STRINGS.encode(),
    ),
    (
        "shared-text-after",
        _sheet(_A1 + '<row r="2">' + '<c r="A2" t="s"><v>0</v>abc</c>' + "</row>").encode(),
        _STRINGS.encode(),
    ),
    (
        "shared-long-index",
        _sheet(_A1 + '<row r="2">' + '<c r="A2" t="s"><v>0000000000</v></c>' + "</row>").encode(),
        _STRINGS.encode(),
    ),
    (
        "shared-unicode-digit",
        _sheet(_A1 + '<row r="2">' + '<c r="A2" t="s"><v>\\u0660</v></c>' + "</row>").encode(),
        _STRINGS.encode(),
    ),
    (
        "inline-string",
        _sheet(
            _A1
            + '<row r="2">'
            + '<c r="A2" t="inlineStr"><is><t>abc</t><r><t>def</t></r></is></c>'
            + "</row>"
        ).encode(),
        None,
    ),
    (
        "text-outside-cells",
        _sheet(_A1 + '<row r="2">' + '<c r="A2"><v>1</v></c>hello<x>world</x>' + "</row>").encode(),
        None,
    ),
    ("rows-without-r", _sheet('<row><c r="A1"><v>1</v></c></row>' * 3).encode(), None),
    (
        "row-r-descending",
        _sheet('<row r="9"/><row r="2"><c r="A2"><v>1</v></c></row>').encode(),
        None,
    ),
    ("row-r-apostrophes", _sheet("<row r='1048576'><c r=\"A1\"><v>1</v></c></row>").encode(), None),
    (
        "prefixed-row-default-namespace",
        _sheet('<y:row xmlns:y="urn:y" r="9"><c r="A1"><v>1</v></c></y:row>').encode(),
        None,
    ),
    ("root-is-a-cell", b'<c r="C3"><v>1</v></c>', None),
    ("root-is-a-cell-declared", (_DECLARATION + '<c r="C3"><v>1</v></c>').encode(), None),
    ("stylesheet-pi-first", ('<?xml-stylesheet href="a"?>' + _sheet(_FAR, head="")).encode(), None),
    (
        "encoding-apostrophes",
        _sheet(_FAR, head="<?xml version='1.0' encoding='utf-8'?>").encode(),
        None,
    ),
    (
        "encoding-us-ascii",
        _sheet(_FAR, head='<?xml version="1.0" encoding="US-ASCII"?>').encode(),
        None,
    ),
    ("deep", _sheet(_A1 + "<a>" * 300 + "</a>" * 300).encode(), None),
    (
        "row-over-4-mb",
        _sheet(
            '<row r="1">'
            + '<c r="A1" t="inlineStr"><is><t>'
            + "x" * 5_000_000
            + "</t></is></c></row>"
            + _FAR
        ).encode(),
        None,
    ),
    (
        "far-cell-after-the-first-piece",
        _sheet(
            "".join(f'<row r="{n}"><c r="A{n}"><v>{n}</v></c></row>' for n in range(1, 90_000))
            + _FAR
        ).encode(),
        None,
    ),
    (
        "strings-count-lie",
        _sheet(_A1).encode(),
        _STRINGS.replace('uniqueCount="2"', 'uniqueCount="99999999999"').encode(),
    ),
    (
        "strings-count-apostrophes",
        _sheet(_A1).encode(),
        _STRINGS.replace('uniqueCount="2"', "uniqueCount='99999999999'").encode(),
    ),
    (
        "strings-count-spaces",
        _sheet(_A1).encode(),
        _STRINGS.replace('uniqueCount="2"', 'uniqueCount = "99999999999"').encode(),
    ),
    (
        "strings-count-prefixed",
        _sheet(_A1).encode(),
        _STRINGS.replace('uniqueCount="2"', 'xmlns:x="urn:x" x:uniqueCount="99999999999"').encode(),
    ),
    (
        "strings-count-plus",
        _sheet(_A1).encode(),
        _STRINGS.replace('uniqueCount="2"', 'uniqueCount="+99999999999"').encode(),
    ),
    (
        "strings-nested",
        _sheet(_A1 + '<row r="2"><c r="A2" t="s"><v>0</v></c></row>').encode(),
        _STRINGS.replace("<si><t>x</t></si>", "<si><si><t>long text</t></si></si>").encode(),
    ),
    (
        "strings-cdata",
        _sheet(_A1 + '<row r="2"><c r="A2" t="s"><v>1</v></c></row>').encode(),
        _STRINGS.replace("<t>x</t>", "<t><![CDATA[long long text]]></t>").encode(),
    ),
    (
        "strings-prefixed",
        _sheet(_A1 + '<row r="2"><c r="A2" t="s"><v>1</v></c></row>').encode(),
        _STRINGS.replace(
            "<si><t>x</t></si>", '<x:si xmlns:x="urn:x"><t>long text</t></x:si>'
        ).encode(),
    ),
]


def _careful_sheets(archive: Any, info: Any, budget: Any, strings: Any) -> None:
    parse_part(archive, info, SheetScan(budget, info.filename, strings), budget)


def _careful_strings(archive: Any, info: Any, budget: Any) -> array[int]:
    scan = SharedStrings(budget, array("q"), info.filename)
    parse_part(archive, info, scan, budget)
    return scan.lengths


def _corpus() -> Any:
    sys.path.insert(0, str(ROOT / "tests" / "corpus"))
    try:
        import make_corpus
    finally:
        sys.path.pop(0)
    return make_corpus


def _book(path: Path, sheet: bytes, strings: bytes | None) -> Path:
    """An xlsx around the two parts, written byte for byte (make_corpus's, parts swapped)."""
    _book_to(path, sheet, strings, [])
    return path


def _verdict(path: Path) -> str | int:
    try:
        return check.check_workbook(path, limits=Limits(memory_bytes=64 * 2**20))
    except UnsafeFileError as error:
        return str(error)
    except Exception as error:  # what check_workbook lets through: the same either way
        return type(error).__name__


@pytest.mark.parametrize(("sheet", "strings"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_fast_path_changes_no_verdict(
    sheet: bytes, strings: bytes | None, tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guard refuses the workbook with the same sentence, or accepts it with at least the
    same estimate, with the fast path on and off."""
    path = _book(tmp / "book.xlsx", sheet, strings)
    fast = _verdict(path)
    monkeypatch.setattr(check, "scan_sheet", _careful_sheets)
    monkeypatch.setattr(check, "scan_strings", _careful_strings)
    careful = _verdict(path)
    if isinstance(fast, int) and isinstance(careful, int):
        assert fast >= careful
    else:
        assert fast == careful


def _archive(name: str, xml: bytes) -> tuple[zipfile.ZipFile, zipfile.ZipInfo]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, xml)
    archive = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    return archive, archive.getinfo(name)


def _budget() -> Budget:
    return Budget("book.xlsx", Limits(memory_bytes=64 * 2**20), lambda: 0.0)


def _lengths(strings: bytes | None) -> array[int] | None:
    """The careful scan's shared-string lengths (None when it refuses the part)."""
    if strings is None:
        return array("q")
    archive, info = _archive("xl/sharedStrings.xml", strings)
    try:
        return _careful_strings(archive, info, _budget())
    except Exception:  # a refusal, or what check_workbook calls a damaged file
        return None


def _feed(counter: FastSheet | FastStrings, xml: bytes, chunk: int) -> bool:
    """Feed the part to expat and the counter as ``_run`` does; False when either gives up."""
    parser = xml_parser(_budget(), zipfile.ZipInfo("part.xml"))
    try:
        for at in range(0, len(xml), chunk):
            parser.Parse(xml[at : at + chunk], False)
            counter.feed(xml[at : at + chunk])
        parser.Parse(b"", True)
        counter.finish()
    except Exception:  # GiveUp, a refusal, expat's error: the careful scan decides
        return False
    return True


#: (piece, chunk) sizes: the production piece, and small ones that cut the part everywhere.
_CUTS = [(2 * 1024 * 1024, 1024 * 1024), (1, 1), (7, 3), (40, 11), (64, 64), (200, 97)]
#: For parts of megabytes: the production piece, and pieces cut every few rows.
_BIG_CUTS = [(2 * 1024 * 1024, 1024 * 1024), (300_000, 65_536)]


def _cuts(part: bytes) -> list[tuple[int, int]]:
    return _CUTS if len(part) < 100_000 else _BIG_CUTS


@pytest.mark.parametrize(("sheet", "strings"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_fast_path_never_counts_a_part_lower(sheet: bytes, strings: bytes | None) -> None:
    """On the parts themselves, cut into pieces anywhere: the fast path gives up, or counts
    at least what the careful scan counts (which then accepts the part too)."""
    lengths = _lengths(strings)
    if strings is not None:
        for piece, chunk in _cuts(strings):
            budget = _budget()
            careful = SharedStrings(budget, array("q"), "xl/sharedStrings.xml")
            counter = FastStrings(careful.claim, budget.max_elements, piece=piece)
            if _feed(counter, strings, chunk):
                assert lengths is not None, (piece, chunk)
                assert len(counter.lengths) == len(lengths), (piece, chunk)
                assert all(a >= b for a, b in zip(counter.lengths, lengths, strict=True))
    if lengths is None:
        return  # the careful scan refuses the shared strings: the sheet is never scanned
    archive, info = _archive("xl/worksheets/sheet1.xml", sheet)
    budget = _budget()
    scan = SheetScan(budget, info.filename, lengths)
    try:
        parse_part(archive, info, scan, budget)
        expected: tuple[int, int, int, int] | None = (
            scan.max_row,
            scan.max_column,
            scan.text_bytes,
            scan.elements,
        )
    except Exception:  # a refusal, or what check_workbook calls a damaged file
        expected = None
    for piece, chunk in _cuts(sheet):
        budget = _budget()
        sheet_counter = FastSheet(lengths, budget.max_elements, budget.fits, piece=piece)
        if not _feed(sheet_counter, sheet, chunk):
            continue
        assert expected is not None, (piece, chunk)
        found = (sheet_counter.max_row, sheet_counter.max_column, sheet_counter.text)
        assert all(a >= b for a, b in zip(found, expected[:3], strict=True)), (piece, chunk)
        assert sheet_counter.elements == expected[3], (piece, chunk)


# --- the zip around the parts: the archive the guard checks must be the one the reader reads --

_HOSTILE = _sheet(_A1 + _FAR).encode()  # the reader aborts on it (512 GiB), the guard refuses it
_BENIGN = _sheet(_A1).encode()


def _zip_bytes(sheet: bytes, extra: list[tuple[str, bytes]] | None = None) -> bytes:
    buffer = io.BytesIO()
    _book_to(buffer, sheet, None, extra or [])
    return buffer.getvalue()


def _book_to(
    target: Any, sheet: bytes, strings: bytes | None, extra: list[tuple[str, bytes]]
) -> None:
    template = zipfile.ZipFile(io.BytesIO(_corpus().xlsx("SHEET", "STRINGS")))
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in template.infolist():
            data = template.read(info)
            if data == b"STRINGS" and strings is None:
                continue
            archive.writestr(info, {b"SHEET": sheet, b"STRINGS": strings}.get(data, data))
        for name, data in extra:
            archive.writestr(name, data)


def _end(data: bytes) -> int:
    return data.rfind(b"PK\x05\x06")


def _in_comment(outer: bytes, inner: bytes) -> bytes:
    """``inner`` as the zip comment of ``outer``: zipfile finds inner's end record last."""
    end = _end(outer)
    return outer[: end + 20] + struct.pack("<H", len(inner)) + inner


def _directory(data: bytes) -> tuple[bytes, bytes, int]:
    """(entries, central directory, count) of a plain zip."""
    end = _end(data)
    _, _, _, count, size, offset, _ = struct.unpack("<HHHHIIH", data[end + 4 : end + 22])
    return data[:offset], data[offset : offset + size], count


def _shifted(directory: bytes, delta: int) -> bytes:
    """A central directory whose entries' offsets are moved by ``delta``."""
    out, at = bytearray(directory), 0
    while at < len(out):
        name, extra, comment = struct.unpack("<HHH", out[at + 28 : at + 34])
        (offset,) = struct.unpack("<I", out[at + 42 : at + 46])
        out[at + 42 : at + 46] = struct.pack("<I", offset + delta)
        at += 46 + name + extra + comment
    return bytes(out)


def _zip64_disagreeing() -> bytes:
    """The hostile and the benign archive's entries and directories in one file; its zip64
    record (which zipfile follows) describes the benign directory, its 32-bit end record (which
    the reader goes by) the hostile one."""
    hostile_entries, hostile_directory, hostile_count = _directory(_zip_bytes(_HOSTILE))
    benign_entries, benign_directory, benign_count = _directory(_zip_bytes(_BENIGN))
    body = hostile_entries + benign_entries
    benign_directory = _shifted(benign_directory, len(hostile_entries))
    hostile_at = len(body)
    body += hostile_directory
    benign_at = len(body)
    body += benign_directory
    record_at = len(body)
    record = b"PK\x06\x06" + struct.pack(
        "<QHHIIQQQQ", 44, 45, 45, 0, 0, benign_count, benign_count, len(benign_directory), benign_at
    )
    locator = b"PK\x06\x07" + struct.pack("<IQI", 0, record_at, 1)
    end = b"PK\x05\x06" + struct.pack(
        "<HHHHIIH", 0, 0, hostile_count, hostile_count, len(hostile_directory), hostile_at, 0
    )
    return body + record + locator + end


def _zip_attacks() -> list[tuple[str, bytes]]:
    """Zips read two ways. Marked "bypass": the guard accepted them (estimate 0 or 323 bytes)
    and the reader aborted on the hostile sheet (measured in a capped child process); the
    others are read alike by both today, and refused as no spreadsheet program writes them."""
    hostile, benign = _zip_bytes(_HOSTILE), _zip_bytes(_BENIGN)
    benign_end = _end(benign)
    on_disk_1 = benign[: benign_end + 4] + b"\x01\x00" + benign[benign_end + 6 :]
    return [
        # bypass: zipfile takes the last end signature, finds it cut short: "not a zip".
        ("end-signature-appended", hostile + b"PK\x05\x06"),
        # bypass: zipfile reads the benign archive in the comment, the reader skips its end
        # record (its comment runs past the file, or it is on disk 1) for the hostile one.
        ("benign-in-comment-comment-too-long", _in_comment(hostile, benign[:-2] + b"\x01\x00")),
        ("benign-in-comment-on-disk-1", _in_comment(hostile, on_disk_1)),
        # bypass: zipfile follows the zip64 record, the reader the 32-bit fields.
        ("zip64-record-contradicting-the-end-record", _zip64_disagreeing()),
        # bypass: zipfile's names (and the guard's) fold two entries into one; the guard
        # scanned the last, the reader read the other.
        (
            "sheet-twice-leading-slash",
            _zip_bytes(_HOSTILE, [("/xl/worksheets/sheet1.xml", _BENIGN)]),
        ),
        ("sheet-twice-case", _zip_bytes(_HOSTILE, [("xl/worksheets/SHEET1.xml", _BENIGN)])),
        ("sheet-twice-backslash", _zip_bytes(_HOSTILE, [("xl\\worksheets\\sheet1.xml", _BENIGN)])),
        ("benign-archive-in-comment", _in_comment(hostile, benign)),
        ("bytes-after-the-end", hostile + b"x" * 100),
        ("prepended-bytes", b"MZ" + b"\0" * 62 + hostile),
    ]


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize(
    ("data"), [a[1] for a in _zip_attacks()], ids=[a[0] for a in _zip_attacks()]
)
def test_an_archive_read_two_ways_is_refused(data: bytes, tmp: Path) -> None:
    """A zip that the reader's zip library may read as another archive than zipfile does is
    refused (see :func:`_zip_attacks`: five of them got past the guard, and the reader aborted
    on a cell at XFD1048576 that the guard never saw)."""
    path = tmp / "book.xlsx"
    path.write_bytes(data)
    with pytest.raises(UnsafeFileError, match=r"ambiguous|twice"):
        check.check_workbook(path)


def test_plain_zip_variants_are_still_read(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A zip comment and a zip64 end record that agree with the rest are not refused."""
    path = tmp / "book.xlsx"
    source = zipfile.ZipFile(io.BytesIO(_zip_bytes(_BENIGN)))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            archive.writestr(info, source.read(info))
        archive.comment = b"written by hand"
    assert check.check_workbook(path) > 0
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)  # zipfile then writes zip64 records
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            archive.writestr(info, source.read(info))
    assert b"PK\x06\x07" in path.read_bytes()
    assert check.check_workbook(path) > 0
