"""The guard's fast worksheet scan never counts less than the careful scan (issue 27).

For sheets as spreadsheet programs write them it counts exactly the same, without falling
back; for anything else (prefixes, odd references, comments, hostile edits) it either
counts at least as much or gives up, and the careful scan then says what it always said.
"""

from __future__ import annotations

import io
import random
import sys
import zipfile
from array import array
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from importer.sheet.reading.table import column_letter
from tests.conftest import ROOT, ZOHO_HEADERS, ZOHO_ROW, write_xlsx

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
Counts = tuple[int, int, int, int]


def _archive(xml: bytes) -> tuple[zipfile.ZipFile, zipfile.ZipInfo]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", xml)
    archive = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    return archive, archive.getinfo("xl/worksheets/sheet1.xml")


def careful(xml: bytes, strings: array[int], limits: Limits | None = None) -> Counts | str:
    """The careful scan's (max row, max column, text, elements), or its refusal."""
    archive, info = _archive(xml)
    budget = Budget("book.xlsx", limits or Limits(), lambda: 0.0)
    scan = SheetScan(budget, info.filename, strings)
    try:
        parse_part(archive, info, scan, budget)
    except Exception as error:  # a refusal, or what check_workbook calls a damaged file
        return f"{type(error).__name__}: {error}"
    return scan.max_row, scan.max_column, scan.text_bytes, scan.elements


def fast(
    xml: bytes, strings: array[int], rng: random.Random, limits: Limits | None = None
) -> Counts | None:
    """The fast path's counts (expat checking the XML beside it), or None when it gives up.

    Fed in chunks of random sizes, and counted in small pieces, so that pieces are cut at
    many places.
    """
    budget = Budget("book.xlsx", limits or Limits(), lambda: 0.0)
    counter = FastSheet(strings, budget.max_elements, budget.fits, piece=rng.randint(1, 400))
    parser = xml_parser(budget, zipfile.ZipInfo("sheet.xml"))
    try:
        at = 0
        while at < len(xml):
            size = rng.randint(1, 300)
            parser.Parse(xml[at : at + size], False)
            counter.feed(xml[at : at + size])
            at += size
        parser.Parse(b"", True)
        return counter.close()
    except Exception:  # GiveUp, a refusal, expat's error: the careful scan decides
        return None


def _text(draw: st.DrawFn, exact: bool) -> str:
    pieces = ["a", "bc", " ", "XYZ", "019", "-:;", "/"]
    pieces += [] if exact else ["é", "€", "&amp;", "&#x41;", "&gt;", "\r\n", "\t"]
    return "".join(draw(st.lists(st.sampled_from(pieces), max_size=6)))


