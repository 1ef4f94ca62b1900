"""The workbook guard refuses files built to exhaust memory, and lets real files through."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from importer.errors import UnsafeFileError
from importer.guard import check_workbook
from tests.conftest import ZOHO_HEADERS, ZOHO_ROW, write_xlsx


def test_real_workbook_passes(tmp: Path) -> None:
    """An ordinary workbook is not refused."""
    check_workbook(write_xlsx(tmp / "ok.xlsx", [ZOHO_HEADERS, ZOHO_ROW] * 50))


def test_zip_bomb_is_refused_by_ratio(tmp: Path) -> None:
    """An entry that unpacks thousands of times its packed size is refused before reading."""
    path = tmp / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", b"<sst>" + b"A" * 20_000_000 + b"</sst>")
    with pytest.raises(UnsafeFileError, match=r"compressed \d+ times"):
        check_workbook(path)


def test_lying_entry_size_is_refused(tmp: Path) -> None:
    """A zip whose entry data does not match its declared CRC is refused as damaged."""
    path = write_xlsx(tmp / "ok.xlsx", [ZOHO_HEADERS, ZOHO_ROW])
    data = bytearray(path.read_bytes())
    marker = data.find(b"xl/worksheets/sheet1.xml") + len("xl/worksheets/sheet1.xml")
    data[marker + 5] ^= 0xFF  # corrupt the compressed sheet data just after its local header
    path.write_bytes(bytes(data))
    with pytest.raises(UnsafeFileError, match="damaged"):
        check_workbook(path)


def test_damaged_compound_file_is_refused(tmp: Path) -> None:
    """A legacy .xls whose compound-file header is garbage is refused as damaged, not read."""
    path = tmp / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 100)
    with pytest.raises(UnsafeFileError, match="damaged"):
        check_workbook(path)


def test_text_files_are_left_to_the_reader(tmp: Path) -> None:
    """Bytes that are neither a zip nor a compound file are not judged here."""
    path = tmp / "notes.xlsx"
    path.write_bytes(b"Session name\nOnboarding\n")
    check_workbook(path)
