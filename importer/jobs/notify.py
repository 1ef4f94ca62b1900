"""Told when it ends: a run's result by email, as ``[notify]`` in the accounts or job file says.

::

    [notify]
    host = "smtp.acme.example"
    port = 587                      # default 587; 465 with ssl = true
    starttls = true                 # default; or ssl = true (TLS from the start), not both
    user = "importer@acme.example"  # optional: sign in (needs password_env)
    password_env = "SMTP_PASSWORD"  # the NAME of the variable holding the password
    from = "Session importer <importer@acme.example>"
    ca_file = "/etc/ssl/acme-ca.pem"  # optional: the private CA of the server's certificate
    timeout = 30                    # optional: seconds a step of the exchange may take
    to = ["training-ops@acme.example"]  # a job file only: who is told
    on = "failure"                  # a job file only: "failure" (default) or "always"

This module reads the table (:func:`notify_settings`, a :class:`ConfigurationError` naming
the file and key for anything wrong, before anything is sent) and writes the message
(:func:`summary_of`, :func:`compose`): the counts, the rows to look at in the result sheet's
words, the result sheet attached, all plain text. :mod:`importer.jobs.mailer` sends it. The
password is never in a file: only the name of the environment variable that holds it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from importer.core.errors import ConfigurationError
from importer.core.hosts import is_loopback
from importer.core.outcomes import PROBLEMS, ExitCode, Status
from importer.core.secret import scrub

if TYPE_CHECKING:
    from email.message import EmailMessage

    from importer.results.report import RunReport

__all__ = [
    "LARGEST_ATTACHMENT",
    "LISTED",
    "NotifySettings",
    "Problem",
    "RunSummary",
    "compose",
    "email_address",
    "notify_settings",
    "summary_of",
]

#: The rows to look at a message lists; the others are counted ("and 12 more").
LISTED = 50
#: The largest result sheet attached (most mail servers refuse a message over 10 to 25 MB);
#: a larger one is named, not attached.
LARGEST_ATTACHMENT = 8_000_000
#: The keys of a ``[notify]`` table, everywhere; a job file's also takes :data:`_JOB_ONLY`.
_KEYS = ("host", "port", "starttls", "ssl", "user", "password_env", "from", "ca_file", "timeout")
_JOB_ONLY = ("to", "on")
#: One ``@``, a dot in the domain, nothing that would make it two addresses or a header.
_ADDRESS = re.compile(r"[^@\s<>(),;:\"\[\]\\]+@[^@\s<>(),;:\"\[\]\\.]+(\.[^@\s<>(),;:\"\[\]\\.]+)+")
#: An environment variable's name as written by convention: capitals, digits and ``_`` (a
#: password pasted by mistake is then refused as one, not echoed as a variable's name).
_VARIABLE = re.compile(r"[A-Z_][A-Z0-9_]*")
_MIME = {
    ".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ".csv": ("text", "csv"),
}


@dataclass(frozen=True)
class NotifySettings:
    """A ``[notify]`` table, checked.

    Attributes:
        host: the SMTP server.
        sender: the ``from`` address (``Name <address>`` or a bare address).
        port: its port (587, or 465 with ``ssl``).
        security: ``starttls`` (upgrade after connecting; the default), ``ssl`` (TLS from
            the start) or ``none`` (plain: only to this machine when signing in).
        user: the name to sign in with (``None``: no sign-in).
        password_env: the environment variable holding the password (never the password).
        ca_file: the CA certificate(s) the server's certificate is checked against
            (``None``: the system's). The certificate and its host name are always checked.
        timeout: seconds one step of the exchange may take before the email is given up.
        to: who a job tells.
        on: when a job tells them: ``failure`` (something went wrong) or ``always``.
        source: the file the table was read from, for messages.
    """

    host: str
    sender: str
    port: int = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    user: str | None = None
    password_env: str | None = None
    ca_file: Path | None = None
    timeout: float = 30.0
    to: tuple[str, ...] = ()
    on: Literal["failure", "always"] = "failure"
    source: str = ""

    @property
    def server(self) -> str:
        """``host:port, how``: what a message about a send names."""
        how = {"starttls": "STARTTLS", "ssl": "TLS", "none": "no encryption"}[self.security]
        return f"{self.host}:{self.port} ({how})"


def email_address(name: str | None) -> str | None:
    """``name`` if it looks like one email address (one ``@``, a dot in the domain, no space
    or sign that would make it two), else ``None``: a sign-in name used as the address."""
    if not name:
        return None
    name = name.strip()
    return name if _ADDRESS.fullmatch(name) else None


def notify_settings(table: object, path: Path, *, job: bool) -> NotifySettings:
    """Check a ``[notify]`` table read from ``path`` (a job file's when ``job``: it takes
    ``to`` and ``on`` too); ``ca_file`` is read relative to the file's folder.

    Raises:
        ConfigurationError: an unknown key, a missing or bad value; naming the file and key.
    """
    where = f"{path}: [notify]"
    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: notify must be a [notify] table.")
    known = (*_KEYS, *_JOB_ONLY) if job else _KEYS
    for key in table:
        if key not in known:
            hint = (
                " (the page emails whoever started the run: to and on are a job file's)"
                if key in _JOB_ONLY
                else f"; it takes {', '.join(known)}"
            )
            raise ConfigurationError(f"{where}: unknown key {key!r}{hint}.")
    host = _text(table, "host", where, required=True)
    assert host is not None  # required
    if any(c.isspace() or c in "/:@" for c in host):
        raise ConfigurationError(
            f"{where} host {host!r} must be a host name, e.g. smtp.acme.example."
        )
    sender = _text(table, "from", where, required=True)
    assert sender is not None
    from email.utils import parseaddr  # lazy, as in compose

    if email_address(parseaddr(sender)[1]) is None or "\n" in sender or "\r" in sender:
        raise ConfigurationError(
            f'{where} from {sender!r} must be an email address, e.g. "importer@acme.example".'
        )
    starttls, ssl = _flag(table, "starttls", where), _flag(table, "ssl", where)
    if ssl and starttls:
        raise ConfigurationError(
            f"{where}: starttls and ssl both set: give ssl = true for TLS from the start "
            "(port 465), or starttls = true to upgrade after connecting (port 587)."
        )
    security: Literal["starttls", "ssl", "none"] = (
        "ssl" if ssl else "none" if starttls is False else "starttls"
    )
    port = table.get("port", 465 if security == "ssl" else 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigurationError(f"{where} port must be a number from 1 to 65535, not {port!r}.")
    user = _text(table, "user", where)
    password_env = _text(table, "password_env", where)
    if password_env is not None and not _VARIABLE.fullmatch(password_env):
        raise ConfigurationError(
            f"{where} password_env must be the name of an environment variable (capitals, "
            "digits and _, e.g. SMTP_PASSWORD), not the password: the password is never "
            "written in a file."
        )
    if (user is None) != (password_env is None):
        raise ConfigurationError(
            f"{where}: give both user and password_env to sign in to the server, or neither."
        )
    if user is not None and security == "none" and not is_loopback(host):
        raise ConfigurationError(
            f"{where}: starttls = false would send the password to {host} unencrypted: "
            "use starttls or ssl (plain SMTP only to this machine)."
        )
    return NotifySettings(
        host=host,
        sender=sender,
        port=port,
        security=security,
        user=user,
        password_env=password_env,
        ca_file=_ca_file(table, path, where),
        timeout=_timeout(table, where),
        to=_recipients(table, where) if job else (),
        on=_on(table, where) if job else "failure",
        source=str(path),
    )


def _text(table: Mapping[str, object], key: str, where: str, required: bool = False) -> str | None:
    value = table.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{where} {key} must be given, as text in quotes.")
    return value.strip()


def _flag(table: Mapping[str, object], key: str, where: str) -> bool | None:
    value = table.get(key)
    if value is not None and not isinstance(value, bool):
        raise ConfigurationError(f"{where} {key} must be true or false, not {value!r}.")
    return value


def _ca_file(table: Mapping[str, object], path: Path, where: str) -> Path | None:
    given = _text(table, "ca_file", where)
    if given is None:
        return None
    found = (path.parent / Path(given).expanduser()).resolve()
    if not found.is_file():
        raise ConfigurationError(f"{where} ca_file {str(found)!r}: no such file.")
    return found


def _timeout(table: Mapping[str, object], where: str) -> float:
    value = table.get("timeout", 30.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(f"{where} timeout must be a number of seconds above 0.")
    return float(value)


def _recipients(table: Mapping[str, object], where: str) -> tuple[str, ...]:
    given = table.get("to")
    if (
        not isinstance(given, list)
        or not given
        or not all(isinstance(a, str) and email_address(a) for a in given)
    ):
        raise ConfigurationError(
            f'{where} to must be a list of email addresses, e.g. to = ["ops@acme.example"].'
        )
    return tuple(str(address).strip() for address in given)


def _on(table: Mapping[str, object], where: str) -> Literal["failure", "always"]:
    on = table.get("on", "failure")
    if on == "always":
        return "always"
    if on != "failure":
        raise ConfigurationError(f'{where} on must be "failure" or "always", not {on!r}.')
    return "failure"


# --- the message -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A row to look at, in the result sheet's words: its sheet row, its status, the column
    (an invalid cell's; empty for the vendor's answer) and the message."""

    row: int
    status: str
    column: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}, {self.column}" if self.column else f"row {self.row}"
        return f"{where} ({self.status}): {self.message}"


