"""Generate big 360Learning v2 sheets for the validation benchmarks (never committed).

The CSV looks like a real export: a path ID, unique session names, a year of start
times on the half hour in a few date spellings (ISO, day-first with slashes, ISO with a
``T``), optional end dates, co-instructor lists, the five validation values in the
words coordinators type, and an "Additional information" cell that sometimes holds a
comma, quotes or a line break. About 1% of rows are bad (one to three faults each) and
0.1% repeat an earlier row.

Usage: python benchmarks/v2_data.py ROWS OUT.csv
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path

HEADERS = (
    "Path ID,Session name,Main instructor ID,Co-instructor IDs,Start date,End date,"
    "User limit,Registration validation,Additional information"
)
BAD_SHARE = 0.01
_VALIDATION = ("disabled", "Managers", "Admins and managers", "instructors", "none")
_INSTRUCTORS = [f"647098a731a809ed3688{i:04x}" for i in range(40)]


def _when(rng: random.Random) -> dt.datetime:
    day = dt.date(2026, 1, 5) + dt.timedelta(days=rng.randrange(365))
    return dt.datetime.combine(day, dt.time(8 + rng.randrange(10), rng.choice((0, 30))))


def _spell(value: dt.datetime, style: int) -> str:
    if style == 0:
        return value.strftime("%Y-%m-%d %H:%M")
    if style == 1:
        return value.strftime("%d/%m/%Y %H:%M")
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def rows(count: int, first: int = 0) -> list[str]:
    """``count`` data lines (without the header) from row ``first`` on, newline-terminated."""
    rng = random.Random(15 + first)
    lines: list[str] = []
    for i in range(first, first + count):
        if lines and rng.random() < 0.001:
            lines.append(lines[-1])  # a repeated row: refused as a duplicate
            continue
        start = _when(rng)
        style = rng.choices((0, 1, 2), weights=(80, 15, 5))[0]
        end = _spell(start + dt.timedelta(hours=2), style) if rng.random() < 0.7 else ""
        info = f"A{i:07d}"
        if i % 97 == 0:
            info = '"Room 4, building ""B""\nbring a laptop"'
        cells = [
            "6853f6de567dc5f80528f80d",
            f"Onboarding session {i}",
            rng.choice(_INSTRUCTORS),
            ";".join(rng.sample(_INSTRUCTORS, rng.randrange(3))),
            _spell(start, style),
            end,
            str(rng.randrange(5, 50)) if rng.random() < 0.8 else "",
            rng.choice(_VALIDATION),
            info,
        ]
        if rng.random() < BAD_SHARE:
            for _ in range(1 if rng.random() < 6 / 7 else 3):
                fault = rng.randrange(5)
                if fault == 0:
                    cells[4] = start.strftime("31/02/%Y %H:%M")
                elif fault == 1:
                    cells[2] = "jane.doe@example.com"
                elif fault == 2:
                    cells[6] = "0"
                elif fault == 3:
                    cells[7] = "Everyone"
                else:
                    cells[5] = _spell(start - dt.timedelta(hours=1), 0)
        lines.append(",".join(cells) + "\n")
    return lines


def make_v2_csv(path: Path, count: int) -> Path:
    """Write a ``count``-row sheet to ``path`` (UTF-8, no BOM) unless it is already there."""
    marker = path.with_suffix(path.suffix + f".{count}")
    if path.exists() and marker.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADERS + "\n")
        step = 100_000
        for first in range(0, count, step):
            out.writelines(rows(min(step, count - first), first))
    marker.touch()
    return path


if __name__ == "__main__":
    make_v2_csv(Path(sys.argv[2]), int(sys.argv[1]))
