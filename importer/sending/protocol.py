"""What a vendor adapter gives: the calls that import a row, and what each answer means.

Adapters are pure: no I/O, no clock, no configuration reads. The sender
(:mod:`importer.sending.sender`) does the I/O and asks the adapter what an answer means.

Every answer is classed by what the caller does next:

========== ==========================================================================
kind        meaning
========== ==========================================================================
ok          done; ``ident`` is the created (or found) object's ID
rejected    the vendor refused this row; ``message`` says why in plain words
retry       nothing was done; try again (after ``retry_after`` seconds if given)
locked      the account is locked (Zoho): wait ``retry_after`` seconds, then retry
unknown     the vendor may or may not have done it: never resend blindly
fatal       nothing more can succeed (bad credentials, missing scope): stop the run
reauth      the access token was refused: get a new one, then retry once
========== ==========================================================================

Two refinements, for answers that mean one of two things:

* ``locked`` with ``maybe`` set (Zoho's 422 "Maximum limit exceeded" sits in the
  doc beside the lock's threshold): the sender waits the lock out and tries once
  more; the same answer after a clean wait is the row's own problem (``message``).
* ``probe``: a read that tells whether the whole account is refused (Coursepath's
  403 on one enrolment may be that enrolment, or the acting admin): refused too,
  the run stops; answered, the outcome stays the row's.
* ``rejected`` with ``setup`` set: a refusal that, given to every row, points at the
  run's settings rather than the rows (Zoho's "input parameter missing" when
  ``sessionData`` travels in the form it does not read). Until a row of the run is
  done, such a row is held back as ``not sent``, and after
  :data:`SETUP_DOUBTS` of them the run stops with the ``setup`` sentence.

An answer is classed by what it *proves*: a 2xx to a create whose body has the
documented success shape is ``ok``; any other 2xx to a create (empty, HTML, an
envelope) may still mean it was created, so it is ``unknown`` and goes through
reconciliation. Undocumented bodies are quoted (:func:`snippet`) in the message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from importer.sending.throttle import RatePolicy

__all__ = [
    "MARKER",
    "SETUP_DOUBTS",
    "Adapter",
    "AdapterBase",
    "Answer",
    "Call",
    "LookupUnsure",
    "NoLookup",
    "Outcome",
    "OutcomeKind",
    "fill",
    "next_link",
    "odd_success",
    "plain_status",
    "retry_after_header",
    "snippet",
]

OutcomeKind = Literal["ok", "rejected", "retry", "locked", "unknown", "fatal", "reauth"]


@dataclass(frozen=True)
class Call:
    """One HTTP request of a row's import.

    Attributes:
        name: what it does, in words ("create the session", "enrol in course 12345").
        method: HTTP method.
        path: path under the vendor's base URL; ``{memberId}``-style fields are
            filled from earlier calls' results.
        json: a JSON body.
        form: a url-encoded body.
        params: query parameters.
        writes: whether it changes something at the vendor (a lost answer to a
            write is *unknown*; a failed read is simply retried).
        result: the name under which this call's ``ident`` is kept for later calls.
        skip_if: skip this call when a result of that name is already known.
        only_if: make this call only when a result of that name is known.
    """

    name: str
    method: str
    path: str
    json: Any = None
    form: Mapping[str, str] | None = None
    params: Mapping[str, str] | None = None
    writes: bool = True
    result: str | None = None
    skip_if: str | None = None
    only_if: str | None = None


@dataclass(frozen=True)
class Answer:
    """An HTTP answer, as the adapter sees it."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What an answer means (see the module docstring for the kinds)."""

    kind: OutcomeKind
    ident: str | None = None
    message: str = ""
    retry_after: float | None = None
    maybe: bool = False
    probe: Call | None = None
    setup: str = ""


#: Refusals with ``setup`` before any row of the run is done, after which the run stops.
SETUP_DOUBTS = 3