@dataclass(frozen=True)
class RunSummary:
    """What a message about a run says.

    Attributes:
        file: the sheet as its owner knows it.
        account: the account (the page's name of it, or the vendor and host of a job).
        counts: rows per status.
        rows: the sheet's rows.
        exit_code: the run's (0: every row done).
        stopped: why it stopped early, if it did.
        dry_run: nothing was sent on purpose.
        problems: the rows to look at, in sheet order (every one of them).
        result: the result sheet (``None``: none was written).
        who: who started it (the page's runs).
    """

    file: str
    account: str
    counts: Mapping[str, int]
    rows: int
    exit_code: int
    stopped: str | None = None
    dry_run: bool = False
    problems: tuple[Problem, ...] = ()
    result: Path | None = None
    who: str | None = None

    @property
    def went_wrong(self) -> bool:
        """Something needs a look: an exit code other than 0, or a row rejected, unknown,
        not sent or invalid (what ``on = "failure"`` tells about); a dry run's rows are not
        sent on purpose."""
        looked_at = {Status.INVALID} if self.dry_run else PROBLEMS
        return self.exit_code != ExitCode.OK or any(self.counts.get(s) for s in looked_at)

    @property
    def outcome(self) -> str:
        """The run's outcome in a few words (the subject's end)."""
        if self.stopped:
            return f"stopped: {_short(self.stopped, 80)}"
        said = ", ".join(f"{count} {status}" for status, count in self.counts.items())
        if self.dry_run:
            return f"dry run: {said or 'no rows'}"
        if not self.went_wrong:
            return f"done: {said or 'no rows'}"
        needing = sum(self.counts.get(s, 0) for s in PROBLEMS)
        return f"{needing} of {self.rows} rows need a look" if needing else f"exit {self.exit_code}"


