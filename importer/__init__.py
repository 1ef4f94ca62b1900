"""session-importer: validate a spreadsheet of training sessions and import it into a
learning platform (360Learning v1/v2, Zoho People LMS, Coursepath).

The public API (the command line only wraps it)::

    import importer

    report = importer.validate("sessions.csv", vendor="360learning-v2", timezone="Europe/Paris")
    report.counts()                    # {'valid': 98, 'invalid': 2}
    importer.write_report(report)      # sessions.result.csv, next to the input

    # Importing, as `session-importer run` does (credentials from the environment):
    import os
    from pathlib import Path

    settings = importer.resolve_settings("360learning-v2", flags={}, env=os.environ)
    journal = importer.Journal(Path("acme-360.journal.sqlite"), "360learning-v2")
    run = importer.run_import(report, settings, journal=importer.JournalOptions(journal))
    importer.write_report(run.validation, "sessions.result.xlsx", run)
    run.exit_code                      # 0 all created, 1 some not, 3 fatal vendor error
"""

# The names are imported on first use (PEP 562), so that `session-importer` can install its
# signal handlers before pandas and friends load (a Ctrl-C then gives no traceback).
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importer.api import resolve_settings, run_import, validate
    from importer.core.errors import (
        ConfigurationError,
        FatalVendorError,
        ImporterError,
        InputError,
        MissingColumnsError,
        OutputError,
        SheetNotFoundError,
        UnreadableFileError,
        UnsafeFileError,
    )
    from importer.core.outcomes import RowError, RowResult, Status
    from importer.core.settings import RunSettings
    from importer.core.version import __version__
    from importer.jobs.journaling import JournalOptions
    from importer.results.report import RunReport
    from importer.results.templates import write_template
    from importer.results.write import result_sheet, write_report
    from importer.sheet.validation import ValidationReport
    from importer.store.journal import Journal
    from importer.vendors import REGISTRY, Vendor, get_vendor

_HOMES = {
    "__version__": "importer.core.version",
    "result_sheet": "importer.results.write",
    "write_report": "importer.results.write",
    "RunSettings": "importer.core.settings",
    "resolve_settings": "importer.api",
    "ConfigurationError": "importer.core.errors",
    "FatalVendorError": "importer.core.errors",
    "ImporterError": "importer.core.errors",
    "InputError": "importer.core.errors",
    "MissingColumnsError": "importer.core.errors",
    "OutputError": "importer.core.errors",
    "SheetNotFoundError": "importer.core.errors",
    "UnreadableFileError": "importer.core.errors",
    "UnsafeFileError": "importer.core.errors",
    "Journal": "importer.store.journal",
    "JournalOptions": "importer.jobs.journaling",
    "RunReport": "importer.results.report",
    "run_import": "importer.api",
    "write_template": "importer.results.templates",
    "RowError": "importer.core.outcomes",
    "RowResult": "importer.core.outcomes",
    "Status": "importer.core.outcomes",
    "ValidationReport": "importer.sheet.validation",
    "validate": "importer.api",
    "REGISTRY": "importer.vendors",
    "Vendor": "importer.vendors",
    "get_vendor": "importer.vendors",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use."""
    if name not in _HOMES:
        raise AttributeError(f"module 'importer' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "REGISTRY",
    "ConfigurationError",
    "FatalVendorError",
    "ImporterError",
    "InputError",
    "Journal",
    "JournalOptions",
    "MissingColumnsError",
    "OutputError",
    "RowError",
    "RowResult",
    "RunReport",
    "RunSettings",
    "SheetNotFoundError",
    "Status",
    "UnreadableFileError",
    "UnsafeFileError",
    "ValidationReport",
    "Vendor",
    "__version__",
    "get_vendor",
    "resolve_settings",
    "result_sheet",
    "run_import",
    "validate",
    "write_report",
    "write_template",
]