class Adapter(Protocol):
    """A vendor's sending side."""

    #: The vendor's name, as in :data:`importer.vendors.REGISTRY`.
    name: str
    #: How fast it may be called, and how many requests may be in flight.
    rate: RatePolicy
    max_concurrency: int
    #: The credential's scopes or rights the calls need, in words.
    scopes: str
    #: How answers the docs do not promise are read, one sentence each.
    odd_answers: tuple[str, ...]
    #: Documented errors of the create call: ``(status, body, kind, words of the message)``.
    documented_errors: tuple[tuple[int, Any, OutcomeKind, str], ...]

    def calls(self, values: Mapping[str, str | None]) -> list[Call]:
        """The calls that import one valid row (normalised values, API field names)."""
        ...

    def interpret(self, call: Call, answer: Answer) -> Outcome:
        """What an answer to ``call`` means."""
        ...

    def signal(self, answer: Answer) -> Outcome | None:
        """A vendor-wide signal in any answer (a lock, a refused token), reads included."""
        ...

    def created_id(self, results: Mapping[str, str]) -> str | None:
        """The ID to show in the result sheet, from the row's call results."""
        ...

    #: Whether resending a row whose answer was lost is harmless (its calls are idempotent).
    resend_safe: bool

    def resend_harmless(self, values: Mapping[str, str | None]) -> bool:
        """Whether resending this row after a lost answer is harmless (``resend_safe``, unless
        the row asks for something that is not, such as an email)."""
        ...

    def lookup(self, values: Mapping[str, str | None]) -> Call | None:
        """The first read that finds a row's object at the vendor; ``None``: no way to check."""
        ...

    def found(
        self, call: Call, answer: Answer, values: Mapping[str, str | None]
    ) -> tuple[str | None, Call | None]:
        """The ID of the row's object in a lookup answer, and the next page to read if any."""
        ...

    def listed(self, answer: Answer) -> bool:
        """Whether a lookup's 2xx answer has the documented list shape (else it proves nothing)."""
        ...

    def configured(self, options: Mapping[str, str]) -> Adapter:
        """This adapter with the run's vendor options (the options the vendor declares)."""
        ...


class LookupUnsure(Exception):
    """Raised by ``found``: a listed object may be the row's, but the vendor's echo could not be
    read (a date or time format we do not know). The row stays unchecked: never resent on it."""


class AdapterBase:
    """Defaults for what most vendors do not have."""

    #: The credential's scopes or rights the calls need, in words.
    scopes = ""
    #: How answers the docs do not promise are read, one sentence each.
    odd_answers: tuple[str, ...] = ()
    #: Documented error answers to the create call, and what each must mean (checked by
    #: the conformance tests): ``(status, body, kind, words the message must contain)``.
    documented_errors: tuple[tuple[int, Any, OutcomeKind, str], ...] = ()

    def signal(self, answer: Answer) -> Outcome | None:
        """A vendor-wide signal in any answer (a lock, a refused token), reads included."""
        return None

    def listed(self, answer: Answer) -> bool:
        """Whether a lookup's 2xx answer has the documented list shape (else it proves nothing)."""
        return True

    def resend_harmless(self, values: Mapping[str, str | None]) -> bool:
        """Whether resending this row after a lost answer is harmless: ``resend_safe``."""
        return bool(getattr(self, "resend_safe", False))

    def configured(self, options: Mapping[str, str]) -> Any:
        """This adapter with the run's vendor options (none by default)."""
        return self


class NoLookup(AdapterBase):
    """For adapters whose vendor gives no way to find a row's object again."""

    resend_safe = False

    def lookup(self, values: Mapping[str, str | None]) -> Call | None:
        """No lookup: a lost answer stays unknown (unless ``resend_safe``)."""
        return None

    def found(
        self, call: Call, answer: Answer, values: Mapping[str, str | None]
    ) -> tuple[str | None, Call | None]:
        """Never called (``lookup`` gives no call)."""
        return None, None


#: The key under which the pipeline passes a row's reconciliation marker to ``calls``.
MARKER = "_marker"


