"""Faithful local copies of the vendors' APIs, to rehearse imports and to test against.

Quick use::

    from importer.sandbox import Sandbox, SandboxServer

    sandbox = Sandbox()
    with SandboxServer(sandbox.app) as server:   # an ephemeral port on 127.0.0.1
        print(server.url)

or in-process, with no socket: ``httpx.Client(transport=httpx.ASGITransport(sandbox.app))``
(async) — see ``importer/sandbox/README.md`` for the choices made where the docs are silent.
"""

from importer.sandbox.app import Sandbox, describe
from importer.sandbox.faults import Faults, parse_faults
from importer.sandbox.http import DropConnection
from importer.sandbox.server import SandboxServer, is_loopback
from importer.sandbox.state import SandboxState, load_seed

__all__ = [
    "DropConnection",
    "Faults",
    "Sandbox",
    "SandboxServer",
    "SandboxState",
    "describe",
    "is_loopback",
    "load_seed",
    "parse_faults",
]
