"""session-importer: validate a spreadsheet of training sessions and import it into a
learning platform (360Learning v1/v2, Zoho People LMS, Coursepath).

The public API (the command line only wraps it)::

    import importer

    report = importer.validate("sessions.csv", vendor="360learning-v2", timezone="Europe/Paris")
    report.counts()                    # {'valid': 98, 'invalid': 2}
    importer.write_report(report)      # sessions.result.csv, next to the input
"""

from importer.api import __version__, result_sheet, write_report
from importer.errors import (
    ConfigurationError,
    ImporterError,
    InputError,
    MissingColumnsError,
    SheetNotFoundError,
    UnreadableFileError,
    UnsafeFileError,
)
from importer.templates import write_template
from importer.validation import RowError, RowOutcome, ValidationReport, validate
from importer.vendors import REGISTRY, Vendor, get_vendor

__all__ = [
    "REGISTRY",
    "ConfigurationError",
    "ImporterError",
    "InputError",
    "MissingColumnsError",
    "RowError",
    "RowOutcome",
    "SheetNotFoundError",
    "UnreadableFileError",
    "UnsafeFileError",
    "ValidationReport",
    "Vendor",
    "__version__",
    "get_vendor",
    "result_sheet",
    "validate",
    "write_report",
    "write_template",
]
