"""The job's log file, through the standard :mod:`logging` module.

A nightly job's log (``--log``, or ``log`` in the job file) is what its operator reads in
the morning, and what their scripts parse: one line per event, ``YYYY-MM-DD HH:MM:SS
message``, appended. The command line writes to the logger named :data:`JOB_LOG`
(``logging.getLogger("importer.job").info(...)``); :func:`job_log` attaches the file's
handler for one run and removes it after, so nothing leaks from one run to the next in
one process.

Every line is cleaned by :class:`LineFilter` before any handler sees it: every secret the
process holds masked (:func:`importer.core.secret.scrub`), and control characters escaped
(:func:`printable`), so that no text from outside (a file name with a newline, a vendor's
answer) can forge a log line.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from importer.core.files import open_private_append
from importer.core.secret import scrub

__all__ = [
    "JOB_LOG",
    "LINE_FORMAT",
    "STAMP_FORMAT",
    "LineFilter",
    "PrivateFileHandler",
    "job_log",
    "line_formatter",
    "printable",
]

#: The logger of the job's log file.
JOB_LOG = "importer.job"
#: A line of the log: when (local time, to the second), then what.
LINE_FORMAT = "%(asctime)s %(message)s"
#: The time at the start of each line (``2026-01-05 09:00:00``).
STAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``): one line, no escapes."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


class LineFilter(logging.Filter):
    """Makes each record one clean line: secrets masked, control characters escaped.

    The record itself is rewritten (its arguments merged into the message, an exception or
    stack folded into it), so every handler after it, and every logger it propagates to,
    gets the clean line; it is never dropped. Cleaning a clean line changes nothing.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            # A traceback is many lines: folded into this one, escaped like the rest.
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        if record.stack_info:
            message += "\n" + record.stack_info
        record.msg, record.args = printable(scrub(message)), None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def line_formatter() -> logging.Formatter:
    """The formatter of the job's log lines (:data:`LINE_FORMAT`, :data:`STAMP_FORMAT`)."""
    return logging.Formatter(LINE_FORMAT, datefmt=STAMP_FORMAT)


class PrivateFileHandler(logging.StreamHandler[TextIO]):
    """Appends records to a file created ``0600`` in a folder made ``0700`` when new (the log
    names learners' sheets); each line is flushed as it is written.

    A line that cannot be written (a full disk) raises, as any write of the run would, rather
    than printing logging's traceback and going on without a log.

    Raises:
        OutputError: the file cannot be opened.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(open_private_append(path))
        self.path = path

    def close(self) -> None:
        self.acquire()
        try:
            # Each line was flushed as it was written; a line that could not be has raised.
            with contextlib.suppress(OSError):
                self.stream.close()
        finally:
            self.release()
            super().close()

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            raise error
        super().handleError(record)


@contextlib.contextmanager
def job_log(path: str | Path | None) -> Iterator[logging.Logger]:
    """The job's logger, writing to ``path`` until the block ends (nowhere when ``None``).

    Raises:
        OutputError: the log file cannot be opened.
    """
    logger = logging.getLogger(JOB_LOG)
    # Our own logger's settings, the same every time: records at INFO, cleaned before any
    # handler (the file's, or one an embedding program put on a parent logger) sees them.
    logger.setLevel(logging.INFO)
    logger.addFilter(_CLEAN)
    if path is None:
        yield logger
        return
    handler = PrivateFileHandler(Path(path))
    handler.setFormatter(line_formatter())
    handler.addFilter(_CLEAN)  # records of child loggers too
    logger.addHandler(handler)
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        handler.close()


_CLEAN = LineFilter()
