"""The fast paths of issue 15 give what the careful ones gave (big CSVs, dates, writers)."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
import pytest

import importer
from importer.core.dates import iso_to_utc_text, read_datetime, to_utc
from importer.core.errors import UnreadableFileError
from importer.results import csv_writer, xlsx_writer
from importer.results.sheet import ResultSheet, neutralise, write_result
from importer.sheet.duplicates import flag_duplicates
from importer.sheet.headers import header_scorer
from importer.sheet.reading import table as reading
from importer.sheet.validation import build_schema
from importer.vendors import get_vendor
from tests.conftest import ROOT, ZOHO_HEADERS, zoho_row

SCORE = header_scorer(get_vendor("zoho-people"))
V2 = ROOT / "sample_data" / "360learning-v2-mistakes.csv"


def _big_zoho(path: Path, rows: int = 2500, tail: str = "", bom: bool = True) -> Path:
    """A Zoho sheet over the 256 KB sample, with quoted multi-line cells and accents."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ZOHO_HEADERS)
    for n in range(rows):
        name = f'Séance {n}, "quoted"\nsecond line' if n % 7 == 0 else f"Session {n}"
        writer.writerow(zoho_row(name))
    data = out.getvalue() + tail
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data.encode("utf-8"))
    assert path.stat().st_size > reading._SNIFF_BYTES
    return path


def _careful(path: Path, monkeypatch: pytest.MonkeyPatch) -> reading.Table:
    """The same file through the careful path (the whole file decoded, as before)."""
    with monkeypatch.context() as patch:
        patch.setattr(reading, "_read_utf8_csv", lambda *_: None)
        return reading.read_table(path, SCORE)


