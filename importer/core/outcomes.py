"""One vocabulary for what happened: row statuses, journal states and exit codes.

A row's **status** is what the result sheet and every summary say about it; a row's
**journal state** is what the journal keeps between runs (the same words where they mean the
same thing, plus ``pending`` and ``sending``); an **exit code** is what the process tells
its caller. They are string and integer enums, so they compare equal to the words and
numbers written in sheets, JSON lines and shells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

__all__ = ["PROBLEMS", "ExitCode", "JournalState", "RowError", "RowResult", "Status"]


class Status(StrEnum):
    """What happened to one input row (the result sheet's Status column)."""

    VALID = "valid"  # validated only (validate, dry run)
    INVALID = "invalid"  # never sent: the sheet's problem, named in plain words
    CREATED = "created"  # the vendor's ID is in Created ID
    SKIPPED = "skipped"  # created by an earlier run (or a repeat of an earlier row)
    CHANGED = "changed"  # created earlier and edited since: not sent again
    REJECTED = "rejected"  # the vendor refused the row; its reason is given
    UNKNOWN = "unknown"  # the answer was lost: looked up before anything is resent
    NOT_SENT = "not sent"  # a stop, --limit, a dry run or a vendor that kept failing came first
    UPDATED = "updated"  # created earlier, edited since, and changed at the vendor (run --update)
    DELETED = "deleted"  # deleted at the vendor by `undo`


#: Statuses whose rows the result sheet highlights (a coordinator must look at them).
PROBLEMS = frozenset({Status.INVALID, Status.REJECTED, Status.UNKNOWN, Status.NOT_SENT})


class JournalState(StrEnum):
    """What the journal keeps of a row between runs."""

    PENDING = "pending"  # known, never sent
    SENDING = "sending"  # a request may be on the wire (committed before it leaves)
    CREATED = "created"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    UPDATING = "updating"  # an update may be on the wire (committed before it leaves)
    DELETING = "deleting"  # a delete may be on the wire (committed before it leaves)
    DELETED = "deleted"  # deleted at the vendor by `undo`

    def status(self) -> Status:
        """The row status this state stands for when nothing is sent now."""
        return {
            JournalState.CREATED: Status.CREATED,
            JournalState.REJECTED: Status.REJECTED,
            JournalState.UNKNOWN: Status.UNKNOWN,
            JournalState.SENDING: Status.UNKNOWN,
            JournalState.UPDATING: Status.UNKNOWN,
            JournalState.DELETING: Status.UNKNOWN,
            JournalState.DELETED: Status.DELETED,
        }.get(self, Status.NOT_SENT)


class ExitCode(IntEnum):
    """What ``session-importer`` returns."""

    OK = 0  # every row valid (validate) or created (run)
    NOT_ALL_DONE = 1  # some rows invalid, rejected, unknown or not sent
    CANNOT_RUN = 2  # bad arguments, an unusable file, a path that cannot be written
    FATAL = 3  # stopped by the vendor: credentials or scope refused, locks, the vendor down
    NEEDS_CONFIRMATION = 4  # an update or undo over the mass-change guard: give --confirm N
    INTERRUPTED = 130  # Ctrl-C
    TERMINATED = 143  # SIGTERM


@dataclass(frozen=True)
class RowError:
    """One problem with one cell (or one row), in plain words.

    Attributes:
        row: the sheet row number, as Excel shows it.
        column: the header of the column in the sheet (or the field's label).
        value: the cell as typed.
        code: the problem code (stable, for programs).
        message: what is wrong and what to type instead.
    """

    row: int
    column: str
    value: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column!r}: {self.message}"


@dataclass
class RowResult:
    """What happened to one input row: the one record of a row's outcome, from validation
    (``valid``/``invalid`` with its ``errors`` and ``notes``) through sending (the vendor's
    ID, the message, the calls made) to the journal's summary and the result sheet.

    Attributes:
        status: what happened (the result sheet's Status column).
        created_id: the vendor's ID of what the row created.
        message: what the vendor said, or why nothing was sent, in plain words.
        steps: the calls made for the row, in order (a row may take several).
        requests: HTTP requests made for it, retries included.
        errors: the sheet's problems with the row (status ``invalid``).
        notes: how ambiguous cells were read, and what the vendor does with empty ones.
    """

    status: Status
    created_id: str = ""
    message: str = ""
    steps: list[str] = field(default_factory=list)
    requests: int = 0
    errors: tuple[RowError, ...] = ()
    notes: tuple[str, ...] = ()
