"""What 360Learning v2 declares for the faces (see :mod:`importer.vendors.declarations`):
the ``v2_marker`` option, ``--path-id``, the path ``export`` lists, and the ``convert``
command that takes a v1 sheet to v2."""

from __future__ import annotations

import argparse
from pathlib import Path

from importer.vendors.declarations import Command, Declarations, ExportTarget, Option
from importer.vendors.learning360_common.declared import PATH_ID

__all__ = ["CONVERT", "DECLARED", "EXPORT_PATH", "MARKER"]

#: ``--v2-marker``, ``v2_marker``, ``IMPORTER_V2_MARKER`` (read by the wire's ``configured``).
MARKER = Option(
    name="v2_marker",
    switch=True,
    help="append a row tag to additionalInformation to find lost answers by (default: match "
    "on path, name, dates and instructor, the field left as typed)",
)

#: ``export --path-id``: the sessions of one path.
EXPORT_PATH = ExportTarget(key="path_id", flag="--path-id", help="the path")

_V1, _V2 = "360learning-v1", "360learning-v2"


def _convert_arguments(convert: argparse.ArgumentParser) -> None:
    convert.add_argument("file", type=Path, metavar="FILE", help="the v1 sheet")
    convert.add_argument(
        "--from", dest="source_vendor", default=_V1, choices=[_V1], help="the sheet's vendor"
    )
    convert.add_argument(
        "--to", dest="target_vendor", default=_V2, choices=[_V2], help="the vendor to convert to"
    )
    convert.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="OUT",
        help="the v2 sheet (.xlsx or .csv; default NAME.v2.xlsx or .csv)",
    )
    convert.add_argument(
        "--registration-validation",
        default="disabled",
        metavar="VALUE",
        help="registrationRequestValidation of every row (default: disabled)",
    )
    convert.add_argument(
        "--default-instructor",
        metavar="EMAIL",
        help="main instructor for rows with no instructor (v1's platform owner)",
    )
    convert.add_argument("--sheet", metavar="NAME", help="the worksheet to read")
    convert.add_argument("--timezone", metavar="TZ", help="time zone of dates typed without one")
    convert.add_argument("--path-id", metavar="ID", help="the path of rows without a Path ID")


def _convert(args: argparse.Namespace) -> int:
    """`convert`: a v1 sheet to a v2 sheet; exit 1 when some rows could not be converted."""
    import datetime as dt

    from importer.core.outcomes import ExitCode
    from importer.sheet.validation import validate
    from importer.vendors.learning360_v1.schema import VENDOR as V1
    from importer.vendors.learning360_v2.convert import convert_v1_to_v2

    report = validate(
        args.file,
        V1,
        sheet=args.sheet,
        timezone=args.timezone,
        defaults={PATH_ID.field: args.path_id} if args.path_id else None,
    )
    conversion = convert_v1_to_v2(report, args.registration_validation, args.default_instructor)
    suffix = ".csv" if report.table.delimiter else ".xlsx"
    target = args.output or args.file.with_name(f"{args.file.stem}.v2{suffix}")
    summary = [
        ("Converted from", str(args.file)),
        ("From", args.source_vendor),
        ("To", args.target_vendor),
        ("Rows converted", str(conversion.converted)),
        ("Rows not converted", str(conversion.failed)),
        ("Written at", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")),
    ]
    written = conversion.write(target, summary)
    print(
        f"{args.file}: {conversion.converted} rows converted, {conversion.failed} not. "
        f"v2 sheet: {written}"
    )
    print(f"Import it with: session-importer run {written} --vendor {_V2}")
    return ExitCode.OK if not conversion.failed else ExitCode.NOT_ALL_DONE


#: ``session-importer convert``: 360Learning's v1 to v2 migration guide, applied to a sheet.
CONVERT = Command(
    name="convert",
    help="convert a 360Learning v1 sheet to a v2 sheet (the v1 API is being retired)",
    description="Convert a 360Learning v1 sheet into a v2 sheet that `run` takes, by the "
    "vendor's migration guide: names renamed, the first instructor email as main "
    "instructor and the others as co-instructors (looked up at import time), the owner "
    "group dropped (v2 picks it), registration validation added.",
    arguments=_convert_arguments,
    run=_convert,
)

DECLARED = Declarations(
    label="360Learning v2",
    options=(MARKER,),
    sheet_defaults=(PATH_ID,),
    exports="the sessions of a path",
    export_targets=(EXPORT_PATH,),
    commands=(CONVERT,),
)