def summary_of(
    run: RunReport, result: Path | None, *, file: str, account: str, who: str | None = None
) -> RunSummary:
    """The summary of an import's outcome (``run``: every row's; ``result``: its sheet)."""
    validation = run.validation
    problems: list[Problem] = []
    looked_at = {Status.INVALID} if run.dry_run else PROBLEMS  # a dry run sends nothing
    for index in validation.table.frame.index:
        row = int(index)
        status = run.status(row)
        if status not in looked_at:
            continue
        result_of = run.results.get(row)
        # The sheet's problems with the row, column by column; or what sending it found (a
        # row valid on its own that cannot be sent, a vendor's answer), as the result sheet.
        errors = validation.errors.get(row) or (result_of.errors if result_of else ())
        if status == Status.INVALID and errors:
            problems += [Problem(row, status, e.column, _line(e.message)) for e in errors]
        else:
            problems.append(Problem(row, status, "", _line(result_of.message if result_of else "")))
    return RunSummary(
        file=file,
        account=account,
        counts=run.counts(),
        rows=validation.row_count,
        exit_code=run.exit_code,
        stopped=run.stopped,
        dry_run=run.dry_run,
        problems=tuple(problems),
        result=result,
        who=who,
    )


def compose(summary: RunSummary, sender: str, to: Iterable[str]) -> EmailMessage:
    """The message: a subject with the file, account and outcome; a plain-text body with the
    counts and the rows to look at (the first :data:`LISTED`); the result sheet attached."""
    from email.message import EmailMessage  # lazy: a run that tells nobody loads no email
    from email.utils import formatdate, make_msgid, parseaddr

    message = EmailMessage()
    message["Subject"] = _short(
        f"session-importer: {summary.file} into {summary.account}: {summary.outcome}", 200
    )
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(localtime=True)
    # The sender's domain: make_msgid's default asks the resolver for this host's name.
    message["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to it
    lines = [f"{summary.file} into {summary.account}: {summary.outcome}.", ""]
    if summary.who:
        lines += [f"Started by {_line(summary.who)} on the import page.", ""]
    if summary.stopped:
        lines += [f"Stopped early: {_line(summary.stopped)}", ""]
    lines.append(f"Rows: {summary.rows}")
    width = max((len(status) for status in summary.counts), default=0)
    lines += [f"  {status:<{width}}  {count}" for status, count in summary.counts.items()]
    if summary.problems:
        lines += ["", "Rows to look at (as in the result sheet's Messages):"]
        lines += [f"  {problem}" for problem in summary.problems[:LISTED]]
        if len(summary.problems) > LISTED:
            lines.append(
                f"  ... and {len(summary.problems) - LISTED} more: every row is in the "
                "result sheet."
            )
    lines.append("")
    said, attach = _attachment(summary.result)
    lines += [said, f"Exit code: {summary.exit_code}."]
    message.set_content("\n".join(lines) + "\n")
    if attach and summary.result is not None:
        maintype, subtype = _MIME.get(
            summary.result.suffix.lower(), ("application", "octet-stream")
        )
        message.add_attachment(
            summary.result.read_bytes(),
            maintype=maintype,
            subtype=subtype,
            filename=summary.result.name,
        )
    return message


def _attachment(result: Path | None) -> tuple[str, bool]:
    """The body's sentence about the result sheet, and whether it is attached."""
    if result is None:
        return "No result sheet was written.", False
    try:
        size = result.stat().st_size
    except OSError:
        return f"The result sheet {result.name} could not be read.", False
    if size > LARGEST_ATTACHMENT:
        return (
            f"The result sheet {result.name} ({size / 1e6:.1f} MB) is too large to attach: "
            "it is where the run wrote it."
        ), False
    return f"The result sheet is attached: {result.name}.", True


def _line(text: str) -> str:
    """One line of plain text: secrets masked, line breaks and control characters as spaces."""
    cleaned = "".join(
        " " if unicodedata.category(c).startswith("C") else c for c in scrub(str(text))
    )
    return " ".join(cleaned.split())


def _short(text: str, most: int) -> str:
    text = _line(text)
    return text if len(text) <= most else text[: most - 1] + "…"
