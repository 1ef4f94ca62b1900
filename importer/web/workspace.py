"""What the server holds: uploaded sheets, their validation, and runs in background threads.

Every step is the use case the command line calls too (:mod:`importer.jobs.import_sheet`):
:func:`~importer.jobs.import_sheet.check_table` checks a sheet read once (again after each
correction made on the page),
:func:`~importer.jobs.import_sheet.import_sheet` sends it through the account's journal and
writes the result workbook; the page builds their specs from its form and the account.
Files live under the data folder only: ``uploads/`` (never executed, only
read as sheets), ``results/``, ``journals/`` (one journal per account, so a renamed file
still shows the rows already created) and ``templates/``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from importer.core.errors import (
    ConfigurationError,
    ImporterError,
    InputError,
    MissingColumnsError,
)
from importer.core.files import FILE_MODE, FOLDER_MODE, make_private_dir
from importer.core.outcomes import Status
from importer.core.settings import RunSettings
from importer.jobs.changes import Guard
from importer.jobs.import_sheet import (
    Hooks,
    ImportSpec,
    SheetSpec,
    check_table,
    import_sheet,
    plan_line,
    refuse_zoneless,
    resolve_emails,
)
from importer.jobs.journaling import JournalOptions, changed_runs, journal_report
from importer.jobs.journals import JournalPlace, journal_path, store_journal
from importer.jobs.mailer import Mailer
from importer.jobs.memory import (
    remember_columns,
    remember_corrections,
    remembered_columns,
    remembered_corrections,
)
from importer.jobs.notify import email_address, summary_of
from importer.jobs.runs import recorded_who
from importer.results.report import RunReport
from importer.results.sheet import RESULT_COLUMNS
from importer.sheet.corrections import Correction, latest, raw_prints
from importer.sheet.headers import header_scorer
from importer.sheet.reading.table import Table, read_table
from importer.sheet.validation import ValidationReport, prepare
from importer.store import JournalLike
from importer.store.journal import Journal
from importer.web.accounts import Account
from importer.web.audit import Audit
from importer.web.sharing import AccountRuns
from importer.web.undo import can_delete, run_rows

__all__ = ["SUFFIXES", "Upload", "WebRun", "Workspace"]

#: The sheet formats the page takes.
SUFFIXES = (".csv", ".xlsx", ".xls", ".ods", ".tsv", ".txt")
_KEPT_UPLOADS = 50
_log = logging.getLogger("importer.web")


@dataclass
class Upload:
    """A sheet uploaded and validated for an account.

    Attributes:
        report: the sheet checked, its corrections applied (``None``: its columns are not
            all found yet: ``missing`` says which, the mapping step chooses them).
        table: the sheet as read from the file, never corrected (each check starts here).
        columns: field -> the header chosen for it on the page (or remembered for sheets
            with these headers), ``None``: not in this sheet.
        corrections: every cell corrected, in order (who, when, old -> new), those made on
            an earlier upload of the same rows included (``earlier``).
        earlier: sheet row -> why it was corrected already (an earlier upload's fix).
    """

    id: str
    name: str
    path: Path
    account: Account
    report: ValidationReport | None
    known: RunReport | None
    plan: str
    who: str
    table: Table | None = None
    date_order: str | None = None
    columns: dict[str, str | None] = field(default_factory=dict)
    corrections: list[Correction] = field(default_factory=list)
    earlier: dict[int, str] = field(default_factory=dict)
    missing: str = ""

    @property
    def checked(self) -> ValidationReport:
        """The report of an upload whose columns are all found.

        Raises:
            InputError: they are not (the page sends the user to choose them first).
        """
        if self.report is None:
            raise InputError(f"{self.name}: choose its columns first ({self.missing})")
        return self.report

    @property
    def facts(self) -> dict[str, str]:
        """What the audit log says of the upload an action concerns: its account and file."""
        return {"account": self.account.name, "file": self.name}


@dataclass
class WebRun:
    """An import (or dry run, or email look-up) running in a background thread.

    ``outcome``: every row's, once an import or update has ended (what its email says).
    """

    id: str
    upload: Upload
    mode: str
    who: str
    started: float = field(default_factory=time.time)
    state: str = "running"
    done: int = 0  # rows with an outcome, "not sent" ones apart
    total: int = 0
    not_sent: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    seconds_left: float | None = None
    messages: list[str] = field(default_factory=list)
    result: Path | None = None
    exit_code: int | None = None
    stopped: str | None = None
    finished: float | None = None
    followup: str | None = None
    confirm: int | None = None  # an update's --confirm N (the mass-change guard)
    outcome: RunReport | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    version: int = 0
    thread: threading.Thread | None = None
    journal_run: tuple[str, int] | None = None  # its journal and number there, once started

    def _changed(self) -> None:
        self.version += 1

    def progress(self, done: int, total: int, counts: Mapping[str, int], left: float) -> None:
        """The pipeline's progress hook. Rows a stop left unsent come back as finished rows:
        they are counted apart, never as done (a trial's bar showed 12 of 12 with 8 unsent)."""
        self.not_sent = counts.get(Status.NOT_SENT, 0)
        self.done, self.total, self.counts = done - self.not_sent, total, dict(counts)
        self.seconds_left = left
        self._changed()

    def say(self, message: str) -> None:
        """The pipeline's notices (a lock waited out, emails looked up)."""
        self.messages.append(message)
        self._changed()

    def snapshot(self) -> dict[str, Any]:
        """What the run page shows, as JSON."""
        return {
            "id": self.id,
            "state": self.state,
            "mode": self.mode,
            "done": self.done,
            "total": self.total,
            "not_sent": self.not_sent,
            "counts": self.counts,
            "seconds_left": self.seconds_left,
            "messages": self.messages[-20:],
            "stopped": self.stopped,
            "exit_code": self.exit_code,
            "result": self.result.name if self.result else None,
            "followup": self.followup,
            "version": self.version,
        }


class Workspace:
    """The data folder, the accounts, the uploads and the runs of one server.

    ``notify``: how an import's or update's result is emailed to whoever started it when it
    ends (their sign-in name, when it is an email address); ``None``: it is not.
    """

    def __init__(
        self,
        accounts: Sequence[Account],
        data: Path,
        *,
        max_rows: int,
        max_bytes: int,
        notify: Mailer | None = None,
    ) -> None:
        if not accounts:
            raise ConfigurationError("no account to import into: give --config or --sandbox.")
        self.accounts = {account.slug: account for account in accounts}
        self.data = data
        self.max_rows, self.max_bytes = max_rows, max_bytes
        self.uploads: OrderedDict[str, Upload] = OrderedDict()
        self.runs: dict[str, WebRun] = {}
        self.notify = notify
        # The server user's alone (0700 folders, 0600 files): learners' names, sessions, IDs.
        make_private_dir(data)
        for folder in ("uploads", "results", "journals", "templates"):
            make_private_dir(data / folder)
        self.audit = Audit(data)
        # The runs in progress on the accounts, every process's and host's (issue 25).
        self.in_progress = AccountRuns(accounts)

    def sharing(self, run: WebRun) -> dict[str, Any]:
        """The ``sharing`` object of a run's status: the other runs in progress on its
        account (``others``), whether it waits for its turn now (``waiting``), its share of
        the account's budget (``share``; ``None`` while unknown). A run no longer sending
        shares nothing."""
        if run.state != "running" or run.mode == "resolve":
            return {"others": 0, "waiting": False, "share": None}
        return self.in_progress.of_run(run.upload.account.slug, run.journal_run)

    # --- uploads ---------------------------------------------------------------------------

    def save(self, filename: str, source: BinaryIO) -> Path:
        """Copy an upload under the data folder, refusing other formats and big files."""
        name = _safe_name(filename)
        if not name.lower().endswith(SUFFIXES):
            raise InputError(f"{name}: not a sheet this page takes ({', '.join(SUFFIXES)}).")
        folder = self.data / "uploads" / secrets.token_hex(8)
        folder.mkdir(mode=FOLDER_MODE)
        target = folder / name
        size = 0
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(descriptor, "wb") as out:
            while chunk := source.read(1 << 16):
                size += len(chunk)
                if size > self.max_bytes:
                    out.close()
                    shutil.rmtree(folder)
                    raise InputError(too_large(name, self.max_bytes))
                out.write(chunk)
        return target

    def check(
        self,
        path: Path,
        account: Account | None,
        who: str,
        date_order: str | None = None,
        among: Sequence[Account] | None = None,
    ) -> Upload:
        """Validate an uploaded sheet for an account (guessed from its headers among
        ``among``, by default every account, if not given); ``date_order``: how to read
        dates such as 03/04/2027 (default: the vendor's)."""
        name = path.name
        try:
            account = account or self.guess(path, among)
            schema = account.plugin.schema
            prepare(schema, account.timezone, date_order)  # a wrong option before any read
            table = read_table(path, header_scorer(schema))
            if len(table.frame) > self.max_rows:
                raise InputError(
                    f"{path}: {len(table.frame)} rows; this server takes at most "
                    f"{self.max_rows} a sheet: split it."
                )
            upload = Upload(secrets.token_urlsafe(12), name, path, account, None, None, "", who)
            upload.table, upload.date_order = table, date_order
            self._recall(upload)
            self.recheck(upload)
        except ImporterError as error:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise type(error)(str(error).replace(str(path), name)) from None
        self.uploads[upload.id] = upload
        while len(self.uploads) > _KEPT_UPLOADS:
            _, old = self.uploads.popitem(last=False)
            shutil.rmtree(old.path.parent, ignore_errors=True)
        return upload

    def recheck(self, upload: Upload) -> None:
        """Check ``upload`` again from the sheet as read, its columns and corrections as they
        stand now, and what the journal knows of its rows (the file is not read again).

        A sheet whose columns are not all found is kept, its ``missing`` saying why.

        Raises:
            ImporterError: another problem of the sheet (its times have no zone and the
                account gives none).
        """
        assert upload.table is not None, "an upload is checked from the table it read"
        account = upload.account
        spec = self.sheet_spec(upload)
        try:
            report = check_table(upload.table, spec, account.plugin)
        except MissingColumnsError as error:
            upload.report, upload.known, upload.plan = None, None, ""
            upload.missing = str(error).replace(str(upload.path), upload.name)
            return
        # As `run` without --timezone: refused before anything can be imported.
        fix = (
            f'add timezone (e.g. timezone = "Europe/Paris") to the account '
            f"{account.name!r} in the accounts file"
        )
        refuse_zoneless(report, spec, fix)
        upload.report, upload.missing = report, ""
        upload.known = self.known(account, report)
        upload.plan = plan_line(report, account.plugin, None, label=upload.name)

    def _recall(self, upload: Upload) -> None:
        """What the account's journal remembers for this sheet: the columns chosen for its
        headers, and its rows corrected on an earlier upload (applied again, and said)."""
        assert upload.table is not None
        with self._journal(upload.account) as journal:
            if journal is None:
                return
            headers = [str(h) for h in upload.table.frame.columns]
            upload.columns = remembered_columns(journal, headers)
            earlier = remembered_corrections(journal)
        if not earlier:
            return
        frame = upload.table.frame
        for row, print_ in raw_prints(frame, ignore=RESULT_COLUMNS).items():
            done = earlier.get(print_)
            if done is None:
                continue
            for cell in done["cells"]:
                column, old, new = str(cell["column"]), str(cell["old"]), str(cell["new"])
                if column in frame.columns and str(frame.at[row, column]) == old:
                    upload.corrections.append(
                        Correction(row, column, old, new, str(done["who"]), float(done["at"]))
                    )
            upload.earlier[row] = f"corrected on the page by {done['who']} on {_day(done['at'])}"

    @contextlib.contextmanager
    def _journal(self, account: Account, create: bool = False) -> Iterator[JournalLike | None]:
        """The account's journal, opened for a moment (``None``: none yet, and not made)."""
        journal = self.shared_journal(account)
        if journal is None:
            path = self.journal_path(account)
            if not create and not path.exists():
                yield None
                return
            journal = Journal(path, account.vendor)
        try:
            yield journal
        finally:
            journal.close()

    def choose_columns(self, upload: Upload, chosen: Mapping[str, str | None]) -> None:
        """Set the upload's columns as chosen on the page, check it again, and remember
        them for sheets with the same headers (if they make a sheet the page can read).

        Raises:
            ImporterError: as :meth:`recheck`.
        """
        upload.columns = dict(chosen)
        self.recheck(upload)
        if upload.report is not None and upload.table is not None:
            headers = [str(h) for h in upload.table.frame.columns]
            with self._journal(upload.account, create=True) as journal:
                assert journal is not None
                remember_columns(journal, headers, chosen)

    def correct(self, upload: Upload, changes: Sequence[Correction]) -> None:
        """Apply corrections to cells of ``upload`` and check it again.

        Raises:
            InputError: a cell of a row already created at the vendor (it cannot be changed
                here: an update can), or a cell the sheet does not have.
        """
        report = upload.checked
        created = {
            row for row, result in (upload.known.results if upload.known else {}).items()
            if result.status in (Status.CREATED, Status.SKIPPED, Status.CHANGED)
        }  # fmt: skip
        for change in changes:
            if change.row not in report.table.frame.index:
                raise InputError(f"{upload.name}: no row {change.row}.")
            if change.column not in report.table.frame.columns:
                raise InputError(f"{upload.name}: no column {change.column!r}.")
            if change.row in created:
                raise InputError(
                    f"{upload.name}, row {change.row}: already created at the vendor; "
                    "change it there, or with “Import and apply changes”."
                )
        before = list(upload.corrections)
        upload.corrections.extend(changes)
        try:
            self.recheck(upload)
        except ImporterError:
            upload.corrections = before
            self.recheck(upload)
            raise
        _keep_corrections(upload, changes)

    def _remember(self, upload: Upload) -> None:
        """Keep in the account's journal how the upload's rows were corrected, so a later
        upload of the uncorrected sheet is corrected the same way (found already created)."""
        assert upload.table is not None
        cells: dict[int, list[Correction]] = {}
        for (row, _), correction in latest(upload.corrections).items():
            cells.setdefault(row, []).append(correction)
        prints = raw_prints(upload.table.frame, list(cells), ignore=RESULT_COLUMNS)
        with self._journal(upload.account, create=True) as journal:
            assert journal is not None
            remember_corrections(journal, [(prints[row], fixed) for row, fixed in cells.items()])

    def sheet_spec(self, upload: Upload) -> SheetSpec:
        """How the account reads an upload: its zone and key, its columns and corrections;
        the sheet named as uploaded."""
        account = upload.account
        return SheetSpec(
            Path(upload.name),
            read_from=upload.path,
            timezone=account.timezone,
            date_order=upload.date_order,
            key=account.key,
            columns=upload.columns or None,
            corrections=tuple(upload.corrections),
        )

    def reread(self, upload: Upload, date_order: str) -> Upload:
        """The upload checked again with its dates read the other way round (``DMY`` or
        ``MDY``), its columns and corrections kept."""
        if date_order not in ("DMY", "MDY"):
            raise ConfigurationError(f"date order must be DMY or MDY, not {date_order!r}.")
        before = upload.date_order
        upload.date_order = date_order
        try:
            self.recheck(upload)
        except ImporterError:
            upload.date_order = before
            self.recheck(upload)
            raise
        return upload

    def guess(self, path: Path, among: Sequence[Account] | None = None) -> Account:
        """The account (of ``among``, by default every one) whose vendor's columns the
        sheet's headers match best."""
        candidates = {a.slug: a for a in among} if among is not None else self.accounts
        if not candidates:
            raise InputError(f"{path}: no account of this page is open to you.")
        scorers = {slug: header_scorer(a.plugin.schema) for slug, a in candidates.items()}
        table = read_table(path, lambda cells: max(s(cells) for s in scorers.values()))
        headers = [str(c) for c in table.frame.columns]
        scores = {slug: scorer(headers) for slug, scorer in scorers.items()}
        best = max(scores, key=lambda slug: scores[slug])
        if not scores[best]:
            raise InputError(f"{path}: no header matches a vendor's columns; pick the account.")
        return candidates[best]

    def journal_path(self, account: Account) -> Path:
        """One journal per account: re-uploading a renamed file still shows what was created.

        A real account's is the same journal ``session-importer run`` keeps for it (in the
        state folder), so that a sheet imported from the command line, the nightly job or
        this page is created once whoever sends it; the embedded sandbox's accounts keep
        theirs in the page's data folder (their sandbox lives as long as the page).
        """
        try:
            settings = account.settings()
        except ImporterError:
            settings = None  # no credentials yet: nothing can be imported into it anyway
        found = None
        if not account.sandbox and settings is not None:  # the rule `run` keeps its own by
            found = journal_path(JournalPlace(), account.plugin, settings)
        return found or self.data / "journals" / f"{account.slug}.journal.sqlite"

    def shared_journal(self, account: Account) -> JournalLike | None:
        """The account's journal in a PostgreSQL store (IMPORTER_STORE), shared with the
        other hosts importing into it (issue 14); ``None``: this server's own journal."""
        if account.sandbox:
            return None
        try:
            settings = account.settings()
        except ConfigurationError:
            return None  # no credentials here: nothing tells the account
        return store_journal(JournalPlace(), settings)

    def known(self, account: Account, report: ValidationReport) -> RunReport | None:
        """Every row's outcome as the account's journal records it (``None``: no journal yet)."""
        path = self.journal_path(account)
        journal = self.shared_journal(account)
        if journal is None and not path.exists():
            return None
        journal = journal or Journal(path, account.vendor)
        try:
            return journal_report(report, JournalOptions(journal, account.key), account.plugin)
        finally:
            journal.close()

    def change_owners(self, upload: Upload) -> list[str | None]:
        """Who started the runs that created the rows an update of ``upload`` would change,
        a name a row (``None``: a run that recorded nobody)."""
        if upload.known is None or not upload.account.key:
            return []
        account = upload.account
        journal = self.shared_journal(account) or Journal(
            self.journal_path(account), account.vendor
        )
        try:
            options = JournalOptions(journal, account.key)
            made = changed_runs(upload.checked, options, account.plugin)
            owners = {int(entry["id"]): recorded_who(entry) for entry in journal.runs()}
        finally:
            journal.close()
        return [owners.get(run) if run is not None else None for run in made.values()]

    # --- runs ------------------------------------------------------------------------------

    def start(self, upload: Upload, mode: str, who: str, confirm: int | None = None) -> WebRun:
        """Start an import (``import``), a dry run (``dry-run``), an email look-up
        (``resolve``) or an import applying the rows edited since (``update``, as ``run
        --update``; ``confirm``: its ``--confirm N``) of an upload, in a background thread."""
        if mode not in ("import", "dry-run", "resolve", "update"):
            raise ConfigurationError(f"unknown mode {mode!r}.")
        if mode == "update" and not upload.account.key:
            raise ConfigurationError(
                "applying changes needs the account's key column (key in its accounts file)."
            )
        run = WebRun(secrets.token_urlsafe(12), upload, mode, who, confirm=confirm)
        run.total = upload.checked.row_count - upload.checked.invalid_count
        self.runs[run.id] = run
        run.thread = threading.Thread(target=self._work, args=(run,), name=f"run-{run.id}")
        run.thread.start()
        return run

    def _work(self, run: WebRun) -> None:
        upload = run.upload
        folder = self.data / "results" / run.id
        folder.mkdir(mode=FOLDER_MODE)
        stem = Path(upload.name).stem
        try:
            settings = upload.account.settings()
            if run.mode == "resolve":
                self._resolve(run, settings, folder / f"{stem}.resolved.xlsx")
            else:
                self._import(run, settings, folder / f"{stem}.result.xlsx")
        except ImporterError as error:
            # Server paths (the journal's, the upload's) stay on the server.
            said = error.on_page  # the page's words (the guard's "Confirm count")
            said = said.replace(str(upload.path), upload.name).replace(str(self.data), "…")
            run.stopped = said
            run.exit_code = error.exit_code
            run.say(f"could not run: {said}")
        except Exception as error:  # the thread must end in a state the page can show
            _log.exception("run %s failed", run.id)
            run.stopped = f"internal error ({type(error).__name__})"
            run.exit_code = 2
            run.say(run.stopped)
        finally:
            run.state = "finished" if run.result else "failed"
            run.finished = time.time()
            run._changed()
            self.audit.record(
                "run-ended",
                run.who,
                **upload.facts,
                mode=run.mode,
                counts=run.counts,
                stopped=run.stopped,
                exit_code=run.exit_code,
            )
            try:
                self._tell(run)
            except Exception as error:  # whatever it is, the email's problem is not the run's
                _log.exception("run %s: the result could not be sent by email", run.id)
                run.say(
                    "the result could not be sent by email: internal error "
                    f"({type(error).__name__})"
                )

    def _tell(self, run: WebRun) -> None:
        """Email an import's or update's result to whoever started it (after the run has
        ended: the page shows it finished at once); a failed email is said in the run's
        messages and logged, and changes nothing of the run."""
        if self.notify is None or run.outcome is None or run.mode not in ("import", "update"):
            return  # a dry run, a look-up or a run that could not start: seen on the page
        address = email_address(run.who)
        if address is None:
            run.say(f"no email sent: the sign-in name {run.who!r} is not an email address")
            return
        upload = run.upload
        summary = summary_of(
            run.outcome, run.result, file=upload.name, account=upload.account.name, who=run.who
        )
        told = self.notify.tell(summary, [address])
        if not told.sent:
            _log.warning("run %s: %s", run.id, told.said)
        self.audit.record("emailed", run.who, **upload.facts, to=address, sent=told.sent)
        run.say(told.said)

    def _resolve(self, run: WebRun, settings: RunSettings, target: Path) -> None:
        done = resolve_emails(run.upload.checked, run.upload.account.plugin, settings, target)
        people = done.people
        run.say(
            f"looked up {people.get('emails', 0)} email(s): {people.get('found', 0)} found, "
            f"{people.get('unknown', 0)} unknown"
        )
        run.counts, run.exit_code = dict(done.counts), done.exit_code
        run.done = run.total = run.upload.checked.row_count
        run.result = done.result
        # The sheet with the IDs filled in, shown like any upload: check who each email is,
        # then import from there.
        folder = self.data / "uploads" / secrets.token_hex(8)
        folder.mkdir(mode=FOLDER_MODE)
        copy = folder / run.result.name
        _private_copy(run.result, copy)
        run.followup = self.check(copy, run.upload.account, run.who).id

    def _import(self, run: WebRun, settings: RunSettings, target: Path) -> None:
        upload, account = run.upload, run.upload.account
        report = upload.checked
        order = report.context.order
        spec = ImportSpec(
            sheet=self.sheet_spec(upload),
            result=target,
            journal=JournalPlace(path=self.journal_path(account), shared=not account.sandbox),
            label=upload.name,
            # The zone recorded with the run: how a journal of earlier rows is read again.
            recorded={
                "timezone": account.timezone or "",
                "key": account.key or "",
                "date_order": order,
            },
            dry_run=run.mode == "dry-run",
            update=run.mode == "update",
            guard=Guard(confirm=run.confirm),
            shared_budget=not account.sandbox,
            who=run.who,
            summary={
                "file": upload.name,
                "who": run.who,
                "web_run": run.id,
                "page_account": account.slug,  # two accounts may share one journal
            },
        )

        def started(journal: str, run_id: int) -> None:
            run.journal_run = (journal, run_id)

        hooks = Hooks(notify=run.say, stop=run.stop, on_progress=run.progress, started=started)
        # Someone waits for it: it takes turns ahead of a backfill on the account (issue 25).
        settings = dataclasses.replace(settings, priority="interactive")
        imported = import_sheet(report, spec, account.plugin, settings, hooks)
        if upload.corrections and not spec.dry_run:
            self._remember(upload)
        outcome = imported.run
        run.stopped = outcome.stopped
        run.counts, run.exit_code = outcome.counts(), outcome.exit_code
        run.outcome = outcome
        # A dry run sends nothing by design: its rows are all checked, none left over.
        run.not_sent = 0 if outcome.dry_run else run.counts.get(Status.NOT_SENT, 0)
        run.done = max(run.total - run.not_sent, 0)
        run.result = imported.result

    def history(self) -> Iterator[dict[str, Any]]:
        """Every run recorded in the accounts' journals, newest first, with the rows it
        created still there (``live``) and deleted since (``deleted``), and whether the
        account's vendor can delete them (``deletable``)."""
        found = []
        for account in self.accounts.values():
            path = self.journal_path(account)
            journal = self.shared_journal(account)
            if journal is None and not path.exists():
                continue
            journal = journal or Journal(path, account.vendor)
            deletable = can_delete(account.plugin)
            try:
                made = run_rows(journal)
                for entry in journal.runs():
                    # Two of the page's accounts on the same credentials share one journal:
                    # a run the page started shows under its own account only.
                    if entry["summary"].get("page_account", account.slug) != account.slug:
                        continue
                    rows = made.get(int(entry["id"]), {"live": 0, "deleted": 0})
                    found.append({**entry, **rows, "account": account, "deletable": deletable})
            finally:
                journal.close()
        yield from sorted(found, key=lambda entry: -float(entry["started"]))

    def result_file(self, relative: str) -> Path | None:
        """A result file named in a journal, only if it lies under the data folder."""
        results = (self.data / "results").resolve()
        path = (self.data / relative).resolve()
        if not path.is_relative_to(results) or not path.is_file():
            return None
        return path

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop every run as Ctrl-C does, and wait for their result sheets."""
        for run in self.runs.values():
            run.stop.set()
        for run in self.runs.values():
            if run.thread is not None:
                run.thread.join(timeout)
        self.in_progress.close()
        self.audit.close()


def _day(stamp: Any) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(float(stamp)))


def _keep_corrections(upload: Upload, changes: Sequence[Correction]) -> None:
    """Append ``changes`` to the upload's own record (``corrections.jsonl`` beside it, 0600):
    who changed which cell, when, from what to what."""
    target = upload.path.parent / "corrections.jsonl"
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    with os.fdopen(descriptor, "a", encoding="utf-8") as out:
        for change in changes:
            out.write(json.dumps(dataclasses.asdict(change), ensure_ascii=False) + "\n")


def _private_copy(source: Path, target: Path) -> None:
    """Copy ``source`` to a new ``target`` readable by the server user alone (0600)."""
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(descriptor, "wb") as out, source.open("rb") as given:
        shutil.copyfileobj(given, out)


def too_large(name: str, limit: int) -> str:
    """The message for a file over the upload limit."""
    return f"{name}: the file is larger than this server's limit of {limit / 1e6:g} MB."


def _safe_name(filename: str) -> str:
    """The upload's own name, without any folder, reduced to harmless characters."""
    base = re.split(r"[\\/]", filename or "")[-1]
    cleaned = re.sub(r"[^\w .()-]", "_", base).strip(" .")
    return cleaned[:120] or "sheet.csv"