@st.composite
def excel_like(draw: st.DrawFn) -> tuple[bytes, array[int], bool]:
    """A worksheet as spreadsheet programs write it: ``r=`` on every row and cell, first.

    References may still go backwards, repeat, skip, or name another row than their own;
    cells hold numbers, formulas, inline or rich text, shared-string indexes, or nothing.
    Returns the part, the shared strings' lengths, and whether the text is plain ASCII
    without entities (the counts must then be equal, not just at least as high).
    """
    exact = draw(st.booleans())
    strings = array("q", draw(st.lists(st.integers(0, 50), max_size=8)))
    rows = []
    row_number = 0
    for _ in range(draw(st.integers(0, 8))):
        far = draw(st.integers(0, 40)) == 0  # rarely: the grid's edge (over the budget)
        row_number = 1_048_576 if far else draw(st.sampled_from([row_number + 1] * 3 + [0, 5, 30]))
        extra = draw(st.sampled_from(["", ' spans="1:9"', ' spans="2:4" x14ac:dyDescent="0.25"',
                                      ' ht="15" customHeight="1"']))  # fmt: skip
        if draw(st.integers(0, 9)) == 0:
            rows.append(f'<row r="{row_number}"{extra}/>')
            continue
        cells = []
        column = 0
        for _ in range(draw(st.integers(0, 6))):
            far = draw(st.integers(0, 100)) == 0  # rarely: past the column limit
            column = 16_384 if far else draw(st.sampled_from([column + 1] * 3 + [1, 3, 40]))
            reference = column_letter(column - 1) + str(
                draw(st.one_of(st.just(row_number), st.integers(0, 50)))
            )
            kind = draw(st.sampled_from(["n", "s", "inlineStr", "str", "b", "empty", "open"]))
            style = draw(st.sampled_from(["", ' s="1"', ' s="12" cm="1"']))
            if kind == "empty":
                cells.append(f'<c r="{reference}"{style}/>')
                continue
            if kind == "open":
                cells.append(f'<c r="{reference}"{style}>{_text(draw, exact)}</c>')
                continue
            if kind == "s":
                body = f"<v>{draw(st.integers(0, 12))}</v>"
            elif kind == "inlineStr":
                body = draw(st.sampled_from([
                    "<is><t>{}</t></is>",
                    '<is><t xml:space="preserve">{}</t></is>',
                    "<is><r><rPr><b/><sz val=\"11\"/></rPr><t>{}</t></r><r><t>{}</t></r></is>",
                ])).format(_text(draw, exact), _text(draw, exact))  # fmt: skip
            else:
                body = draw(st.sampled_from([
                    "<v>{}</v>", "<f>SUM(A1:B2)</f><v>{}</v>", '<f t="shared" si="0"/><v>{}</v>',
                ])).format(draw(st.integers(0, 10**6)))  # fmt: skip
            attributes = [style, f' t="{kind}"'] if kind != "n" else [style]
            draw(st.randoms()).shuffle(attributes)
            cells.append(f'<c r="{reference}"{"".join(attributes)}>{body}</c>')
        rows.append(f'<row r="{row_number}"{extra}>{"".join(cells)}</row>')
    head = draw(st.sampled_from(['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n',
                                 "", "\ufeff<?xml version='1.0'?>"]))  # fmt: skip
    xml = (
        f'{head}<worksheet xmlns="{_MAIN}" xmlns:x14ac="urn:x14ac"><dimension ref="A1:B2"/>'
        f'<sheetData>{"".join(rows)}</sheetData><pageMargins left="0.7"/></worksheet>'
    )
    return xml.encode(), strings, exact


#: Whole elements (or markup) put in between two tags: mostly still well-formed XML.
_ELEMENTS = [
    '<x:c r="XFD1"><v>1</v></x:c>', '<c r="XFD1048576"><v>1</v></c>', '<row r="1048576"/>',
    '<c r="a1"><v>1</v></c>', "<c><v>1</v></c>", '<row><c r="B2"><v>1</v></c></row>',
    "<!-- <c r='XFD1'> -->", '<![CDATA[<c r="XFD1"><v>1</v></c>]]>', "<?pi x?>",
    '<c r="A1" t="s"><v> 3</v></c>', '<c r="A1" t="s"><f>1</f><v>0</v></c>', '<c r="A1" t="s"/>',
    '<c r="AAAA1"><v>1</v></c>', '<c r="A1234567890"><v>1</v></c>', '<c r="A1" t = "s"><v>1</v></c>',
    "<c r='A1' t='s'><v>1</v></c>", '<c r="A1" t="&#115;"><v>2</v></c>', '<c r="A1" t="s"><v>&#49;</v></c>',
    '<c r="A1"><c r="XFD1"><v>1</v></c></c>', "<a>" * 300 + "</a>" * 300, "<a>" * 200 + "</a>" * 200,
    '<c\nr="XFD9"><v>1</v></c>', '<c r="A1" t="s"><v>99999999999</v></c>', '<c r="A1" x:r="XFD1"/>',
    '<y:row r="1048576"><c r="A1"><v>1</v></c></y:row>', '<c r="A1" t="s"><v>5</v><v>1</v></c>',
    '<c r="A1" a=">"><v>1</v></c>', '<c r="ZZZ9" t="s"><v>7</v></c>', '<row r="0"/>', "a > b",
    '<c r="B0007"><is><t>x</t></is></c>', '<C r="XFD1"><v>1</v></C>', '<c r="A1" T="s"><v>3</v></c>',
    '<c r="A1" t="s"><v>3</v><x:c r="XFD1"/></c>', '<cc r="XFD1"><v>1</v></cc>', "&amp;", "'",
]  # fmt: skip
#: Pieces put anywhere, even inside a tag or a name: mostly not well-formed any more.
_ANYWHERE = ["<x:c>", "</c>", "<row>", "</row>", ">", "'", '"', " ", "\n", "x:", ' t="s"']


