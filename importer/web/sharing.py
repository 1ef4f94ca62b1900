"""The runs in progress on the page's accounts (issue 25): the page's own and every other
process's or host's on the same account (a nightly backfill, a colleague's command line),
as the account's shared schedule lists them (:mod:`importer.jobs.sharing`).

Read at most once a second whatever the number of pages open (the home page, each run's
events), from the store each account's settings name, kept open until the server stops.
Who may see which run is the page's rule (:mod:`importer.web.access`), applied by the routes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from importer.core.errors import ImporterError
from importer.jobs.sharing import account_schedule
from importer.store import Store, open_store
from importer.web.accounts import Account

if TYPE_CHECKING:
    from importer.sending.ports import Sharer

__all__ = ["AccountRuns"]

#: Seconds a reading of the stores is kept (the runs publish at most once a second).
FRESH = 1.0


class AccountRuns:
    """The runs in progress on each account, by account slug."""

    def __init__(
        self,
        accounts: Sequence[Account],
        opener: Callable[[str | None], Store] = open_store,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        # The embedded sandbox's accounts pace alone (no shared budget): none to show.
        self.accounts = [a for a in accounts if not a.sandbox]
        self._open, self._now = opener, now
        self._lock = threading.Lock()
        self._stores: dict[str | None, Store] = {}
        self._where: dict[str, tuple[str | None, str] | None] = {}
        self._read_at = -FRESH
        self._found: dict[str, list[Sharer]] = {}

    def _schedule(self, account: Account) -> tuple[str | None, str] | None:
        """The account's store and schedule (``None``: its settings cannot be made: no
        credentials in the environment yet; asked again next time)."""
        if account.slug not in self._where or self._where[account.slug] is None:
            try:
                settings = account.settings()
                self._where[account.slug] = (
                    settings.store,
                    account_schedule(account.plugin, settings),
                )
            except ImporterError:
                self._where[account.slug] = None
        return self._where[account.slug]

    def by_account(self) -> dict[str, list[Sharer]]:
        """Account slug -> its runs in progress (a dead run's left out), at most a second
        old; an account whose store cannot be read shows none (the runs go on)."""
        with self._lock:
            if self._now() - self._read_at < FRESH:
                return self._found
            wanted: dict[str | None, dict[str, list[str]]] = {}
            for account in self.accounts:
                where = self._schedule(account)
                if where is not None:
                    url, schedule = where
                    wanted.setdefault(url, {}).setdefault(schedule, []).append(account.slug)
            found: dict[str, list[Sharer]] = {}
            for url, schedules in wanted.items():
                try:
                    store = self._stores.get(url) or self._stores.setdefault(url, self._open(url))
                    runs = store.in_progress(set(schedules))
                except ImporterError:
                    continue
                for run in runs:
                    for slug in schedules.get(run.schedule, []):
                        found.setdefault(slug, []).append(run)
            self._found, self._read_at = found, self._now()
            return found

    def of_run(self, slug: str, journal_run: tuple[str, int] | None) -> dict[str, Any]:
        """What a page run's status says of the others on its account: ``others`` (runs in
        progress besides it), ``waiting`` (for its turn, now) and ``share`` (its part of the
        account's budget; ``None`` until it is seen on the schedule)."""
        runs = self.by_account().get(slug, [])
        mine = next(
            (r for r in runs if journal_run is not None and (r.journal, r.run_id) == journal_run),
            None,
        )
        return {
            "others": len(runs) - (mine is not None),
            "waiting": mine is not None and mine.behind,
            "share": None if mine is None else round(mine.share, 3),
        }

    def close(self) -> None:
        """Close the stores opened."""
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()
