"""Changing what an import created: updates (``run --update``), and the mass-change guard.

A vendor that documents an update or a delete declares it on its plugin as
:class:`~importer.vendors.plugin.Changes`
(``importer/vendors/<vendor>/changes.py``): the calls that change a created object field by
field, the calls that delete it, and what their answers mean. Nothing here names a vendor.

An update keeps the journal's crash guarantee: the row's state ``updating`` is committed
before the first request leaves; the new values (and state ``created``) right after the
vendor confirms. A row found ``updating`` by the next run is in doubt: it is read back, and
sent again only if the vendor does not hold the new values yet (an update sets values, so
sending it twice changes nothing; still, a re-run repeats no update that was done).

The guard (:class:`Guard`) stops an update or an undo that would touch more rows than a
coordinator plausibly meant to, before anything is sent, until ``--confirm N`` gives the
exact count.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from importer.core.errors import ImporterError
from importer.core.outcomes import ExitCode, JournalState, RowResult, Status

if TYPE_CHECKING:
    from importer.sending.protocol import Answer, Call, Outcome
    from importer.sending.sender import Sender
    from importer.store.base import Claim, Entry, RowStore
    from importer.vendors.plugin import Changes, Plugin

__all__ = [
    "ConfirmationNeededError",
    "Guard",
    "claim_change",
    "describe",
    "differences",
    "send_calls",
    "update_row",
]


class ConfirmationNeededError(ImporterError):
    """An update or undo over the mass-change guard, or a ``--confirm`` count that does not
    match: nothing was sent (exit 4)."""

    exit_code = ExitCode.NEEDS_CONFIRMATION

    def __init__(self, message: str, on_page: str = "") -> None:
        super().__init__(message)
        self._on_page = on_page or message

    @property
    def on_page(self) -> str:
        """The same, in the web page's words (its "Confirm count" field, not ``--confirm``)."""
        return self._on_page


class _Meta(Protocol):
    """Where a confirmed change is kept: the journal's key-value notes."""

    def meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class Guard:
    """The mass-change guard: how many rows an update or undo may touch without ``--confirm``.

    It stops when the count is above ``rows``, or above ``share`` percent of the account's
    created rows (a count of ``floor`` or fewer never stops it: changing a handful of rows
    of a small account is what ``--update`` is for).

    Attributes:
        share: percent of the account's created rows (default 20).
        rows: rows at most, whatever the account's size (default 50).
        floor: rows never stopped (default 5).
        confirm: the exact count the coordinator confirmed (``--confirm N``), if any.
    """

    share: float = 20.0
    rows: int = 50
    floor: int = 5
    confirm: int | None = None

    def limit(self, journaled: int) -> int:
        """The most rows that pass without ``--confirm``, for an account of ``journaled`` rows."""
        return min(self.rows, max(self.floor, int(journaled * self.share / 100)))

    def check(
        self,
        count: int,
        journaled: int,
        what: str,
        changes: Collection[str] = (),
        journal: _Meta | None = None,
    ) -> None:
        """Raise :class:`ConfirmationNeededError` unless ``count`` rows may be touched.

        ``--confirm N`` passes when N is the count, and then the confirmed change is kept in
        the journal: a re-run after an interruption, with fewer rows left, passes with the
        same N as long as what is left is part of what was confirmed (the same rows, with the
        same new values), and once it is all done the same command is a no-op. A count at or
        under the guard's limit needs no confirmation, but a ``--confirm`` given is checked.

        Args:
            count: rows the update or undo would change at the vendor.
            journaled: rows the account's journal records as created.
            what: the operation, in words ("update", "undo").
            changes: one word per row changed (its key, and its new values' fingerprint
                for an update), to know a resumed change from another one.
            journal: where the confirmed change is kept (none: no resuming).
        """
        if self.confirm is None and count <= self.limit(journaled):
            return
        label = f"confirmed {what}"
        if self.confirm is not None and self.confirm == count:
            if journal is not None and changes:
                journal.set_meta(label, json.dumps({"n": count, "changes": sorted(changes)}))
            return
        if self.confirm is not None:  # (the rest of a confirmed change: a subset of it)
            kept = json.loads((journal.meta(label) if journal is not None else None) or "{}")
            if kept.get("n") == self.confirm and set(changes) <= set(kept.get("changes", ())):
                return  # the rest of the change confirmed before, after an interruption
            said = f"this {what} would change {count} row(s) at the vendor. Nothing was sent"
            raise ConfirmationNeededError(
                f"--confirm {self.confirm} does not match: {said}; check, then give "
                f"--confirm {count}.",
                f"The count {self.confirm} does not match: {said}; check, then type {count} "
                "in Confirm count and press the button again.",
            )
        share = f"{100 * count / journaled:.0f}%" if journaled else "all"
        said = (
            f"this {what} would change {count} row(s) at the vendor ({share} of the "
            f"{journaled} row(s) created in this account; the guard stops above "
            f"{self.limit(journaled)}). Nothing was sent. If that is what you mean, "
        )
        raise ConfirmationNeededError(
            f"{said}run again with --confirm {count} (a dry run lists them).",
            f"{said[0].upper()}{said[1:]}type {count} in Confirm count and press the button "
            "again (a dry run lists them).",
        )