@st.composite
def hostile(draw: st.DrawFn) -> tuple[bytes, array[int]]:
    """An Excel-like sheet with hostile or unusual elements put in between its tags, or
    pieces put anywhere, or bytes cut or repeated."""
    xml, strings, _ = draw(excel_like())
    text = xml.decode()
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.integers(0, 5))
        tags = [n for n, char in enumerate(text) if char == "<"]
        if action <= 2 and tags:
            at = draw(st.sampled_from(tags))
            text = text[:at] + draw(st.sampled_from(_ELEMENTS)) + text[at:]
            continue
        at = draw(st.integers(0, len(text)))
        if action == 3:
            text = text[:at] + draw(st.sampled_from(_ANYWHERE)) + text[at:]
        elif action == 4:
            text = text[:at] + text[at + draw(st.integers(1, 20)) :]
        else:
            text = text[:at] + text[at : at + draw(st.integers(1, 40))] + text[at:]
    return text.encode(), strings


def _at_least(fast_counts: Counts | None, careful_counts: Counts | str) -> None:
    if fast_counts is None:
        return  # given up: the careful scan decides, with its own message
    assert not isinstance(careful_counts, str), careful_counts
    rows, columns, text, elements = fast_counts
    assert rows >= careful_counts[0] and columns >= careful_counts[1]
    assert text >= careful_counts[2] and elements == careful_counts[3]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(excel_like(), st.randoms(use_true_random=False))
def test_excel_like_sheets_are_counted_exactly(
    case: tuple[bytes, array[int], bool], rng: Any
) -> None:
    """Sheets as spreadsheet programs write them: the fast path counts them, as the careful
    scan does (equal, or at least as high for text that is not plain ASCII), or leaves a
    sheet over the limits to the careful scan."""
    xml, strings, exact = case
    expected = careful(xml, strings)
    found = fast(xml, strings, random.Random(rng.random()))
    if isinstance(expected, str):  # over the column limit: refused, by the careful scan
        assert found is None
        return
    assert found is not None, xml
    if exact:
        assert found == expected
    _at_least(found, expected)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile(), st.randoms(use_true_random=False))
def test_hostile_sheets_are_never_counted_lower(case: tuple[bytes, array[int]], rng: Any) -> None:
    """Hostile or unusual sheets: the fast path gives up, or counts at least as much as the
    careful scan (which then accepts them too)."""
    xml, strings = case
    _at_least(fast(xml, strings, random.Random(rng.random())), careful(xml, strings))


def test_over_the_budget_is_left_to_the_careful_scan() -> None:
    """A sheet over the budget, the column limit, the element count or the depth limit is
    never accepted by the fast path: the careful scan refuses it, with its message."""
    tight = Limits(memory_bytes=200_000)
    rng = random.Random(1)
    rows = "".join(f'<row r="{n}"><c r="A{n}"><v>1</v></c></row>' for n in range(1, 2000))
    cases = [
        rows,
        '<row r="1"><c r="AMK1"><v>1</v></c></row>',
        '<row r="1"><c r="A1"><v>1</v>' + "<x/>" * 1_100_000 + "</c></row>",
        '<row r="1"><c r="A1"><v>1</v></c></row>' + "<a>" * 257 + "</a>" * 257,
    ]
    for rows_xml in cases:
        xml = f'<worksheet xmlns="{_MAIN}"><sheetData>{rows_xml}</sheetData></worksheet>'
        assert fast(xml.encode(), array("q"), rng, tight) is None
        assert isinstance(careful(xml.encode(), array("q"), tight), str)


