"""Write the hostile files of the regression corpus (``python tests/corpus/make_corpus.py``).

Every file is small (a few KB at most) and built by hand, byte for byte, so that the corpus
can be regenerated and reviewed: each one once crashed, hung or fooled the importer (issue 12)
or is a close variant of one that did. ``tests/test_corpus.py`` runs the real command line on
each and expects one plain line and exit 2 (or, for the ``ok-`` files, a normal result).
"""

from __future__ import annotations

import io
import struct
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_MAIN}" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)
_HEADER = '<row r="1"><c r="A1" t="inlineStr"><is><t>Session name</t></is></c></row>'


_STAMP = (2026, 1, 1, 0, 0, 0)


def _put(archive: zipfile.ZipFile, name: str, data: str, deflate: bool = True) -> None:
    """Add an entry with a fixed date, so the corpus is the same byte for byte each time."""
    info = zipfile.ZipInfo(name, date_time=_STAMP)
    info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    archive.writestr(info, data)


def xlsx(
    sheet_xml: str, shared_strings: str | None = None, part: str = "worksheets/sheet1.xml"
) -> bytes:
    """A minimal xlsx whose first worksheet is ``sheet_xml`` (deflated, as Excel does).

    ``part`` names the worksheet's part under ``xl/`` (in the workbook's relationships and
    the content types too): the reader finds it whatever it is called.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        _put(archive, "[Content_Types].xml", _CONTENT_TYPES.replace("worksheets/sheet1.xml", part))
        _put(archive, "_rels/.rels", _ROOT_RELS)
        _put(archive, "xl/workbook.xml", _WORKBOOK)
        _put(
            archive,
            "xl/_rels/workbook.xml.rels",
            _WORKBOOK_RELS.replace("worksheets/sheet1.xml", part),
        )
        _put(archive, f"xl/{part}", sheet_xml)
        if shared_strings is not None:
            _put(archive, "xl/sharedStrings.xml", shared_strings)
    return buffer.getvalue()


def sheet(rows: str, root: str = "worksheet", prefix: str = "") -> str:
    """A worksheet part around ``rows`` (``prefix`` like ``x:`` binds the main namespace)."""
    xmlns = f"xmlns:{prefix[:-1]}" if prefix else "xmlns"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><{prefix}{root} {xmlns}="{_MAIN}">'
        f"<{prefix}sheetData>{rows}</{prefix}sheetData></{prefix}{root}>"
    )


_ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
)


def ods(rows: str) -> bytes:
    """A minimal OpenDocument spreadsheet whose one table holds ``rows``."""
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODS_NS} '
        'office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Sheet1">'
        f"{rows}</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        _put(archive, "mimetype", "application/vnd.oasis.opendocument.spreadsheet", False)
        _put(archive, "META-INF/manifest.xml", manifest)
        _put(archive, "content.xml", content)
    return buffer.getvalue()


def cell(text: str) -> str:
    return (
        f'<table:table-cell office:value-type="string"><text:p>{text}</text:p></table:table-cell>'
    )


# --- legacy .xls: BIFF8 records in an OLE2 compound file ------------------------------------


def _record(kind: int, data: bytes) -> bytes:
    return struct.pack("<HH", kind, len(data)) + data


def biff_workbook(
    cells: list[tuple[int, int, float]], dimensions: tuple[int, int, int, int] | None
) -> bytes:
    """A BIFF8 Workbook stream: globals (one BOUNDSHEET) then one sheet with NUMBER cells."""
    bof_globals = _record(0x0809, struct.pack("<HHHHII", 0x0600, 0x0005, 0, 0, 0, 0x0600))
    bof_sheet = _record(0x0809, struct.pack("<HHHHII", 0x0600, 0x0010, 0, 0, 0, 0x0600))
    eof = _record(0x000A, b"")
    name = "Sheet1".encode("latin-1")
    boundsheet_len = 4 + 4 + 2 + 2 + len(name)
    body = b""
    if dimensions is not None:
        first_row, last_row, first_col, last_col = dimensions
        body += _record(0x0200, struct.pack("<IIHHH", first_row, last_row, first_col, last_col, 0))
    body += b"".join(_record(0x0203, struct.pack("<HHHd", r, c, 0, v)) for r, c, v in cells)
    sheet_stream = bof_sheet + body + eof
    globals_len = len(bof_globals) + boundsheet_len + len(eof)
    # Pad the globals so the stream is over 4096 bytes (no mini stream in our container).
    pad = max(0, 4200 - globals_len - len(sheet_stream) - 4)
    globals_len += 4 + pad
    boundsheet = _record(
        0x0085, struct.pack("<IBBB", globals_len, 0, 0, len(name)) + b"\x00" + name
    )
    filler = _record(0x00EF, b"\x00" * pad)  # an unknown record readers skip
    return bof_globals + boundsheet + filler + eof + sheet_stream


def ole_file(stream: bytes, name: str = "Workbook") -> bytes:
    """An OLE2 compound file (version 3, 512-byte sectors) holding one stream (up to 7 MB)."""
    return ole_streams([(name, stream)])


def ole_streams(streams: list[tuple[str, bytes]]) -> bytes:
    """An OLE2 compound file (version 3, 512-byte sectors) holding these streams (up to 3).

    Each stream must be 4,096 bytes or more (no mini stream is written); they hang off the
    root as a chain of right siblings.
    """
    sector = 512
    per_fat = sector // 4
    sizes = [-(-len(data) // sector) for _, data in streams]
    stream_sectors = sum(sizes)
    end, free, fat_mark = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
    fats = 1
    while fats * per_fat < fats + 1 + stream_sectors:
        fats += 1
    if fats > 109:
        raise ValueError("the header maps at most 109 FAT sectors: keep the stream under 7 MB")
    first = fats + 1  # FAT sectors, then the directory, then the streams
    fat = [fat_mark] * fats + [end]
    starts, at = [], first
    for count in sizes:
        starts.append(at)
        fat += [at + i + 1 for i in range(count - 1)] + [end]
        at += count
    fat += [free] * (fats * per_fat - len(fat))
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16
    header += struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\x00" * 6
    # directory sectors (0 in version 3), FAT sectors, first directory sector, transaction,
    # mini stream cutoff, first mini FAT sector, mini FAT sectors, first DIFAT sector, DIFAT sectors
    header += struct.pack("<IIIIIIIII", 0, fats, fats, 0, 4096, end, 0, end, 0)
    header += struct.pack(f"<{fats}I", *range(fats))  # DIFAT: where the FAT sectors are
    header += struct.pack("<I", free) * (109 - fats)
    header = header[:sector].ljust(sector, b"\x00")

    def entry(title: str, kind: int, start: int, size: int, child: int, right: int) -> bytes:
        encoded = (title + "\x00").encode("utf-16-le")
        return (
            encoded.ljust(64, b"\x00")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", free, right, child)
            + b"\x00" * 16
            + struct.pack("<I", 0)
            + b"\x00" * 16
            + struct.pack("<IQ", start, size)
        )

    directory = entry("Root Entry", 5, end, 0, 1, free)
    for number, ((name, data), start) in enumerate(zip(streams, starts, strict=True)):
        right = number + 2 if number + 1 < len(streams) else free
        directory += entry(name, 2, start, len(data), free, right)
    directory = directory.ljust(sector, b"\x00")
    data = b"".join(
        data.ljust(count * sector, b"\x00") for (_, data), count in zip(streams, sizes, strict=True)
    )
    return header + struct.pack(f"<{len(fat)}I", *fat) + directory + data


def biff_shared_string_workbook(length: int, rows: int, columns: int) -> bytes:
    """A BIFF8 Workbook stream: one shared string of ``length`` characters in every cell."""
    bof_globals = _record(0x0809, struct.pack("<HHHHII", 0x0600, 0x0005, 0, 0, 0, 0x0600))
    bof_sheet = _record(0x0809, struct.pack("<HHHHII", 0x0600, 0x0010, 0, 0, 0, 0x0600))
    eof = _record(0x000A, b"")
    # SST: totals, then the string (8-bit characters), continued in CONTINUE records, each
    # of which starts again with the string's flags byte.
    first = b"A" * min(length, 8224 - 11)
    sst = _record(0x00FC, struct.pack("<IIHB", rows * columns, 1, length, 0) + first)
    left = length - len(first)
    while left > 0:
        piece = min(left, 8223)
        sst += _record(0x003C, b"\x00" + b"A" * piece)
        left -= piece
    cells = b"".join(
        _record(0x00FD, struct.pack("<HHHI", r, c, 0, 0))
        for r in range(rows)
        for c in range(columns)
    )
    name = b"Sheet1"
    boundsheet_len = 4 + 4 + 2 + 2 + len(name)
    # Over 4096 bytes, so that the stream is not one for the mini stream (which we do not write).
    pad = max(0, 4200 - len(bof_globals) - boundsheet_len - len(sst) - 2 * len(eof) - len(cells))
    sst += _record(0x00EF, b"\x00" * pad)  # an unknown record readers skip
    offset = len(bof_globals) + boundsheet_len + len(sst) + len(eof)
    boundsheet = _record(0x0085, struct.pack("<IBBB", offset, 0, 0, len(name)) + b"\x00" + name)
    return bof_globals + boundsheet + sst + eof + bof_sheet + cells + eof


def biff_hidden_sheet(dimensions: tuple[int, int, int, int]) -> bytes:
    """A BIFF8 Workbook stream whose only sheet lies inside another record's body.

    The BOUNDSHEET record points into an unknown record (which readers skip when they walk
    the stream record after record) holding a whole sheet: BOF, DIMENSIONS, EOF. The reader
    starts the sheet where BOUNDSHEET says, so it reads that DIMENSIONS record.
    """
    bof_globals = _record(0x0809, struct.pack("<HHHHII", 0x0600, 0x0005, 0, 0, 0, 0x0600))
    bof_sheet = _record(0x0809, struct.pack("<HHHHII", 0x0600, 0x0010, 0, 0, 0, 0x0600))
    eof = _record(0x000A, b"")
    first_row, last_row, first_col, last_col = dimensions
    sheet = (
        bof_sheet
        + _record(0x0200, struct.pack("<IIHHH", first_row, last_row, first_col, last_col, 0))
        + eof
    )
    name = b"Sheet1"
    boundsheet_len = 4 + 4 + 2 + 2 + len(name)
    at = len(bof_globals) + boundsheet_len + 4  # the hidden sheet: the filler's body
    boundsheet = _record(0x0085, struct.pack("<IBBB", at, 0, 0, len(name)) + b"\x00" + name)
    filler = _record(0x00EF, sheet.ljust(4200, b"\x00"))
    return bof_globals + boundsheet + filler + eof


def biff_encrypted_workbook() -> bytes:
    """A BIFF8 Workbook stream with a FILEPASS record (RC4 encryption), as Excel writes one."""
    bof_globals = _record(0x0809, struct.pack("<HHHHII", 0x0600, 0x0005, 0, 0, 0, 0x0600))
    filepass = _record(0x002F, struct.pack("<HHH", 1, 1, 1) + b"\x00" * 48)
    filler = _record(0x00EF, b"\x00" * 4200)  # encrypted records, as far as anyone can tell
    return bof_globals + filepass + filler + _record(0x000A, b"")


def encrypted_package() -> bytes:
    """What Excel saves for an .xlsx with a password to open it: a compound file holding
    EncryptionInfo (here Agile encryption's version and XML) and the EncryptedPackage."""
    info = struct.pack("<HHI", 4, 4, 0x40) + (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<encryption xmlns="http://schemas.microsoft.com/office/2006/encryption"/>'
    )
    package = struct.pack("<Q", 4096) + bytes(range(256)) * 16
    return ole_streams([("EncryptionInfo", info.ljust(4096, b"\x00")),
                        ("EncryptedPackage", package)])  # fmt: skip


# --- the corpus ---------------------------------------------------------------------------


_ZOHO_HEADER = (
    "Course ID,Batch ID,Module ID,Session name,Trainer erecno,Type,Date,Start time,End time"
)
_ZOHO_ROW = (
    "478346000019479103,478346000019479115,478346000019479119,Session {n},"
    "478346000008251001,0,04-01-2022,10:00 AM,11:00 AM"
)


def zoho_csv(rows: int, newline: str = "\r\n") -> str:
    """A valid Zoho People CSV of ``rows`` sessions."""
    lines = [_ZOHO_HEADER] + [_ZOHO_ROW.format(n=n) for n in range(1, rows + 1)]
    return newline.join(lines) + newline


def corpus() -> dict[str, bytes]:
    """Every hostile file, by name (the suffix is the format the importer is told)."""
    far = '<row r="1048576"><c r="XFD1048576" t="n"><v>1</v></c></row>'
    files: dict[str, bytes] = {
        # Spellings the old regular expressions missed; each sizes a 16384 x 1048576 grid.
        "xlsx-single-quotes.xlsx": xlsx(sheet(_HEADER + far.replace('"', "'"))),
        "xlsx-spaces-around-equals.xlsx": xlsx(
            sheet(_HEADER + '<row r = "1048576"><c  r =  "XFD1048576"><v>1</v></c></row>')
        ),
        "xlsx-namespace-prefix.xlsx": xlsx(
            sheet(_HEADER + far.replace("<", "<x:").replace("<x:/", "</x:"), prefix="x:")
        ),
        "xlsx-newline-in-tag.xlsx": xlsx(
            sheet(_HEADER + '<row\nr="1048576"><c\n\tr="XFD1048576"><v>1</v></c></row>')
        ),
        # Cells without r= take the next position: 16,384 of them reach column XFD.
        "xlsx-implicit-positions.xlsx": xlsx(
            sheet(_HEADER + '<row r="1048576">' + "<c><v>1</v></c>" * 16384 + "</row>")
        ),
        # A legal shape inside the old limits: A1 and one cell at AMJ48000 (49 M cells).
        "xlsx-amj48000.xlsx": xlsx(
            sheet(_HEADER + '<row r="48000"><c r="AMJ48000"><v>1</v></c></row>')
        ),
        # One shared string of 32 KB in 40,000 cells: 1.3 GB of text once copied per cell
        # (each part stays under 1 MB, so the compression ratio alone does not stop it).
        "xlsx-shared-string-fanout.xlsx": xlsx(
            sheet(_HEADER + ("<row>" + '<c t="s"><v>0</v></c>' * 10 + "</row>") * 4_000),
            f'<sst xmlns="{_MAIN}" count="1" uniqueCount="1"><si><t>{"A" * 32_000}</t></si></sst>',
        ),
        # An entity declaration (billion laughs): refused, never expanded.
        "xlsx-billion-laughs.xlsx": xlsx(
            '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            + "".join(
                f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                for i in range(1, 10)
            )
            + f']><worksheet xmlns="{_MAIN}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>'
        ),
        # Not XML at all inside a valid zip.
        "xlsx-broken-xml.xlsx": xlsx(f'<worksheet xmlns="{_MAIN}"><sheetData><row r="1"><c r="A1"'),
        # A zip cut in the middle (a half-copied upload).
        "xlsx-truncated.xlsx": xlsx(sheet(_HEADER))[:300],
        # Repeated rows and columns in OpenDocument: 1,048,575 rows, or 16,384 columns, of text.
        "ods-repeated-rows.ods": ods(
            "<table:table-row>" + cell("Session name") + "</table:table-row>"
            '<table:table-row table:number-rows-repeated="1048575"><table:table-cell '
            'table:number-columns-repeated="20" office:value-type="string"><text:p>x</text:p>'
            "</table:table-cell></table:table-row>"
        ),
        "ods-repeated-columns.ods": ods(
            "<table:table-row>" + cell("Session name") + "</table:table-row>"
            '<table:table-row table:number-rows-repeated="5000"><table:table-cell '
            'table:number-columns-repeated="16384" office:value-type="string"><text:p>x</text:p>'
            "</table:table-cell></table:table-row>"
        ),
        # A legacy .xls whose sheet spans 65,536 rows by 256 columns (the BIFF8 maximum).
        "xls-huge-used-range.xls": ole_file(
            biff_workbook([(0, 0, 1.0), (65535, 255, 2.0)], (0, 65536, 0, 256))
        ),
        # One shared string of 32,000 characters in 25,000 cells: 800 MB of text once copied.
        "xls-shared-string-fanout.xls": ole_file(biff_shared_string_workbook(32_000, 2_500, 10)),
        # A worksheet part not named *.xml (found through the workbook's relationships and
        # the content types): one cell at XFD1048576 aborted the process, 512 GiB asked for.
        "xlsx-sheet-not-named-xml.xlsx": xlsx(sheet(_HEADER + far), part="worksheets/data.dat"),
        # A shared-string table declaring 2**31 - 1 strings: 48 GiB set aside before reading.
        "xlsx-unique-count.xlsx": xlsx(
            sheet(_HEADER),
            f'<sst xmlns="{_MAIN}" count="1" uniqueCount="2147483647"><si><t>a</t></si></sst>',
        ),
        # One cell, and a DIMENSIONS record claiming 2**32 - 1 rows by 256 columns: the
        # reader sets aside room for all of them (40 TB) and aborted the process.
        "xls-dimensions-huge.xls": ole_file(biff_workbook([(0, 0, 1.0)], (0, 2**32 - 1, 0, 256))),
        # The same file named .csv: its content, not its name, makes it a workbook.
        "xls-dimensions-huge-renamed.csv": ole_file(
            biff_workbook([(0, 0, 1.0)], (0, 2**32 - 1, 0, 256))
        ),
        # Last row before the first: the reader's row count wraps round to about 2**32.
        "xls-dimensions-inverted.xls": ole_file(biff_workbook([(0, 0, 1.0)], (10, 5, 0, 3))),
        # The sheet (and its DIMENSIONS) hidden in another record's body, where BOUNDSHEET
        # points: only a walk from that offset, as the reader's, sees it.
        "xls-dimensions-hidden-sheet.xls": ole_file(biff_hidden_sheet((0, 2**32 - 1, 0, 256))),
        # Password-protected workbooks: an .xls with FILEPASS, an encrypted .xlsx package.
        "xls-encrypted.xls": ole_file(biff_encrypted_workbook()),
        "xlsx-encrypted.xlsx": encrypted_package(),
        # An .xls that is not a compound file at all.
        "xls-garbage.xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600,
        # A quote opened in the last column of row 4 and never closed: it swallowed rows 5-11
        # into one cell, and `run` created 3 sessions and exited 0.
        "csv-unclosed-quote.csv": zoho_csv(10)
        .replace("11:00 AM\r\n478346000019479103", '"11:00 AM\r\n478346000019479103', 4)
        .replace('"11:00 AM', "11:00 AM", 3)
        .encode(),
        # A cell of 140,000 characters (Excel holds 32,767; csv's own limit is 131,072).
        "csv-long-cell.csv": (zoho_csv(2).replace("Session 2", "S" * 140_000)).encode(),
        # Excel's "CSV (Macintosh)": CR alone ends each line.
        "ok-csv-cr-only.csv": zoho_csv(3, "\r").encode("cp1252"),
        # Excel's "Unicode text" (UTF-16 with BOM) cut one byte into a character.
        "ok-csv-utf16-odd-byte.csv": zoho_csv(3).encode("utf-16") + b"\x00",
        # A CSV that is a text file with a lone NUL: not a sheet.
        "csv-binary.csv": b"Session name\x00\x01\x02\n",
    }
    return files


def main() -> None:
    """Write the corpus beside this script (or into the folder given)."""
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    for name, data in corpus().items():
        (target / name).write_bytes(data)
        print(f"{name}: {len(data):,} bytes")


if __name__ == "__main__":
    main()