def test_big_utf8_csv_reads_as_the_careful_path(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A big UTF-8 file read from its bytes gives the same frame, encoding and delimiter."""
    path = _big_zoho(tmp / "big.csv")
    fast = reading.read_table(path, SCORE)
    slow = _careful(path, monkeypatch)
    pd.testing.assert_frame_equal(fast.frame, slow.frame)
    assert (fast.encoding, fast.delimiter, fast.header_row) == ("utf-8-sig", ",", 1)
    assert (slow.encoding, slow.delimiter) == (fast.encoding, fast.delimiter)
    assert fast.frame.loc[2, "Session name"] == 'Séance 0, "quoted"\nsecond line'


def test_big_csv_with_an_unclosed_quote_names_its_row(tmp: Path) -> None:
    """An unclosed quote near the end of a big file is found on its bytes: row and column."""
    path = _big_zoho(tmp / "open.csv", tail='478346000019479115,"never closed\r\nmore\r\n')
    with pytest.raises(UnreadableFileError, match=r"row \d+, column B: a quoted cell opens"):
        reading.read_table(path, SCORE)


def test_big_csv_not_utf8_further_on_is_read_as_windows_1252(tmp: Path) -> None:
    """A UTF-8-looking sample with a cp1252 byte further on: the careful path decodes it."""
    path = _big_zoho(tmp / "latin.csv", bom=False)
    path.write_bytes(path.read_bytes() + ",".join(zoho_row("Caf\xe9")).encode("cp1252") + b"\r\n")
    table = reading.read_table(path, SCORE)
    assert table.encoding == "cp1252"
    assert table.frame["Session name"].iloc[-1] == "Café"


def test_big_csv_with_ragged_rows_keeps_every_cell(tmp: Path) -> None:
    """Rows longer than the header in a big file: the extra cells get their own column."""
    path = _big_zoho(tmp / "ragged.csv", tail=",".join([*zoho_row("Extra"), "spill"]) + "\r\n")
    table = reading.read_table(path, SCORE)
    assert table.frame.iloc[-1].tolist()[-1] == "spill"


@pytest.mark.parametrize("batch_rows", [16_384, 4, 1])
def test_csv_result_is_byte_for_byte_what_csv_writes(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, batch_rows: int
) -> None:
    """The pyarrow CSV writer gives the bytes of csv.writer (QUOTE_MINIMAL, CRLF, BOM),
    whether the rows are joined in one batch or in many."""
    monkeypatch.setattr(csv_writer, "_BATCH_ROWS", batch_rows)
    cells = ["plain", "=1+1", "-5", "+1 call", "@SUM(A1)", "a,b", 'say "hi"', "x\ny", "cr\r",
             "", " spaced ", "été", "\tTab", "a;b", "'quoted"]  # fmt: skip
    for delimiter in (",", ";"):
        frame = pd.DataFrame(
            {"Status": ["valid"] * len(cells), "=HYPERLINK()": cells, "n": list(reversed(cells))},
            dtype="str",
        )
        path = write_result(ResultSheet(frame, [], delimiter), tmp / "out.csv")
        expected = io.StringIO(newline="")
        writer = csv.writer(expected, delimiter=delimiter, lineterminator="\r\n")
        writer.writerow([neutralise(str(c)) for c in frame.columns])
        writer.writerows([[neutralise(v) for v in row] for row in frame.itertuples(index=False)])
        assert path.read_bytes() == b"\xef\xbb\xbf" + expected.getvalue().encode("utf-8")


@pytest.mark.parametrize("batch_rows", [8_192, 1])
def test_xlsx_result_keeps_escapes_and_cuts(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, batch_rows: int
) -> None:
    """Literal _xHHHH_ text, markup characters and over-long cells read back as written,
    whether the rows' XML is joined in one batch or in many."""
    monkeypatch.setattr(xlsx_writer, "_BATCH_ROWS", batch_rows)
    cells = ["_x0041_ stays", "<b>&amp;</b>", "x" * 40_000, "ok"]
    frame = pd.DataFrame(
        {"Status": ["invalid", "valid", "valid", "valid"], "c": cells}, dtype="str"
    )
    path = write_result(ResultSheet(frame, []), tmp / "out.xlsx")
    sheet = openpyxl.load_workbook(path)["Result"]
    values = [row[1].value for row in sheet.iter_rows(min_row=2)]
    # Excel reads _x005F_ as "_" (as xlsxwriter always wrote it); openpyxl leaves it
    assert values[0] == "_x005F_x0041_ stays" and values[1] == cells[1] and values[3] == "ok"
    assert values[2].endswith(" [cut: cell too long]") and len(values[2]) == 32_767
    assert sheet["A2"].fill.fgColor.rgb.endswith("FFC7CE") and sheet.max_row == 5


def _xml_cell(text: str) -> str:
    """One cell's XML text, as the .xlsx result must write it (the rules, cell by cell)."""
    limit, mark = 32_767, " [cut: cell too long]"
    if len(text) > limit:
        text = text[: limit - len(mark)] + mark
    text = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", "\ufffd", text)
    text = re.sub("(_x[0-9a-fA-F]{4}_)", r"_x005F\1", text).replace("\r", "_x000D_")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_xlsx_cells_are_escaped_as_the_rules_say_cell_by_cell() -> None:
    """The column-wise rendering skips a change in a column holding none of its bytes: on
    columns holding each nasty character or none, every cell is what the rules give one
    cell at a time, its style quoted exactly when it is empty or starts like a formula."""
    import random

    import numpy as np
    import pyarrow as pa

    from importer.results import sheet, xlsx_writer

    nasty = ["&", "<", ">", "\r", "_x0041_", "_X00a1_", "_x12G4_", "\x01", "\x0b", "\x1f",
             "\ufffe", "\uffff", "\ufeff", "\uff01", "=", "+", "-", "@", "\t", "\uff1d",
             "\uff20", "é", "日", "\U0001f600", "x" * 32_760, " ", "\n"]  # fmt: skip
    rng = random.Random(8)
    styles = {key: n for n, key in enumerate(xlsx_writer.STYLE_KEYS)}
    dangerous = "=+-@\t\r\uff1d\uff0b\uff0d\uff20"
    for round_ in range(60):
        alphabet = [*rng.sample(nasty, rng.randint(0, 3)), "plain", "a b"]
        cells = ["".join(rng.choices(alphabet, k=rng.randint(0, 3))) for _ in range(40)]
        problem = np.array([rng.random() < 0.3 for _ in cells])
        numbers = pa.array([str(n) for n in range(2, len(cells) + 2)], pa.large_string())
        rendered = xlsx_writer._render(
            pa.array(cells, pa.large_string()), "C", numbers, problem, bool(round_ % 2),
            styles, dangerous,
            lambda c: xlsx_writer._cell_text(c, 32_767, sheet._XML_ILLEGAL_CHARS),
        ).to_pylist()  # fmt: skip
        for n, (cell, bad, xml) in enumerate(zip(cells, problem, rendered, strict=True)):
            quoted = cell == "" or cell[:1] in dangerous
            style = styles[(bool(bad), bool(round_ % 2), quoted)]
            head = f'<c r="C{n + 2}" s="{style}"'
            if cell == "":
                assert xml == (f"{head}/>" if bad else ""), (cell, xml)
            else:
                body = '<is><t xml:space="preserve">' + _xml_cell(cell) + "</t></is></c>"
                assert xml == f'{head} t="inlineStr">{body}', repr(cell)


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York", "UTC", "Australia/Lord_Howe"])
def test_vectorised_iso_dates_agree_with_reading_one_by_one(zone: str) -> None:
    """Plain ISO wall-clock times converted at once equal read_datetime + to_utc, DST too."""
    texts = ["2025-03-30 02:30", "2025-10-26 02:30", "2025-03-30T01:59:00", "2026-02-31 10:00",
             "2025-01-01 24:00", "2025-07-01 13:00", "2025-11-02 01:30", "2025-04-06 02:00",
             "1999-12-31 23:59:59", "31/12/2025 10:00", "13/05/2025 10:00:30", "31/02/2025 10:00",
             "30/03/2025 02:30", "04/05/2025 10:00", "05/05/2025 10:00"]  # fmt: skip
    for text, quick in zip(texts, iso_to_utc_text(texts, ZoneInfo(zone)), strict=True):
        reading_ = read_datetime(text)
        expected = None
        if reading_.value is not None and reading_.has_time:
            utc, _problem, note = to_utc(reading_.value, ZoneInfo(zone))  # type: ignore[arg-type]
            if utc is not None and note is None:
                expected = utc.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if quick is not None or text.startswith(("2025-03-30 02", "2025-10-26", "2025-11-02")):
            assert quick == expected, text
        if text == "04/05/2025 10:00":
            assert quick is None  # read one of two ways: read_datetime notes which


def test_checks_agree_with_the_pandera_schema() -> None:
    """build_schema (pandera) flags exactly the rows the direct checks flag."""
    from pandera.errors import SchemaErrors

    report = importer.validate(V2, "360learning-v2")
    try:
        build_schema(importer.get_vendor("360learning-v2")).validate(report.values, lazy=True)
    except SchemaErrors as failure:
        flagged = {int(r) for r in failure.failure_cases["index"].dropna()}
    else:
        flagged = set()
    assert flagged == set(report.errors) and flagged


def test_duplicates_by_values_and_by_key(tmp: Path) -> None:
    """Repeated rows are refused once each, naming the first; with --key, by the key alone."""
    path = tmp / "d.csv"
    rows = [zoho_row("A"), zoho_row("B"), zoho_row("A"), zoho_row("C"), zoho_row("A")]
    frame = pd.DataFrame(rows, columns=ZOHO_HEADERS)
    frame["Ref"] = ["k1", "k2", "k3", " k2 ", ""]
    frame.to_csv(path, index=False)
    report = importer.validate(path, "zoho-people")
    by_values = flag_duplicates(report).errors
    assert {r: e[0].message for r, e in by_values.items()} == {
        4: "the same session as row 2: remove one of them (it would be created twice).",
        6: "the same session as row 2: remove one of them (it would be created twice).",
    }
    by_key = flag_duplicates(report, "Ref").errors
    assert {r: e[0].message for r, e in by_key.items()} == {
        5: "the same Ref (k2) as row 3: give each row its own Ref.",
        # An empty key is refused: without it an edited row would be created again.
        6: "the key column 'Ref' is empty: give this row its own key (rows are known by it "
        "from run to run; without it, an edited row would be created again).",
    }


def test_validate_loads_none_of_the_sending_machinery(tmp: Path) -> None:
    """`validate` runs without httpx, the journal, the sender, the throttle or the wire."""
    code = (
        "import sys\nfrom importer.cli.entry import main\n"
        f"main(['validate', {str(V2)!r}, '--vendor', '360learning-v2', '--result', "
        f"{str(tmp / 'r.csv')!r}])\n"
        "print(sorted(m for m in sys.modules if m in ('httpx', 'importer.sending.sender', "
        "'importer.store.journal', 'importer.sending.throttle', 'importer.sending.protocol', 'pandera')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr
    assert (tmp / "r.csv").exists()


def test_a_time_utc_cannot_hold_is_a_row_error_not_a_crash(tmp: Path) -> None:
    """9999-12-31 23:30 in New York is past the calendar in UTC: a plain row error."""
    path = tmp / "far.csv"
    path.write_text(
        "Path ID,Session name,Main instructor ID,Start date,Registration validation\n"
        "6853f6de567dc5f80528f80d,x,647098a731a809ed36889ed1,9999-12-31 23:30,disabled\n",
        encoding="utf-8",
    )
    report = importer.validate(path, "360learning-v2", timezone="America/New_York")
    (error,) = report.errors[2]
    assert error.column == "Start date" and "too far" in error.message