def _corpus() -> Any:
    sys.path.insert(0, str(ROOT / "tests" / "corpus"))
    try:
        import make_corpus
    finally:
        sys.path.pop(0)
    return make_corpus


def _careful_only(archive: Any, info: Any, budget: Any, strings: Any) -> None:
    parse_part(archive, info, SheetScan(budget, info.filename, strings), budget)


def _outcome(path: Path) -> str | int:
    try:
        return check.check_workbook(path, limits=Limits(memory_bytes=64 * 2**20))
    except UnsafeFileError as error:
        return str(error)
    except Exception as error:  # the encrypted files: the same either way
        return type(error).__name__


def test_hostile_corpus_gets_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every hostile workbook of the corpus (and the fuzzer's seeds) is refused with the same
    sentence, or accepted with at least the same estimate, with and without the fast path."""
    paths = sorted((ROOT / "tests" / "corpus").glob("*.xlsx"))
    paths += sorted((ROOT / "sample_data").glob("*.xlsx"))
    with_fast = {path.name: _outcome(path) for path in paths}
    monkeypatch.setattr(check, "scan_sheet", _careful_only)
    for path in paths:
        before, now = _outcome(path), with_fast[path.name]
        if isinstance(before, int) and isinstance(now, int):
            assert now >= before, path.name
        else:
            assert now == before, path.name


def test_real_workbooks_take_the_fast_path(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A workbook written by xlsxwriter, and one with shared strings, never fall back to the
    careful scan (for their sheets or their shared strings), and get its estimate."""
    corpus = _corpus()
    book = write_xlsx(tmp / "real.xlsx", [ZOHO_HEADERS, *[ZOHO_ROW] * 300])
    strings = (
        f'<sst xmlns="{_MAIN}" uniqueCount="2"><si><t>Session name</t></si><si><t>x</t></si></sst>'
    )
    rows = "".join(
        f'<row r="{n}" spans="1:3"><c r="A{n}" s="1" t="s"><v>{n % 2}</v></c>'
        f'<c r="B{n}"><v>{n}</v></c><c r="C{n}" t="s"><v>0</v></c></row>'
        for n in range(1, 500)
    )
    shared = tmp / "shared.xlsx"
    shared.write_bytes(corpus.xlsx(corpus.sheet(rows), strings))

    def refuse(*_: Any) -> None:
        raise AssertionError("fell back to the careful scan")

    monkeypatch.setattr("importer.sheet.guard.fast.parse_part", refuse)
    assert check.check_workbook(book) > 0
    # 499 rows x 3 columns, and "Session name" (12 bytes) in 750 cells, "x" in 249, "0".."9"...
    estimate = check.check_workbook(shared)
    monkeypatch.undo()
    monkeypatch.setattr(check, "scan_sheet", _careful_only)
    assert estimate == check.check_workbook(shared)


def careful_strings(xml: bytes, limits: Limits | None = None) -> list[int] | str:
    """The careful scan's shared-string lengths, or its refusal."""
    archive, info = _archive(xml)
    budget = Budget("book.xlsx", limits or Limits(), lambda: 0.0)
    scan = SharedStrings(budget, array("q"), info.filename)
    try:
        parse_part(archive, info, scan, budget)
    except Exception as error:  # a refusal, or what check_workbook calls a damaged file
        return f"{type(error).__name__}: {error}"
    return list(scan.lengths)


def fast_strings(xml: bytes, rng: random.Random, limits: Limits | None = None) -> list[int] | None:
    """The fast path's lengths (expat beside it, random chunks and pieces), or None."""
    budget = Budget("book.xlsx", limits or Limits(), lambda: 0.0)
    careful = SharedStrings(budget, array("q"), "sharedStrings.xml")
    counter = FastStrings(careful.claim, budget.max_elements, piece=rng.randint(1, 400))
    parser = xml_parser(budget, zipfile.ZipInfo("sharedStrings.xml"))
    try:
        at = 0
        while at < len(xml):
            size = rng.randint(1, 300)
            parser.Parse(xml[at : at + size], False)
            counter.feed(xml[at : at + size])
            at += size
        parser.Parse(b"", True)
        return list(counter.close())
    except Exception:  # GiveUp, a refusal, expat's error: the careful scan decides
        return None


@st.composite
def shared_strings(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A shared-strings part as Excel writes it: plain, rich and phonetic strings, empty ones."""
    exact = draw(st.booleans())
    items = []
    for _ in range(draw(st.integers(0, 12))):
        text = _text(draw, exact)
        items.append(draw(st.sampled_from([
            "<si><t>{0}</t></si>", '<si><t xml:space="preserve">{0}</t></si>', "<si/>",
            "<si><t/></si>", '<si><r><rPr><b/><sz val="11"/></rPr><t>{0}</t></r><r><t>{0}</t></r></si>',
            '<si><t>{0}</t><rPh sb="0" eb="1"><t>{0}</t></rPh><phoneticPr fontId="1"/></si>',
        ])).format(text))  # fmt: skip
    count = draw(st.sampled_from(["", f' count="{len(items)}" uniqueCount="{len(items)}"',
                                  ' uniqueCount="2147483647"', ' uniqueCount="+12"']))  # fmt: skip
    head = draw(st.sampled_from(['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n', ""]))
    return f'{head}<sst xmlns="{_MAIN}"{count}>{"".join(items)}</sst>'.encode(), exact


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shared_strings(), st.randoms(use_true_random=False))
def test_shared_strings_are_measured_exactly(case: tuple[bytes, bool], rng: Any) -> None:
    """Shared strings as Excel writes them: the fast path measures each as the careful scan
    does (equal, or at least as long for text with entities), and refuses the same counts."""
    xml, exact = case
    expected = careful_strings(xml)
    found = fast_strings(xml, random.Random(rng.random()))
    if isinstance(expected, str):  # a uniqueCount over the budget: the careful scan refuses
        assert found is None
        return
    assert found is not None, xml
    assert len(found) == len(expected)
    assert all(a >= b for a, b in zip(found, expected, strict=True))
    if exact:
        assert found == expected


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shared_strings(), st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from([
    "<si>", "</si>", "<x:si><t>long text</t></x:si>", "<si><si><t>x</t></si></si>", "<!-- c -->",
    "<![CDATA[abcdef]]>", "&amp;", "'", "<a>" * 300 + "</a>" * 300, "<t>abc</t>", " ",
    '<si a=">"><t>x</t></si>', "<si><t>&#x10000;</t></si>", "\r\n",
])), min_size=1, max_size=3), st.randoms(use_true_random=False))  # fmt: skip
def test_odd_shared_strings_are_never_measured_shorter(
    case: tuple[bytes, bool], edits: list[tuple[int, str]], rng: Any
) -> None:
    """Shared strings with odd or hostile pieces put in: the fast path gives up, or measures
    the same strings, none shorter."""
    text = case[0].decode()
    for at, piece in edits:
        at %= len(text) + 1
        text = text[:at] + piece + text[at:]
    expected = careful_strings(text.encode())
    found = fast_strings(text.encode(), random.Random(rng.random()))
    if found is not None:
        assert not isinstance(expected, str), expected
        assert len(found) == len(expected)
        assert all(a >= b for a, b in zip(found, expected, strict=True))


def test_unknown_encoding_is_damaged_either_way(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sheet declaring an encoding expat does not know (a fuzzer's find) is refused as
    damaged, with or without the fast path."""
    corpus = _corpus()
    xml = corpus.sheet('<row r="1"><c r="A1"><v>1</v></c></row>').replace("UTF-8", "TF-8")
    path = tmp / "encoding.xlsx"
    path.write_bytes(corpus.xlsx(xml))
    fast_answer = _outcome(path)
    monkeypatch.setattr(check, "scan_sheet", _careful_only)
    assert (
        fast_answer
        == _outcome(path)
        == f"{path}: the workbook is damaged (LookupError). "
        + ("Open it in Excel and save it again.")
    )
