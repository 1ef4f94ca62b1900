"""What sending takes from a store, defined where it is used: a call schedule shared by
processes (:class:`Slots`), the turns runs take on it (:class:`Share`, :class:`Sharer`) and
kept access tokens (:class:`Tokens`).

The stores (:mod:`importer.store`) conform to these: this machine's SQLite files
(:class:`importer.store.slots.SharedSlots`, :class:`importer.store.tokens.TokenStore`) or
PostgreSQL's. :class:`MemoryTokens` keeps tokens for one process (the Python API's default).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from importer.sending.throttle import Window

__all__ = [
    "INTERACTIVE_WEIGHT",
    "MemoryTokens",
    "Share",
    "Sharer",
    "Slots",
    "Tokens",
    "account_key",
    "schedule_id",
]

#: Turns an interactive run gets for a batch run's one while both wait on one account: a
#: sheet of up to this many rows started during a backfill goes through at the vendor's pace
#: as if alone (plus the slot in progress); a larger one still leaves the backfill a share.
INTERACTIVE_WEIGHT = 10


@dataclass(frozen=True)
class Share:
    """How a run takes turns with the other runs on its account's schedule.

    Runs waiting at once take the account's slots in turns, weighted: an interactive run
    gets :data:`INTERACTIVE_WEIGHT` slots for a batch run's one; runs of one class take
    turns one by one (round robin). The vendor's limit is the account's whatever the turns.

    Attributes:
        run: who the run is, as :meth:`Slots.sharing` shows it (a sheet's name, a run number;
            never a secret).
        interactive: someone waits for it (a run started from the page, a small sheet).
        who: who started it (:mod:`importer.jobs.who`; ``None``: not recorded).
        journal: its journal (a file's absolute path, or a store's journal name; ``""``:
            none).
        run_id: its run in that journal (``None``: none).
        account: the account, as ``status`` and the page show it (its vendor and host;
            never a secret).
    """

    run: str = ""
    interactive: bool = False
    who: str | None = None
    journal: str = ""
    run_id: int | None = None
    account: str = ""

    @property
    def weight(self) -> int:
        """Slots a turn, against a batch run's one."""
        return INTERACTIVE_WEIGHT if self.interactive else 1


@dataclass(frozen=True)
class Sharer:
    """A run live on an account's schedule, as :meth:`Slots.sharing` lists it.

    Attributes:
        run: its :attr:`Share.run`.
        interactive: its class (:attr:`Share.interactive`).
        waiting: waiting for a slot now (else its request is on the wire, or it is between
            rows).
        share: its part of the account's recent slots (0 to 1), counted from its first one
            among them; before it has one, the part its weight promises.
        mine: the caller's own run.
        who: :attr:`Share.who`.
        journal: :attr:`Share.journal`.
        run_id: :attr:`Share.run_id`.
        account: :attr:`Share.account`.
        schedule: the account's schedule (an opaque name: :func:`schedule_id`).
        done: rows it has finished, as it last said (:meth:`Slots.publish`).
        left: rows it has still to send (``None``: it has not said yet).
        eta: seconds it expects to take still, as of now (``None``: not said).
        behind: waiting for its turn: it wants a slot and the next one goes to another run
            (a run waiting for the vendor's pace, or a pause, alone is not behind).
    """

    run: str
    interactive: bool
    waiting: bool
    share: float
    mine: bool = False
    who: str | None = None
    journal: str = ""
    run_id: int | None = None
    account: str = ""
    schedule: str = ""
    done: int = 0
    left: int | None = None
    eta: float | None = None
    behind: bool = False


class Slots(Protocol):
    """One account's call schedule (see :class:`importer.store.slots.SharedSlots`)."""

    def take(self, interval: float, window: Window | None) -> tuple[int | None, float]:
        """Take a slot now if the schedule allows: ``(call id, 0)``, else ``(None, seconds)``."""
        ...

    def ended(self, call: int) -> None:
        """The answer to call ``call`` arrived (or it failed)."""
        ...

    def pause_for(self, seconds: float, reason: str = "") -> None:
        """No call from any process for ``seconds``."""
        ...

    def pause(self) -> tuple[float, str]:
        """Seconds left of the current pause (0 if none) and its reason."""
        ...

    def join(self, share: Share) -> None:
        """Take turns as ``share`` says from now on (default: a batch run, named by process)."""
        ...

    def sharing(self) -> list[Sharer]:
        """The runs live on the account now, with their class and share of the recent slots."""
        ...

    def publish(self, done: int, left: int, seconds: float | None) -> None:
        """Say how far the caller's run is (rows done, rows left to send, seconds left), for
        ``status`` and the page: kept with its turns' row (the caller says it at most once a
        second)."""
        ...

    def close(self) -> None:
        """Let go of the schedule (the store stays open); the caller's turns end with it."""
        ...


def schedule_id(account: str) -> str:
    """An account schedule's opaque name (the one its SQLite file is named by): the same
    for every store, and a page or ``status`` can compute it from the account's settings."""
    import hashlib  # here: `status` starts without it (issue 27)

    return hashlib.sha256(account.encode()).hexdigest()[:20]


def account_key(*parts: str) -> str:
    """A name for an account that reveals none of its parts (they include secrets)."""
    import hashlib  # OpenSSL's, 2 ms: loaded where an account is named (issue 27: start-up)

    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


class Tokens(Protocol):
    """Where tokens and token-request times are kept."""

    def get(self, account: str) -> tuple[str, float] | None:
        """The kept token and when it should be renewed (wall clock), if any."""
        ...

    def put(self, account: str, value: str, expires: float) -> None:
        """Keep a new token, to be used until ``expires`` (its renewal time)."""
        ...

    def forget(self, account: str, value: str) -> None:
        """Forget ``value`` (refused by the vendor), unless another token replaced it."""
        ...

    def requested(self, account: str, at: float) -> None:
        """Record a token request made at ``at``."""
        ...

    def requests_since(self, account: str, since: float) -> list[float]:
        """When the token requests since ``since`` were made, oldest first."""
        ...


class MemoryTokens:
    """Tokens for one process."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._requests: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def get(self, account: str) -> tuple[str, float] | None:
        with self._lock:
            return self._tokens.get(account)

    def put(self, account: str, value: str, expires: float) -> None:
        with self._lock:
            self._tokens[account] = (value, expires)

    def forget(self, account: str, value: str) -> None:
        with self._lock:
            if self._tokens.get(account, ("", 0.0))[0] == value:
                del self._tokens[account]

    def requested(self, account: str, at: float) -> None:
        with self._lock:
            self._requests.setdefault(account, []).append(at)

    def requests_since(self, account: str, since: float) -> list[float]:
        with self._lock:
            return sorted(t for t in self._requests.get(account, []) if t > since)
