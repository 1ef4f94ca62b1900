"""What a vendor gives the sandbox: its :class:`SandboxPart` (the sandbox's port).

The sandbox knows no vendor. Each vendor's package builds a part (its routes, the shape of
its errors, its credentials, its options, its section of the seed) and the registry hands
every part to whoever builds a sandbox (``importer.vendors.sandbox_parts()``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importer.sandbox.http import Routes
    from importer.sandbox.state import SandboxState

__all__ = ["SandboxPart"]


@dataclass(frozen=True)
class SandboxPart:
    """A vendor's part of the embedded sandbox.

    Attributes:
        prefixes: the path prefixes it serves (a prefix may be shared: 360Learning v1 and v2).
        build: registers its routes on the :class:`~importer.sandbox.http.Routes` of its
            prefixes; returns its live part (an object whose optional ``status()`` adds
            figures to ``/_sandbox/status``).
        owns: whether a request under one of its prefixes is its own (``prefix, path``).
        server_error: the body of a 500 answer (faults), in the vendor's error shape.
        describe: ``(sandbox base URL, state) -> {"base_url", "auth_url", "env"}``: where the
            importer finds it and the credentials it accepts.
        token_paths: paths (under its prefixes) of its token endpoint, for token faults.
        options: the options it takes where the docs are silent (name -> what it does).
        seed: the section of the seed its account lives in (``state.seed[seed]``); a
            sandbox whose seed lacks it is refused when built.
        rate_limit: the documented limit its routes enforce on creates, as ``(calls,
            seconds)``: at most that many in any window of that many seconds, answered 429
            beyond (``None``: none documented). The conformance suite paces the vendor's
            declared rate against it, and checks that a burst beyond it is refused.
        max_in_flight: the documented number of requests it takes at once; the sandbox
            answers 429 to one more (``None``: none documented). The conformance suite holds
            the vendor's declared concurrency in flight against it.
    """

    prefixes: tuple[str, ...]
    build: Callable[[SandboxState, Mapping[str, Routes]], Any]
    owns: Callable[[str, str], bool]
    server_error: Any
    describe: Callable[[str, SandboxState], dict[str, Any]]
    token_paths: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)
    seed: str | None = None
    rate_limit: tuple[int, float] | None = None
    max_in_flight: int | None = None
