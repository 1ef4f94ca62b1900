"""Send a run's result by email over SMTP (the standard library's :mod:`smtplib`).

A :class:`Mailer` is made once, when the page or the job starts (:meth:`Mailer.of`: the
password read from its environment variable then, a missing one refused then); each run's
message is then sent by :meth:`Mailer.tell`, which never raises for the email's sake: a
server that refuses, cannot be reached, does not answer in time, or refuses the password
gives back one sentence (no secret in it) that the caller logs and tells its user. An email
that fails never changes a run's outcome or exit code.

TLS is checked as a browser checks it: the server's certificate against the system's CAs
(or ``ca_file``'s) and its host name; STARTTLS is never skipped when the server does not
offer it (the message is not sent).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from importer.core.errors import ConfigurationError
from importer.core.secret import HELD, Secret, redact, scrub
from importer.jobs.notify import NotifySettings, RunSummary, compose

__all__ = ["Mailer", "Told"]

#: The errors of an exchange with the server (``ssl.SSLError`` and timeouts are OSErrors;
#: ValueError: an address the server's extensions cannot carry).
_SEND_ERRORS = (smtplib.SMTPException, OSError, ValueError)


@dataclass(frozen=True)
class Told:
    """What came of an email: ``sent`` to every recipient or not, and the sentence for the
    user (no secret in it)."""

    sent: bool
    said: str


@dataclass(frozen=True)
class Mailer:
    """How to reach the SMTP server of a ``[notify]`` table, its password read.

    Attributes:
        settings: the table.
        password: the password (``None``: no sign-in).
    """

    settings: NotifySettings
    password: Secret | None = None

    @classmethod
    def of(cls, settings: NotifySettings, env: Mapping[str, str]) -> Mailer:
        """The mailer, its password read from ``env`` now (and masked everywhere from now on).

        Raises:
            ConfigurationError: ``password_env`` names a variable that is not set.
        """
        password = None
        if settings.password_env is not None:
            value = env.get(settings.password_env, "")
            if not value:
                raise ConfigurationError(
                    f"{settings.source}: [notify] password_env: the environment variable "
                    f"{settings.password_env} is not set (it holds the SMTP password)."
                )
            password = Secret(value)
            HELD.add(password)
        return cls(settings, password)

    def tell(self, summary: RunSummary, to: Sequence[str]) -> Told:
        """Send ``summary`` to ``to``: whether it was sent, and what to tell the user (never
        raises for the email: a failure is a sentence, without secrets)."""
        server = self.settings.server
        try:
            message = compose(summary, self.settings.sender, to)
            with self._open() as smtp:
                refused = smtp.send_message(message, to_addrs=list(to))
        except _SEND_ERRORS as error:
            said = (
                f"the result could not be sent by email to {', '.join(to)} through {server}: "
                f"{_reason(error)}; the run's outcome is unchanged"
            )
            return Told(False, self._clean(said))
        if refused:
            kept = [address for address in to if address not in refused]
            said = (
                f"the result was sent by email to {', '.join(kept)}; the server refused "
                f"{', '.join(refused)} ({_answers(refused)})"
            )
            return Told(False, self._clean(said))
        return Told(True, f"the result was sent by email to {', '.join(to)}")

    def check(self) -> str:
        """Connect and sign in, sending nothing (``run --check``): what was checked.

        Raises:
            ConfigurationError: the server cannot be reached or refuses the sign-in.
        """
        try:
            with self._open():
                pass
        except _SEND_ERRORS as error:
            raise ConfigurationError(
                self._clean(f"email: {self.settings.server}: {_reason(error)}")
            ) from None
        signed = f", signed in as {self.settings.user}" if self.settings.user else ""
        return f"email: {self.settings.server} answers{signed}"

    def _open(self) -> smtplib.SMTP:
        """A connection, encrypted as the settings say and signed in."""
        settings = self.settings
        context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file else None
        )
        smtp: smtplib.SMTP
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        try:
            if settings.security == "starttls":
                smtp.starttls(context=context)  # SMTPNotSupportedError when not offered
            if settings.user is not None and self.password is not None:
                smtp.login(settings.user, self.password.reveal())
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _clean(self, text: str) -> str:
        """``text`` with the password (in any form) and every held secret masked."""
        return scrub(redact(text, [self.password] if self.password else []))


def _reason(error: BaseException) -> str:
    """What went wrong, in plain words."""
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return f"the server refused the user name or password ({_answer(error)})"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return f"the server refused every recipient ({_answers(error.recipients)})"
    if isinstance(error, smtplib.SMTPNotSupportedError):
        said = str(error).rstrip(".")
        return f"the server does not offer what [notify] asks for ({said}); nothing was sent"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"the server answered {_answer(error)}"
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"its certificate is not trusted ({error.verify_message}): give the CA that "
            "signed it as ca_file in [notify]"
        )
    # smtplib reports a reply that did not come in time as a disconnection
    if isinstance(error, TimeoutError) or "timed out" in str(error):
        return "no answer in time"
    if isinstance(error, ConnectionRefusedError):
        return "the connection was refused (no server on that port?)"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return "the server closed the connection"
    if isinstance(error, OSError) and error.strerror:
        return f"cannot connect ({error.strerror})"
    return f"{type(error).__name__}: {error}"


def _answer(error: smtplib.SMTPResponseException) -> str:
    said = error.smtp_error
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    return f"{error.smtp_code} {' '.join(text.split())}"


def _answers(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{address}: {code} {' '.join(text.decode('utf-8', 'replace').split())}"
        for address, (code, text) in refused.items()
    )
