"""Benchmark: read, validate and write result sheets of large inputs.

Generates (once, in a temporary folder or --data DIR):
  * a 1,000,000-row Zoho People CSV, about 1% bad rows, with quoted multi-line cells;
  * a 100,000-row 360Learning v2 .xlsx, about 1% bad rows, with real date cells.

Each measurement runs in a fresh subprocess so that its peak memory (max RSS) is
its own. Targets (2-core machine): 1M-row CSV read + validate < 10 s and < 2 GB;
100k-row xlsx read < 5 s; 100k-row result .xlsx written < 10 s.

Usage: python benchmarks/validate.py [--rows-csv N] [--rows-xlsx N] [--data DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BAD_SHARE = 0.01


def make_zoho_csv(path: Path, rows: int) -> None:
    """Write a Zoho sheet: realistic cardinality (a year of dates, half-hour times)."""
    rng = random.Random(7)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(
            "Course ID,Batch ID,Module ID,Session name,Trainer erecno,Type,Date,"
            "Start time,End time,Description,Room ID,Grade category ID\n"
        )
        for i in range(rows):
            day = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(365))
            start = rng.randrange(8, 17)
            cells = [
                f"4783460000{rng.randrange(10**8):08d}",
                "478346000019479115",
                "478346000019479119",
                f"Session {i}",
                f"47834600000{rng.randrange(10**7):07d}",
                rng.choice(["Classroom", "E-learning", "0", "1"]),
                day.strftime("%d-%m-%Y"),
                f"{(start - 1) % 12 + 1:02d}:00 {'AM' if start < 12 else 'PM'}",
                f"{start + 1}:30",
                '"Line one, with a comma\nand a second line"' if i % 50 == 0 else "Workshop",
                "478346000010125093",
                "",
            ]
            if rng.random() < BAD_SHARE:
                fault = rng.randrange(4)
                if fault == 0:
                    cells[6] = "31-02-2026"
                elif fault == 1:
                    cells[4] = "4.78346E+17"
                elif fault == 2:
                    cells[8] = "07:00 AM"
                else:
                    cells[3], cells[5], cells[7] = "", "Webinar", "25:00"
            out.write(",".join(cells) + "\n")


def make_v2_xlsx(path: Path, rows: int) -> None:
    """Write a 360Learning v2 workbook with real date cells."""
    import xlsxwriter

    rng = random.Random(11)
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Sessions")
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    headers = [
        "Path ID", "Session name", "Main instructor ID", "Co-instructor IDs", "Start date",
        "End date", "User limit", "Registration validation", "Additional information",
    ]  # fmt: skip
    sheet.write_row(0, 0, headers)
    base = dt.datetime(2026, 1, 5, 9, 0)
    for r in range(1, rows + 1):
        start = base + dt.timedelta(days=rng.randrange(300), hours=rng.randrange(9))
        bad = rng.random() < BAD_SHARE
        sheet.write_string(r, 0, "6853f6de567dc5f80528f80d")
        sheet.write_string(r, 1, f"Onboarding {r}")
        sheet.write_string(r, 2, "647098a731a809ed36889ed1" if not bad else "not-an-id")
        sheet.write_string(r, 3, "67769f32553f1e9171a186c0;67769f32553f1e9171a186c1")
        sheet.write_datetime(r, 4, start, when)
        end = start + dt.timedelta(hours=2) if not bad else start - dt.timedelta(hours=2)
        sheet.write_datetime(r, 5, end, when)
        sheet.write_number(r, 6, rng.randrange(5, 50))
        sheet.write_string(r, 7, rng.choice(["disabled", "Managers", "Admins and managers"]))
        sheet.write_string(r, 8, f"A{r:07d}")
    book.close()


def measure(phase: str, data: Path) -> dict[str, float]:
    """Run one phase in this process and return its figures."""
    from importer.api import result_sheet
    from importer.results import write_result
    from importer.validation import validate

    started = time.perf_counter()
    figures: dict[str, float] = {}
    if phase == "csv":
        report = validate(data / "zoho.csv", "zoho-people")
        figures["read_validate_s"] = time.perf_counter() - started
        figures["rows"] = report.row_count
        figures["invalid"] = report.invalid_count
        mark = time.perf_counter()
        write_result(result_sheet(report), data / "zoho.result.csv")
        figures["write_csv_s"] = time.perf_counter() - mark
    elif phase == "xlsx":
        from importer.headers import header_scorer
        from importer.reading import read_table
        from importer.vendors import get_vendor

        table = read_table(data / "v2.xlsx", header_scorer(get_vendor("360learning-v2")))
        figures["read_s"] = time.perf_counter() - started
        mark = time.perf_counter()
        report = validate(data / "v2.xlsx", "360learning-v2", timezone="Europe/Paris")
        figures["read_validate_s"] = time.perf_counter() - mark
        figures["rows"] = len(table.frame)
        figures["invalid"] = report.invalid_count
        mark = time.perf_counter()
        write_result(result_sheet(report), data / "v2.result.xlsx")
        figures["write_xlsx_s"] = time.perf_counter() - mark
    figures["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows-csv", type=int, default=1_000_000)
    parser.add_argument("--rows-xlsx", type=int, default=100_000)
    parser.add_argument("--data", type=Path, help="keep the generated files here")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(measure(args.phase, args.data)))
        return
    data = args.data or Path(tempfile.mkdtemp(prefix="importer-bench-"))
    data.mkdir(parents=True, exist_ok=True)
    if not (data / "zoho.csv").exists():
        make_zoho_csv(data / "zoho.csv", args.rows_csv)
    if not (data / "v2.xlsx").exists():
        make_v2_xlsx(data / "v2.xlsx", args.rows_xlsx)
    print(f"data in {data}")
    for phase in ("csv", "xlsx"):
        out = subprocess.run(
            [sys.executable, __file__, "--phase", phase, "--data", str(data)],
            check=True,
            capture_output=True,
            text=True,
        )
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        rows = figures["rows"]
        line = ", ".join(
            f"{k}={v:,.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()
        )
        rate = rows / figures["read_validate_s"]
        print(f"{phase}: {line}, read+validate {rate:,.0f} rows/s")


if __name__ == "__main__":
    main()
