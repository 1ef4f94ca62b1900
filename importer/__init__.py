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
    journal = importer.Journal(Path("sessions.journal.sqlite"), "360learning-v2")
    run = importer.run_import(report, settings, journal=importer.JournalOptions(journal))
    importer.write_report(run.validation, "sessions.result.xlsx", run)
    run.exit_code                      # 0 all created, 1 some not, 3 fatal vendor error
"""

from importer.api import __version__, result_sheet, write_report
from importer.config import RunSettings, resolve_settings
from importer.errors import (
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
from importer.journal import Journal
from importer.pipeline import JournalOptions, RunReport, run_import
from importer.templates import write_template
from importer.validation import RowError, RowOutcome, ValidationReport, validate
from importer.vendors import REGISTRY, Vendor, get_vendor

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
    "RowOutcome",
    "RunReport",
    "RunSettings",
    "SheetNotFoundError",
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
