"""Each vendor's documented rules, valid and invalid cases, through the Python API."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import importer
from importer.core.errors import ConfigurationError, MissingColumnsError
from importer.core.messages import MESSAGES
from importer.vendors import REGISTRY
from tests.conftest import V2_HEADERS, V2_ROW, ZOHO_HEADERS, ZOHO_ROW, write_csv

V1_HEADERS = ["Path ID", "Session name", "Start date", "End date", "Instructor emails",
              "Owner group ID"]  # fmt: skip
V1_ROW = ["6853f6de567dc5f80528f80d", "Onboarding", "2025-07-01 15:00", "2025-07-31 15:00",
          "jane.doe@example.com", "624c5526204fc7207e603ea6"]  # fmt: skip
CP_HEADERS = ["Email", "Name", "Course ID", "Program ID", "Groups", "Send invite"]
CP_ROW = ["jane.doe@example.com", "Jane Doe", "12345", "", "Sales, EMEA; New hires", "yes"]

BASE = {
    "360learning-v1": (V1_HEADERS, V1_ROW),
    "360learning-v2": (V2_HEADERS, V2_ROW),
    "zoho-people": (ZOHO_HEADERS, ZOHO_ROW),
    "coursepath": (CP_HEADERS, CP_ROW),
}


def check(
    tmp: Path, vendor: str, changes: dict[str, str], **options: str
) -> importer.ValidationReport:
    """Validate the vendor's valid base row with some cells changed."""
    headers, row = BASE[vendor]
    row = list(row)
    for header, value in changes.items():
        row[headers.index(header)] = value
    return importer.validate(write_csv(tmp / "s.csv", [headers, row]), vendor, **options)


@pytest.mark.parametrize("vendor", list(BASE))
def test_base_rows_are_valid(tmp: Path, vendor: str) -> None:
    """The reference row of every vendor passes."""
    report = check(tmp, vendor, {})
    assert report.ok, list(report.all_errors())


CASES = [
    ("360learning-v1", {"Session name": ""}, "Session name", "required"),
    ("360learning-v1", {"Start date": "2025-07-01"}, "Start date", "time_missing"),
    ("360learning-v1", {"End date": "2025-06-30 15:00"}, "End date", "end_before_start"),
    ("360learning-v1", {"Instructor emails": "a@b.com; x"}, "Instructor emails", "email_in_list"),
    ("360learning-v1", {"Owner group ID": "624c5526204fc7207e603ea"}, "Owner group ID", "hex24"),
    ("360learning-v1", {"Path ID": "xyz"}, "Path ID", "hex24"),
    ("360learning-v2", {"Main instructor ID": ""}, "Main instructor ID", "instructor_missing"),
    ("zoho-people", {"Trainer erecno": ""}, "Trainer erecno", "trainer_missing"),
    ("360learning-v2", {"Registration validation": "all"}, "Registration validation", "choice"),
    ("360learning-v2", {"Start date": "31/02/2025 10:00"}, "Start date", "date_nonexistent"),
    ("zoho-people", {"Type": "webinar"}, "Type", "choice"),
    ("zoho-people", {"Date": "2022-01-32"}, "Date", "date_nonexistent"),
    ("zoho-people", {"End time": "10:00 AM"}, "End time", "end_not_after_start"),
    ("zoho-people", {"Start time": "13:00 PM"}, "Start time", "time_invalid"),
    ("zoho-people", {"Trainer erecno": "4.78346E+17"}, "Trainer erecno", "excel_rounded"),
    ("zoho-people", {"Course ID": "4783-46"}, "Course ID", "zoho_id"),
    ("coursepath", {"Email": "jane@"}, "Email", "email"),
    ("coursepath", {"Course ID": "", "Program ID": ""}, "Course ID", "course_or_program"),
    ("coursepath", {"Send invite": "perhaps"}, "Send invite", "choice"),
]  # fmt: skip


@pytest.mark.parametrize(("vendor", "changes", "column", "code"), CASES)
def test_rule_violations_are_reported_in_plain_words(
    tmp: Path, vendor: str, changes: dict[str, str], column: str, code: str
) -> None:
    """Each broken rule gives exactly one error on the right cell, without validator jargon."""
    report = check(tmp, vendor, changes)
    errors = list(report.all_errors())
    assert [(e.row, e.column, e.code) for e in errors] == [(2, column, code)]
    assert not re.search(r"pandera|failure_case|lambda|Series|dtype|\\x00", errors[0].message)


def test_v2_instructor_limit_and_user_limit(tmp: Path) -> None:
    """instructorIds holds at most 100 IDs; userLimit is a whole number from 1."""
    headers = [*V2_HEADERS, "Co-instructor IDs", "User limit"]
    ids = ";".join(f"{i:024x}" for i in range(101))
    rows = [headers, [*V2_ROW, ids, "30"], [*V2_ROW, "", "0"], [*V2_ROW, "", "12.0"]]
    report = importer.validate(write_csv(tmp / "s.csv", rows), "360learning-v2")
    assert {(e.row, e.code) for e in report.all_errors()} == {(2, "too_many"), (3, "integer_min")}
    assert report.values.loc[4, "userLimit"] == "12"