def _fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """A row's own fields (not the importer's ``_marker`` and ``_run``), empty cells as None."""
    return {k: (None if v in ("", None) else v) for k, v in values.items() if not k.startswith("_")}


def differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Field -> (value when created, value now), for every field that differs."""
    old, new = _fields(before), _fields(after)
    return {
        name: (old.get(name), new.get(name))
        for name in sorted(set(old) | set(new))
        if str(old.get(name) or "") != str(new.get(name) or "")
    }


def describe(changed: Mapping[str, tuple[Any, Any]]) -> str:
    """``startDate: 2026-01-05T09:00:00.000Z → 2026-01-06T09:00:00.000Z; …`` (empty: "(empty)")."""
    return "; ".join(
        f"{name}: {old if old is not None else '(empty)'} → {new if new is not None else '(empty)'}"
        for name, (old, new) in changed.items()
    )


class _Plan:
    """A vendor's adapter, making a fixed list of calls read by the vendor's :class:`Changes`
    (so that an update or delete goes through the sender's one retry policy and pacer)."""

    def __init__(self, base: Any, calls: list[Call], interpret: Callable[[Call, Answer], Outcome]):
        self._base, self._calls, self._interpret = base, calls, interpret

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)

    def calls(self, values: Mapping[str, str | None]) -> list[Call]:
        return self._calls

    def interpret(self, call: Call, answer: Answer) -> Outcome:
        return self._interpret(call, answer)

    def created_id(self, results: Mapping[str, str]) -> str | None:
        return None


def send_calls(sender: Sender, changes: Changes, calls: list[Call]) -> RowResult:
    """Make ``calls`` in order under the sender's pacing and retry policy.

    The result's status is ``created`` when every call succeeded (the caller names it
    ``updated`` or ``deleted``), else ``rejected``, ``unknown`` or ``not sent`` as for an import.
    """
    plan = _Plan(sender.adapter, calls, changes.interpret)
    worker = dataclasses.replace(sender, adapter=plan, requests=0)
    result = worker.import_row({})
    with sender._guard:
        sender.requests += worker.requests
    return result


def marked_send(
    journal: RowStore,
    key: str,
    ident: str,
    state: JournalState,
    sender: Sender,
    changes: Changes,
    calls: list[Call],
) -> RowResult:
    """Send a row's update or delete ``calls``: the row was claimed in ``state``
    (``updating``, ``deleting``) before (see :func:`claim_change`), and stays so if the
    sending is cut short."""
    try:
        return send_calls(sender, changes, calls)
    except BaseException:
        journal.outcome(key, state, ident, f"stopped while {state}: in doubt")
        raise


def claim_change(journal: RowStore, entry: Entry, state: JournalState) -> Claim:
    """Claim a created row for an update or a delete (``state``), committed before the first
    request leaves: refused if another run moved it on, or has it in flight and lives."""
    return journal.claim(
        entry.key, entry.state, state, message=f"{state}: in doubt until the vendor answers"
    )


