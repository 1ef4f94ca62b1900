"""Faithful local copies of the vendors' APIs, to rehearse imports and to test against.

Quick use::

    from importer.sandbox import Sandbox, SandboxServer
    from importer.vendors import sandbox_parts

    sandbox = Sandbox(sandbox_parts())           # every registered vendor's part
    with SandboxServer(sandbox.app) as server:   # an ephemeral port on 127.0.0.1
        print(server.url, sandbox.describe(server.url))

or in-process, with no socket: ``httpx.Client(transport=httpx.ASGITransport(sandbox.app))``
(async) — see ``importer/sandbox/README.md`` for the choices made where the docs are silent.

This layer sits below the vendors and imports nothing of them: each vendor's package builds
its :class:`SandboxPart`, and the registry hands the parts over.
"""

# The names are imported on first use (PEP 562): a vendor's sandbox part imports
# ``importer.sandbox.http`` and ``.part``, which must not load the server and Starlette
# (building a plugin, as `vendors` and `run --help` do, would pay them; issue 27).
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importer.sandbox.app import Sandbox
    from importer.sandbox.faults import Faults, parse_faults
    from importer.sandbox.http import DropConnection
    from importer.sandbox.part import SandboxPart
    from importer.sandbox.server import SandboxServer, is_loopback
    from importer.sandbox.state import SandboxState, load_seed

_HOMES = {
    "DropConnection": "importer.sandbox.http",
    "Faults": "importer.sandbox.faults",
    "Sandbox": "importer.sandbox.app",
    "SandboxPart": "importer.sandbox.part",
    "SandboxServer": "importer.sandbox.server",
    "SandboxState": "importer.sandbox.state",
    "is_loopback": "importer.sandbox.server",
    "load_seed": "importer.sandbox.state",
    "parse_faults": "importer.sandbox.faults",
}

__all__ = [
    "DropConnection",
    "Faults",
    "Sandbox",
    "SandboxPart",
    "SandboxServer",
    "SandboxState",
    "is_loopback",
    "load_seed",
    "parse_faults",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'importer.sandbox' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
