"""The Python API's entry points that take a vendor by name: what the command line does,
callable from a scheduler or a notebook (the rest of the API is re-exported by ``importer``).

Example::

    import importer

    report = importer.validate("sessions.xlsx", vendor="zoho-people", timezone="Europe/Paris")
    print(report.counts())            # {'valid': 41, 'invalid': 2}
    for error in report.all_errors():
        print(error)                  # row 7, column 'Date': '31-02-2025' is not a real date...
    importer.write_report(report, "sessions.result.xlsx")

The layers below take the vendor's declaration, never its name: the name is looked up here,
once (as the command line and the page do).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer.core.settings import RunSettings
from importer.sheet import validation
from importer.sheet.schema import Vendor
from importer.sheet.validation import ValidationReport
from importer.vendors import get_vendor, plugin
from importer.vendors.plugin import Plugin

if TYPE_CHECKING:
    from importer.results.report import RunReport

__all__ = ["resolve_settings", "run_import", "validate"]


def validate(
    path: str | Path,
    vendor: str | Vendor,
    *,
    sheet: str | None = None,
    timezone: str | None = None,
    date_order: str | None = None,
    defaults: Mapping[str, str] | None = None,
    columns: Mapping[str, str | None] | None = None,
) -> ValidationReport:
    """Read and validate a spreadsheet for a vendor, given by name or declaration.

    See :func:`importer.sheet.validation.validate` for the arguments and what it raises.
    """
    spec = vendor if isinstance(vendor, Vendor) else get_vendor(vendor)
    return validation.validate(
        path,
        spec,
        sheet=sheet,
        timezone=timezone,
        date_order=date_order,
        defaults=defaults,
        columns=columns,
    )


def resolve_settings(
    vendor: str | Plugin,
    *,
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    job: Mapping[str, Any] | None = None,
    require_credentials: bool = True,
) -> RunSettings:
    """A run's settings for a vendor given by name or plugin (see
    :func:`importer.jobs.config.resolve_settings`)."""
    from importer.jobs import config  # lazy: validate loads no HTTP client

    chosen = vendor if isinstance(vendor, Plugin) else plugin(vendor)
    return config.resolve_settings(
        chosen, flags=flags, env=env, job=job, require_credentials=require_credentials
    )


def run_import(report: ValidationReport, settings: RunSettings, **options: Any) -> RunReport:
    """Send every valid row of ``report`` to the vendor ``settings`` name; every row's outcome
    (the options are :func:`importer.jobs.pipeline.run_import`'s)."""
    from importer.jobs.pipeline import run_import as run

    return run(report, settings, plugin(settings.vendor), **options)
