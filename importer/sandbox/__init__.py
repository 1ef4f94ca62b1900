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

from importer.sandbox.app import Sandbox
from importer.sandbox.faults import Faults, parse_faults
from importer.sandbox.http import DropConnection
from importer.sandbox.part import SandboxPart
from importer.sandbox.server import SandboxServer, is_loopback
from importer.sandbox.state import SandboxState, load_seed

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
