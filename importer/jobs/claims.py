"""One row, one run: what a run does with a row another live run (or undo) has in flight.

Runs on one account work at once (issue 25): before a request of a row leaves, the run
claims the row in the journal (:meth:`importer.store.base.RowStore.claim`). A claim refused
because the row moved on (another run created it meanwhile) is decided again on the row as
it is now; one refused because a live run holds the row is reported ``skipped`` ("being
created by run 12 (started by ana)"), or, with ``--wait``, waited for: the row is polled
until its holder is done with it (or dies: then it is this run's to reconcile), and decided
again on its outcome.
"""

from __future__ import annotations

from collections.abc import Callable

from importer.core.clock import Clock
from importer.core.outcomes import JournalState, RowResult, Status
from importer.sending.throttle import PacerStopped
from importer.store.base import Claim, Entry, Holder

__all__ = ["POLL", "ROW_WAIT", "being", "settle"]

#: How long a run waits (``--wait``) for a row a live run holds before reporting it: longer
#: than any one row takes (retries and a vendor's lock pause included).
ROW_WAIT = 900.0
#: How often a waiting run looks at the row again.
POLL = 0.25

_VERBS = {
    JournalState.SENDING: "created",
    JournalState.UPDATING: "updated",
    JournalState.DELETING: "deleted",
}


def being(state: str, holder: Holder) -> str:
    """``being created by run 12 (started by ana)``: a row in flight for ``holder``."""
    return f"being {_VERBS.get(JournalState(state), 'sent')} by {holder.label}"


def settle(
    entry: Entry,
    attempt: Callable[[Entry], RowResult | Claim],
    *,
    wait: bool,
    clock: Clock,
    stopped: Callable[[], bool],
    busy: Callable[[Entry, Holder, float | None], RowResult],
    seconds: float = ROW_WAIT,
) -> RowResult:
    """Decide a row until it is done: ``attempt`` decides on the row as the journal has it
    (a result, or the claim it could not make), again on the row as it is now after each
    refused claim.

    Args:
        entry: the row as the run last read it.
        attempt: decides and does what the row needs (skip, send, update, delete).
        wait: wait for a row a live holder has (``--wait``), at most ``seconds``.
        clock: the run's clock (waiting polls on it).
        stopped: whether the run was stopped (a signal, a fatal answer): a wait gives up.
        busy: the result for a row ``holder`` has in flight, and the seconds waited for it
            (``None``: no wait asked).

    Raises:
        PacerStopped: the run stopped while this row was waited for.
    """
    deadline: float | None = None
    waited: Holder | None = None
    while True:
        done = attempt(entry)
        if isinstance(done, RowResult):
            if waited is not None:
                done.message = f"{done.message} (after waiting for {waited.label})".lstrip()
            return done
        if done.entry is None:  # rows are never removed: a journal emptied under the run
            return RowResult(Status.NOT_SENT, message="not sent: the row left the journal")
        entry = done.entry
        if done.busy is None:  # the row moved on (done by another run): decide again
            continue
        if not wait:
            return busy(entry, done.busy, None)
        now = clock.time()
        deadline = now + seconds if deadline is None else deadline
        if now >= deadline:
            return busy(entry, done.busy, seconds)
        if stopped():
            raise PacerStopped("the run stopped while waiting for another run's row")
        waited = done.busy
        clock.sleep(POLL)