def test_normalised_values_are_what_the_vendor_wants(tmp: Path) -> None:
    """Dates go to UTC ISO for 360Learning; Zoho gets DD-MM-YYYY, hh:mm AM and 0/1."""
    v2 = check(tmp, "360learning-v2", {"Start date": "01/07/2025 15:00"}, timezone="Europe/Paris")
    assert v2.values.loc[2, "startDate"] == "2025-07-01T13:00:00.000Z"
    zoho = check(
        tmp, "zoho-people", {"Type": "E-learning", "Start time": "14:00", "End time": "3 pm"}
    )
    assert zoho.values.loc[2, ["type", "startTime", "endTime"]].tolist() == [
        "1",
        "02:00 PM",
        "03:00 PM",
    ]


def test_groups_split_on_semicolons_not_commas(tmp: Path) -> None:
    """A comma can be part of a group's name; ';' separates groups."""
    report = check(tmp, "coursepath", {})
    assert report.values.loc[2, "groups"] == "Sales, EMEA;New hires"


def test_path_id_from_option(tmp: Path) -> None:
    """--path-id stands in for a missing Path ID column; a bad one is refused up front."""
    headers, row = V2_HEADERS[1:], V2_ROW[1:]
    path = write_csv(tmp / "s.csv", [headers, row])
    with pytest.raises(MissingColumnsError, match="'Path ID'"):
        importer.validate(path, "360learning-v2")
    report = importer.validate(path, "360learning-v2", defaults={"pathId": V2_ROW[0]})
    assert report.values.loc[2, "pathId"] == V2_ROW[0]
    with pytest.raises(ConfigurationError, match="not a 360Learning ID"):
        importer.validate(path, "360learning-v2", defaults={"pathId": "bad"})


def test_missing_column_names_the_closest_header(tmp: Path) -> None:
    """A required column that is absent is named, with the header that looks most like it."""
    headers = ["Course ID", "Batch ID", "Module ID", "Session name", "Trainer erecno", "Typ",
               "Date", "Start time", "End time"]  # fmt: skip
    with pytest.raises(MissingColumnsError, match=r"'Type' \(closest header found: 'Typ'\)"):
        importer.validate(write_csv(tmp / "s.csv", [headers, ZOHO_ROW]), "zoho-people")


def test_headers_forgive_case_spaces_and_api_names(tmp: Path) -> None:
    """API names, snake case and shouting all match; unknown columns are kept."""
    headers = ["COURSEID", "batch_id", "Module Id", "name", "trainerErecno", "type", "DATE",
               "start time (local)", "end_time", "My notes"]  # fmt: skip
    report = importer.validate(
        write_csv(tmp / "s.csv", [headers, [*ZOHO_ROW, "keep me"]]), "zoho-people"
    )
    assert report.ok
    assert report.columns.extra == ("My notes",)


def test_every_problem_code_has_a_message() -> None:
    """Every code a vendor rule can raise has a plain-language message."""
    codes = {rule.code for vendor in REGISTRY.values() for rule in vendor.row_checks}
    assert codes <= set(MESSAGES)


@pytest.mark.parametrize("vendor", list(REGISTRY))
def test_template_example_row_is_valid(tmp: Path, vendor: str) -> None:
    """The example row of every generated template passes its own vendor's rules."""
    path = importer.write_template(REGISTRY[vendor], tmp)
    report = importer.validate(path, vendor)
    assert report.row_count == 1
    assert report.ok, list(report.all_errors())


@pytest.mark.parametrize("storage", ["str", "object"])
def test_text_is_trimmed_and_its_limit_counted_in_characters(storage: str) -> None:
    """Five two-byte characters are within a limit of 5; six plain ones are not; spaces
    around a cell do not count, and a cell of spaces is empty (pyarrow-held or not)."""
    from importer.sheet.fields import Context, Text, marker

    cells = pd.Series(["abcde", "abcdef", "  ab ", "   ", "ééééé", "éééééé"], dtype=storage)
    got = Text(max_length=5).parse(cells, Context()).values
    too_long = marker("too_long", "5")
    expected = ["abcde", too_long, "ab", None, "ééééé", too_long]
    assert [None if pd.isna(v) else v for v in got.tolist()] == expected
    untouched = pd.Series(["a", "b"], dtype=storage)
    assert Text().parse(untouched, Context()).values.tolist() == ["a", "b"]


def test_an_id_column_is_judged_per_value_whatever_the_order_of_its_cells() -> None:
    """An ID column's tests run once per distinct value and spread to the rows: each cell's
    outcome is its own (a cell with no value stays empty wherever it sits, next to a bad ID
    or a good one), the same as the column checked one cell at a time."""
    import itertools

    from importer.sheet.fields import Identifier

    kind = Identifier(pattern=r"[0-9a-f]{24}")
    cells = ["647098a731a809ed36889ed1", None, "bad", "4.78346E+17", "", "\u0663" * 24, " 6"]
    for order in itertools.permutations(cells, 3):
        column = pd.Series(list(order), dtype="str")
        whole = kind.parse(column, None).values.tolist()  # type: ignore[arg-type]
        alone = [
            kind.parse(pd.Series([cell], dtype="str"), None).values.tolist()[0]  # type: ignore[arg-type]
            for cell in order
        ]
        assert [None if pd.isna(v) else v for v in whole] == [
            None if pd.isna(v) else v for v in alone
        ], order