def plain_status(answer: Answer, retry_after: Callable[[Answer], float | None]) -> Outcome | None:
    """Classes shared by every vendor, the ones a new vendor inherits without declaring them:

    ====== =============================================================================
    401    ``reauth``: the credentials or token were refused; renewed once, then ``fatal``
    403    ``fatal``: the credentials lack a right the call needs; no row can fix that
    429    ``retry``, after ``Retry-After`` if given
    5xx    ``unknown`` (writes) or retry (reads)
    2xx    without the documented body: ``unknown`` (see :func:`odd_success`)
    ====== =============================================================================

    A vendor that says more (which credential to check, which scope is missing) tests those
    statuses before calling this; the conformance suite (:mod:`importer.testing`) checks that
    whatever it says about a 401 or a 403 stays within these classes.
    """
    if answer.status == 401:
        return Outcome(
            "reauth", message=f"the vendor refused the credentials (401){snippet(answer)}."
        )
    if answer.status == 403:
        return Outcome(
            "fatal",
            message=f"the vendor refused the request (403){snippet(answer)}: the credentials "
            "lack a right it needs; check their scopes or role.",
        )
    if answer.status == 429:
        return Outcome("retry", message="too many requests", retry_after=retry_after(answer))
    if answer.status >= 500:
        return Outcome(
            "unknown",
            message=f"the vendor answered {answer.status} (server error){snippet(answer)}",
        )
    if 200 <= answer.status < 300:
        return odd_success(answer)
    return None


def odd_success(answer: Answer) -> Outcome:
    """A 2xx without the documented success body: it may have been done, so ``unknown``."""
    return Outcome(
        "unknown",
        message=f"the vendor answered {answer.status} without the documented result"
        f"{snippet(answer)}: it may have been created",
    )


def snippet(answer: Answer, limit: int = 120) -> str:
    """A short, readable quote of an answer's body (tags and runs of spaces removed)."""
    body = answer.body
    if body is None or body == "":
        return " (an empty body)"
    if isinstance(body, dict | list):
        text = "; ".join(f"{k}: {v}" for k, v in sorted(_leaves(body), key=_telling))
    else:
        text = re.sub(r"<[^>]*>", " ", str(body))
    text = " ".join(text.split())
    if not text:
        return " (a body with no text)"
    return f" ({text[:limit]}{'…' if len(text) > limit else ''})"


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "(empty)"


def fill(template: str, fields: Mapping[str, Any]) -> str:
    """Format a message template with a call's fields; a missing field shows as "(empty)"."""
    return template.format_map(_Blank(fields))


def next_link(answer: Answer) -> str | None:
    """The URL of a ``Link: <url>; rel="next"`` header, if any."""
    for part in answer.headers.get("link", "").split(","):
        if 'rel="next"' in part or "rel=next" in part:
            return part.split(";")[0].strip().strip("<>")
    return None


def _leaves(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """The scalar values of a JSON body, with their dotted keys."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, f"{prefix}{k}.")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value[:3]) for p in _leaves(v, f"{prefix}{i}.")]
    return [(prefix.rstrip("."), str(value))]


def _telling(leaf: tuple[str, str]) -> int:
    """Messages and codes first: what a person reading the quote needs."""
    key = leaf[0].lower()
    return 0 if "message" in key or "error" in key else 1 if "code" in key or "status" in key else 2


def retry_after_header(answer: Answer) -> float | None:
    """Seconds from a ``Retry-After`` header, if any: a number of seconds, or an HTTP date.

    A date is measured from the answer's own ``Date`` header, so that neither our
    clock nor its skew from the vendor's matters.
    """

    value = answer.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "nan", "inf" and negatives are not waits
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    # email.utils costs every command's start-up 8 ms; only an HTTP-date Retry-After needs it
    from email.utils import parsedate_to_datetime

    try:
        until = parsedate_to_datetime(value)
        sent = parsedate_to_datetime(answer.headers.get("date", ""))
    except (TypeError, ValueError):
        return None
    return max((until - sent).total_seconds(), 0.0)
