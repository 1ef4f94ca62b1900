"""Convert a 360Learning v1 sheet to a v2 sheet, by the vendor's migration guide.

shared/vendor-docs/360learning-v2-path-session-migration.txt:

* ``sessionName`` -> ``name``; ``sessionAdditionalInformation`` -> ``additionalInformation``;
* ``instructorsMails``: the first email becomes the main instructor, the others the
  co-instructors. They are written as the v2 sheet's *email* columns, which ``run``
  looks up in 360Learning (one call per distinct email). An empty list meant "the
  platform owner" in v1; v2 needs a main instructor, so such rows take
  ``--default-instructor`` or cannot be converted, and say why;
* ``sessionOwnerGroup`` is dropped, with a note: v2 picks the group itself from the main
  instructor's groups;
* ``registrationRequestValidation`` is required in v2: ``--registration-validation``.

Dates are written in UTC ISO 8601 (``2025-07-01T13:00:00.812Z``), so the v2 run reads
them the same whatever its time zone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from importer.core.errors import ConfigurationError
from importer.results.sheet import ResultSheet, write_result
from importer.sheet.validation import ValidationReport
from importer.vendors.learning360_v2.schema import VENDOR as V2

__all__ = ["Conversion", "convert_v1_to_v2"]

_V2_VALUES = (
    "disabled",
    "instructors",
    "managers",
    "adminsAndManagers",
    "adminsCoachesInstructorsManagers",
)


@dataclass(frozen=True)
class Conversion:
    """A converted sheet: the v2 rows, and per input row whether it converted."""

    frame: pd.DataFrame
    converted: int
    failed: int

    def write(self, path: Path, summary: list[tuple[str, str]]) -> Path:
        """Write the v2 sheet (.xlsx or .csv)."""
        return write_result(ResultSheet(self.frame, summary, status_column="Conversion"), path)


def convert_v1_to_v2(
    report: ValidationReport, registration: str = "disabled", default_instructor: str | None = None
) -> Conversion:
    """Turn a validated v1 sheet into v2 rows; rows that cannot be converted say why."""
    if report.vendor.name != "360learning-v1":
        raise ConfigurationError("convert reads a 360learning-v1 sheet.")
    if registration not in _V2_VALUES:
        raise ConfigurationError(
            f"--registration-validation must be one of {', '.join(_V2_VALUES)}, "
            f"not {registration!r}."
        )
    v2 = V2
    label = {f.name: f.label for f in v2.fields}
    rows = []
    outcome: Counter[str] = Counter()
    for row in report.table.frame.index:
        errors = report.errors.get(int(row), ())
        values = _raw(report, row) if errors else report.values.loc[row]
        notes = (
            [
                "v2 picks the session's owner group from the main instructor's groups: "
                f"group {values['sessionOwnerGroup']} is not carried over"
            ]
            if pd.notna(values["sessionOwnerGroup"])
            else []
        )
        mails = (
            [m for m in str(values["instructorsMails"]).split(";") if m]
            if pd.notna(values["instructorsMails"])
            else []
        )
        problem = "; ".join(f"{e.column}: {e.message}" for e in errors)
        if not problem and not mails:
            if default_instructor:
                mails = [default_instructor]
                notes.append(
                    f"v1 made the platform owner the instructor; {default_instructor} is the "
                    "main instructor instead (--default-instructor)"
                )
            else:
                problem = (
                    "no instructor: v1 made the platform owner the instructor, but v2 needs a "
                    "main instructor. Fill Main instructor email, or give --default-instructor."
                )
        notes.append(f"registration validation: {registration} (--registration-validation)")
        status = "invalid" if problem else "converted"
        outcome[status] += 1
        rows.append(
            {
                "Conversion": status,
                "Converted from row": str(row),
                "Problems": problem,
                "Notes": "\n".join(notes),
                label["pathId"]: _text(values["pathId"]),
                label["name"]: _text(values["sessionName"]),
                label["mainInstructorEmail"]: mails[0] if mails else "",
                label["instructorEmails"]: "; ".join(mails[1:]),
                label["startDate"]: _text(values["startDate"]),
                label["endDate"]: _text(values["endDate"]),
                label["registrationRequestValidation"]: registration,
                label["additionalInformation"]: _text(values["sessionAdditionalInformation"]),
            }
        )
    frame = pd.DataFrame(rows, dtype="str")
    return Conversion(frame, outcome["converted"], outcome["invalid"])


def _raw(report: ValidationReport, row: object) -> pd.Series:
    """An invalid row's cells as typed (its normalised values may hold problem markers)."""
    cells = {
        name: report.table.frame.at[row, header] for name, header in report.columns.fields.items()
    }
    cells["instructorsMails"] = ";".join(
        m.strip() for m in str(cells.get("instructorsMails") or "").replace(",", ";").split(";")
    )
    return pd.Series(
        {f.name: cells.get(f.name) or None for f in report.vendor.fields}, dtype=object
    )


def _text(value: object) -> str:
    if value is None:
        return ""
    return "" if bool(pd.isna(value)) else str(value)  # type: ignore[call-overload]
