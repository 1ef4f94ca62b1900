"""What the sandbox remembers: the seeded accounts and everything created since.

The seed (``seed.json`` beside this file, or ``--seed FILE``) holds each
vendor's account, one section each (its credentials and the objects its
requests refer to: paths, groups, users, courses, trainers, members). Created
objects are kept with the request that created them, for the vendors' own read
endpoints and for the ``/_sandbox`` inspection routes.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from importer.core.clock import Clock, SystemClock
from importer.core.errors import ConfigurationError
from importer.sandbox.faults import Faults

__all__ = ["Created", "SandboxState", "SlidingWindow", "load_seed"]


def load_seed(path: Path | None = None) -> dict[str, Any]:
    """Read a seed file (default: the one shipped with the package)."""
    try:
        if path is None:
            text = resources.files("importer.sandbox").joinpath("seed.json").read_text("utf-8")
        else:
            text = path.read_text(encoding="utf-8")
        seed = json.loads(text)
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"cannot read the sandbox seed {path}: {error}") from None
    if not isinstance(seed, dict):
        raise ConfigurationError(f"the sandbox seed {path} is not a JSON object.")
    # Each vendor's section is checked by the sandbox built on it (SandboxPart.seed).
    return seed


class SlidingWindow:
    """Counts events in the last ``period`` seconds, on an injected clock."""

    def __init__(self, limit: int, period: float, clock: Clock) -> None:
        self.limit = limit
        self.period = period
        self.clock = clock
        self.events: deque[float] = deque()

    def hit(self) -> bool:
        """Record an event; return whether it is within the limit."""
        now = self.clock.monotonic()
        while self.events and self.events[0] <= now - self.period:
            self.events.popleft()
        self.events.append(now)
        return len(self.events) <= self.limit

    def retry_after(self) -> float:
        """Seconds until the oldest event leaves the window."""
        if not self.events:
            return 0.0
        return max(self.events[0] + self.period - self.clock.monotonic(), 0.0)


@dataclass
class Created:
    """One object created through a vendor API, and how."""

    vendor: str
    kind: str
    id: str
    data: dict[str, Any]
    request: dict[str, Any]
    at: float


@dataclass
class SandboxState:
    """Everything the sandbox holds, shared by the four vendor apps."""

    seed: dict[str, Any]
    clock: Clock = field(default_factory=SystemClock)
    faults: dict[str, Faults] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    created: list[Created] = field(default_factory=list)
    #: The latest requests: a ring of 20,000 entries, each body cut at 2 KB and its secrets
    #: redacted (see app._logged_body), so a long soak or a hostile client cannot grow it.
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=20_000))
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def fresh(
        cls,
        seed: dict[str, Any] | None = None,
        clock: Clock | None = None,
        faults: dict[str, Faults] | None = None,
        **options: Any,
    ) -> SandboxState:
        """A state from a seed (deep-copied, so tests never share objects)."""
        return cls(
            seed=copy.deepcopy(seed or load_seed()),
            clock=clock or SystemClock(),
            faults=dict(faults or {}),
            options=options,
        )

    def new_id(self, style: str) -> str:
        """A fresh, deterministic ID: ``hex24`` (24 hex digits), ``digits18`` or ``short``."""
        number = next(self._ids)
        if style == "hex24":
            return f"{0x690000000000000000000000 + number:024x}"
        if style == "digits18":
            return str(478346000090000000 + number)
        return str(5000 + number)

    def record(
        self, vendor: str, kind: str, ident: str, data: dict[str, Any], request: Any
    ) -> None:
        """Remember a created object and the request that created it."""
        with self.lock:
            self.created.append(Created(vendor, kind, ident, data, request, self.clock.time()))

    def remove(self, vendor: str, kind: str, ident: str) -> Created | None:
        """Forget a created object (a vendor's DELETE); the removed object, if it was there."""
        with self.lock:
            for index, created in enumerate(self.created):
                if (created.vendor, created.kind, created.id) == (vendor, kind, ident):
                    return self.created.pop(index)
        return None

    def objects(self, vendor: str, kind: str) -> list[Created]:
        """Objects of one kind created at one vendor, oldest first."""
        return [c for c in self.created if c.vendor == vendor and c.kind == kind]

    def fault(self, vendor: str) -> Faults:
        """The faults of a vendor (none by default)."""
        return self.faults.setdefault(vendor, Faults())
