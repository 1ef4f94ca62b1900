"""Scripted faults per vendor: errors, latency, hangs, and answers lost after the work is done.

A spec names, per vendor, the share of requests that meet each fault::

    zoho:500=0.1,429=0.05,latency=0.02;360learning-v2:drop=0.2,timeout=0.01

``500``/``429``: answered with that status, nothing done. ``latency``: seconds
added to every answer. ``timeout``: the request hangs ``hang`` seconds (default
30) and is not processed. ``drop``: a *create* is processed, then the
connection is closed without an answer, the case where a client cannot know
whether its session exists. ``seed`` makes the draw repeatable.

Answers real services sometimes give, that no doc promises (the client must not
lean on the sandbox's polite defaults):

``html``: the request is processed, then a proxy's HTML page comes back with a
200. ``empty``: processed, then an empty 200. ``201``: processed, and a 200
answer comes as a 201 (same body). ``envelope``: not processed; a 200 carrying
the People error envelope ``{"response": {"status": 1, ...}}``. ``7202``: not
processed; a 200 carrying Zoho's invalid-token code. ``503html``: not processed;
a 503 HTML page from a gateway. ``empty201``: processed, then an empty 201.
``404``/``409``: not processed; a proxy's short HTML page with that status (no
vendor documents either on a list or a lookup). ``loop``: a list's answer names,
as its ``Link: rel="next"``, its own first page again (a paging loop).

Answers that quote the caller's credentials back (the reason every secret is redacted in every
form, not just as sent): ``echo``: not processed; a 400 quoting the request's token
(``Authorization``'s, or ``X-apiKey``) raw, JSON-escaped, URL-encoded and in base64, as a JSON
error and as a gateway's plain-text page in turn (there the escapes stay as written), each
answer leading with the next form (:mod:`importer.sandbox.echo`).

A target is a vendor, a vendor's token host (``360learning-v2/token``,
``zoho-people/token``), or a vendor's requests whose path ends with a word
(``coursepath/invite``, ``coursepath/coursemember``, ``zoho-people/getRecords``):
``zoho-people/token:503html=1`` fails only token requests, ``coursepath/invite:html=1``
only invitations. A request meets the faults of its most precise target.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from importer.core.errors import ConfigurationError

__all__ = ["Faults", "parse_faults"]

_KEYS = {
    "500": "error_500",
    "429": "error_429",
    "latency": "latency",
    "timeout": "timeout",
    "drop": "drop",
    "hang": "hang",
    "seed": "seed",
    "html": "html",
    "empty": "empty",
    "201": "status_201",
    "envelope": "envelope",
    "7202": "code_7202",
    "503html": "html_503",
    "empty201": "empty_201",
    "404": "error_404",
    "409": "error_409",
    "loop": "loop",
    "echo": "echo",
}


@dataclass
class Faults:
    """The faults of one vendor; shares are probabilities from 0 to 1."""

    error_500: float = 0.0
    error_429: float = 0.0
    latency: float = 0.0
    timeout: float = 0.0
    drop: float = 0.0
    hang: float = 30.0
    seed: float = 0.0
    html: float = 0.0
    empty: float = 0.0
    status_201: float = 0.0
    envelope: float = 0.0
    code_7202: float = 0.0
    html_503: float = 0.0
    empty_201: float = 0.0
    error_404: float = 0.0
    error_409: float = 0.0
    loop: float = 0.0
    echo: float = 0.0
    rng: random.Random = field(init=False, repr=False, compare=False)
    #: Echo answers given so far (each leads with the next form).
    echoed: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def draw(self, share: float) -> bool:
        """Whether this request meets a fault of the given share."""
        return share > 0 and self.rng.random() < share

    @property
    def active(self) -> bool:
        """Whether any fault can happen."""
        odd = (self.html, self.empty, self.status_201, self.envelope, self.code_7202, self.html_503)
        more = (self.empty_201, self.error_404, self.error_409, self.loop, self.echo)
        return any(
            (self.error_500, self.error_429, self.latency, self.timeout, self.drop, *odd, *more)
        )


def parse_faults(spec: str, vendors: list[str]) -> dict[str, Faults]:
    """Parse ``vendor:key=value,...;vendor:...`` into faults per vendor.

    Raises:
        ConfigurationError: unknown vendor or key, or a value out of range.
    """
    result: dict[str, Faults] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        vendor, _, settings = part.partition(":")
        vendor = vendor.strip()
        if vendor.partition("/")[0] not in vendors:
            raise ConfigurationError(f"--faults: unknown vendor {vendor!r}; use one of {vendors}.")
        values: dict[str, float] = {}
        for item in filter(None, (s.strip() for s in settings.split(","))):
            key, _, raw = item.partition("=")
            if key.strip() not in _KEYS:
                raise ConfigurationError(
                    f"--faults: unknown fault {key!r}; use {', '.join(_KEYS)}."
                )
            try:
                value = float(raw)
            except ValueError:
                raise ConfigurationError(f"--faults: {item!r} needs a number.") from None
            name = _KEYS[key.strip()]
            if name not in ("latency", "hang", "seed") and not 0 <= value <= 1:
                raise ConfigurationError(f"--faults: {item!r}: a share goes from 0 to 1.")
            values[name] = value
        result[vendor] = Faults(**values)
    return result
