"""Write the sample sheets: per vendor, a valid sheet and one with typical mistakes, CSV and xlsx.

Run ``python sample_data/make_samples.py`` after changing a vendor's columns;
``tests/test_samples.py`` checks the committed files are what this writes.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import xlsxwriter

HERE = Path(__file__).parent

PATH = "6853f6de567dc5f80528f80d"
GROUP = "624c5526204fc7207e603ea6"
MAIN = "647098a731a809ed36889ed1"
CO = "67769f32553f1e9171a186c0"

#: vendor -> (headers, valid rows, rows with mistakes). Each mistake row says what is wrong.
SAMPLES: dict[str, tuple[list[str], list[list[object]], list[list[object]]]] = {
    "360learning-v1": (
        ["Path ID", "Session name", "Start date", "End date", "Instructor emails",
         "Owner group ID", "Additional information"],
        [
            [PATH, "Employee Onboarding July Session", dt.datetime(2025, 7, 1, 15, 0),
             dt.datetime(2025, 7, 31, 15, 0), "jane.doe@example.com", GROUP, "A0015221"],
            [PATH, "Employee Onboarding August Session", "2025-08-04 09:30", "2025-08-04 17:00",
             "jane.doe@example.com; john.smith@example.com", GROUP, "A0015222"],
            [PATH, "Safety refresher", "15/09/2025 14:00", "", "", GROUP, ""],
        ],
        [
            [PATH, "", "2025-07-01 15:00", "", "jane.doe@example.com", GROUP, "name missing"],
            [PATH, "Late start", "2025-07-31 15:00", "2025-07-01 15:00", "jane.doe@example.com",
             GROUP, "end before start"],
            [PATH, "Bad mail", "2025-07-01 15:00", "", "jane.doe@example", GROUP, "bad email"],
            [PATH, "No time", "2025-07-01", "", "", GROUP, "date without time"],
            [PATH, "Bad group", "2025-07-01 15:00", "", "", "Sales team", "group is a name"],
        ],
    ),
    "360learning-v2": (
        ["Path ID", "Session name", "Main instructor ID", "Co-instructor IDs", "Start date",
         "End date", "User limit", "Registration validation", "Additional information"],
        [
            [PATH, "Employee Onboarding July Session", MAIN, CO, dt.datetime(2025, 7, 1, 15, 0),
             dt.datetime(2025, 7, 31, 15, 0), 30, "disabled", "A0015221"],
            [PATH, "Managers' onboarding", MAIN, "", "2025-09-02 10:00", "", "",
             "Admins and managers", ""],
        ],
        [
            [PATH, "Wrong instructor", "jane.doe@example.com", "", "2025-07-01 15:00", "", 30,
             "disabled", "instructor is an email"],
            [PATH, "Zero seats", MAIN, "", "2025-07-01 15:00", "", 0, "disabled", "limit 0"],
            [PATH, "Unknown validation", MAIN, "", "2025-07-01 15:00", "", 10, "Everyone",
             "validation value"],
            [PATH, "No such day", MAIN, "", "31/02/2025 10:00", "", 10, "disabled", "31 Feb"],
        ],
    ),
    "zoho-people": (
        ["Course ID", "Batch ID", "Module ID", "Session name", "Trainer erecno", "Type", "Date",
         "Start time", "End time", "Description", "Room ID", "Lock until", "Grade category ID"],
        [
            ["478346000019479103", "478346000019479115", "478346000019479119",
             "Session API Testing", "478346000008251001", "Classroom", "04-01-2022", "10:00 AM",
             "11:00 AM", "API testing", "478346000010125093", "", "478346000019553021"],
            ["478346000019479103", "478346000019479115", "478346000019479119", "Follow-up",
             "478346000008251001", "E-learning", dt.date(2022, 1, 18), dt.time(14, 0),
             dt.time(15, 30), "", "", "", ""],
        ],
        [
            ["478346000019479103", "478346000019479115", "478346000019479119", "Rounded trainer",
             478346000008251001, "Classroom", "04-01-2022", "10:00 AM", "11:00 AM", "", "", "",
             ""],
            ["478346000019479103", "478346000019479115", "478346000019479119", "Backwards",
             "478346000008251001", "Classroom", "05-01-2022", "3:00 PM", "2:00 PM", "", "", "",
             ""],
            ["478346000019479103", "478346000019479115", "478346000019479119", "No such day",
             "478346000008251001", "Webinar", "31-02-2022", "10:00 AM", "11:00 AM", "", "", "",
             ""],
        ],
    ),
    "coursepath": (
        ["Email", "Name", "External ID", "Company", "Department", "Country", "Course ID",
         "Program ID", "Groups", "Send invite"],
        [
            ["jane.doe@example.com", "Jane Doe", "E-1042", "Acme", "Sales", "Belgium", "12345",
             "", "Sales; New hires", "yes"],
            ["john.smith@example.com", "", "", "Acme", "", "", "", "678", "", "no"],
        ],
        [
            ["not-an-email", "Bad Email", "", "", "", "", "12345", "", "", ""],
            ["ann@example.com", "No enrolment", "", "", "", "", "", "", "", "yes"],
            ["=HYPERLINK(\"http://evil.example\",\"click\")", "Formula", "", "", "", "", "12345",
             "", "", "maybe"],
        ],
    ),
}  # fmt: skip


def _text(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.strftime("%d-%m-%Y")
    if isinstance(value, dt.time):
        return value.strftime("%H:%M")
    if isinstance(value, int) and value >= 10**15:
        return f"{value:.5E}"  # what Excel's CSV export shows: 4.78346E+17
    return str(value)


def write_csv(path: Path, headers: list[str], rows: list[list[object]]) -> None:
    """Write a CSV as Excel's 'CSV UTF-8' does (BOM, comma, CRLF)."""
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(headers)
        writer.writerows([[_text(v) for v in row] for row in rows])


def write_xlsx(path: Path, headers: list[str], rows: list[list[object]]) -> None:
    """Write a workbook with real date, time and number cells where the rows hold them."""
    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False})
    book.set_properties({"created": dt.datetime(2026, 1, 1)})
    sheet = book.add_worksheet("Sessions")
    formats = {
        dt.datetime: book.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
        dt.date: book.add_format({"num_format": "dd/mm/yyyy"}),
        dt.time: book.add_format({"num_format": "hh:mm"}),
    }
    sheet.write_row(0, 0, headers)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if isinstance(value, dt.datetime):
                sheet.write_datetime(r, c, value, formats[dt.datetime])
            elif isinstance(value, dt.date):
                sheet.write_datetime(r, c, value, formats[dt.date])
            elif isinstance(value, dt.time):
                sheet.write_datetime(r, c, value, formats[dt.time])
            elif isinstance(value, int):
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, str(value))
    book.close()


def main() -> None:
    for vendor, (headers, valid, mistakes) in SAMPLES.items():
        for kind, rows in (("valid", valid), ("mistakes", mistakes)):
            write_csv(HERE / f"{vendor}-{kind}.csv", headers, rows)
            write_xlsx(HERE / f"{vendor}-{kind}.xlsx", headers, rows)


if __name__ == "__main__":
    main()