def _holds(
    plugin: Plugin,
    sender: Sender,
    ident: str,
    values: Mapping[str, Any],
    changed: Mapping[str, Any],
) -> bool:
    """Whether the vendor already holds the new values of every changed field (read back)."""
    readback = plugin.readback
    if readback is None or not set(changed) <= set(readback.fields):
        return False
    back = readback.find(sender, {ident: values}, {}).get(ident)
    if back is None:
        return False
    return all(
        str(back.get(readback.fields[name]) or "") == str(values.get(name) or "")
        for name in changed
    )


def update_row(
    plugin: Plugin,
    journal: RowStore,
    sender: Sender,
    key: str,
    print_: str,
    entry: Entry,
    values: Mapping[str, Any],
) -> RowResult | Claim:
    """Change at the vendor a created row edited since (``run --update``), journaled; the
    claim refused when another run moved the row on or has it in flight.

    Args:
        plugin: the vendor's plugin (its :class:`Changes`).
        journal: the account's journal.
        sender: the run's sender.
        key, print_: the row's journal key and its values' fingerprint now.
        entry: the row's journal record (state ``created`` or ``updating``).
        values: the row's values now.
    """
    ident = entry.created_id
    changed = differences(entry.payload, values)
    said = describe(changed)
    changes = plugin.changes
    if changes is None or changes.update is None:
        return RowResult(
            Status.CHANGED,
            ident,
            f"changed since it was created ({said}): {plugin.name} offers no update through "
            "its API; change it in the vendor's own pages, or give the row a new key",
        )
    calls = changes.update(entry.payload, values, ident)
    if isinstance(calls, str):  # no update can do it; {undo} names the command that can
        run, where = entry.payload.get("_run"), entry.sheet_row
        undo = (
            f"session-importer undo {run} --row {where} --vendor {plugin.name}"
            if run and where
            else f"session-importer undo RESULT_SHEET --vendor {plugin.name}"
        )
        advice = calls.replace("{undo}", undo)
        return RowResult(Status.CHANGED, ident, f"changed since it was created ({said}): {advice}")
    kept = dict(values) | {k: v for k, v in entry.payload.items() if k == "_run"}
    # Held from here: no other run updates or deletes it meanwhile (issue 25).
    claim = claim_change(journal, entry, JournalState.UPDATING)
    if not claim.held:
        return claim
    entry = claim.entry or entry
    if entry.state == JournalState.UPDATING and _holds(plugin, sender, ident, values, changed):
        journal.rewrite(key, print_, kept, JournalState.CREATED, f"updated: {said}")
        return RowResult(
            Status.UPDATED,
            ident,
            f"{said} (found done after an interrupted run: not resent)",
        )
    if not calls:
        journal.rewrite(key, print_, kept, JournalState.CREATED, "")
        return RowResult(Status.SKIPPED, ident, "nothing the vendor keeps has changed")
    result = marked_send(journal, key, ident, JournalState.UPDATING, sender, changes, calls)
    if result.status == Status.CREATED:
        journal.rewrite(key, print_, kept, JournalState.CREATED, f"updated: {said}")
        # The status says "updated"; the message says what changed (the journal keeps both).
        return RowResult(Status.UPDATED, ident, said, result.steps, result.requests)
    if result.status == Status.UNKNOWN:  # stays "updating": read back before anything is resent
        journal.outcome(key, JournalState.UPDATING, ident, result.message)
        return RowResult(Status.UNKNOWN, ident, f"the update's answer was lost ({said}): "
                         f"{result.message}; the next run with --update checks it")  # fmt: skip
    if result.status == Status.REJECTED and result.steps:  # part of it was done
        journal.outcome(key, JournalState.UPDATING, ident, result.message)
    else:
        journal.outcome(key, JournalState.CREATED, ident, result.message)
    verb = "refused" if result.status == Status.REJECTED else "not sent"
    return RowResult(result.status, ident, f"update {verb} ({said}): {result.message}")
