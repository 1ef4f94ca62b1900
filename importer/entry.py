"""The ``session-importer`` entry point: signals first, then the command line.

Ctrl-C (SIGINT) and ``systemctl stop`` (SIGTERM) are handled the same way from the
first instruction on: the handlers are installed before the heavy imports, so that a
signal in the first second gives one line (and, with ``--json``, the JSON line), not a
Python traceback. Mid-run, both stop the sending and still write the result sheet
(see :mod:`importer.pipeline`); the exit code is 130 for SIGINT, 143 for SIGTERM.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Sequence
from types import FrameType

__all__ = ["Terminated", "main", "signal_exit_code"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, like Ctrl-C's KeyboardInterrupt."""


def signal_exit_code(error: BaseException) -> int:
    """143 for SIGTERM, 130 for Ctrl-C (128 + the signal's number, as shells do)."""
    return 143 if isinstance(error, Terminated) else 130


def _raise(number: int, frame: FrameType | None) -> None:
    # A second signal while the first is being handled (the result sheet is being
    # written) is ignored: the sheet and the JSON line must get out.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated() if number == signal.SIGTERM else KeyboardInterrupt()


def install_handlers() -> None:
    """SIGINT and SIGTERM raise in the main thread (KeyboardInterrupt, Terminated)."""
    signal.signal(signal.SIGINT, _raise)
    signal.signal(signal.SIGTERM, _raise)


def main(argv: Sequence[str] | None = None) -> int:
    """Install the signal handlers, then run the command line; return the exit code."""
    install_handlers()
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        from importer.cli import main as cli_main

        return cli_main(arguments)
    except KeyboardInterrupt as error:
        code = signal_exit_code(error)
        what = "terminated" if code == 143 else "interrupted"
        print(f"session-importer: {what} before anything was sent", file=sys.stderr)
        if "--json" in arguments:
            command = arguments[0] if arguments else ""
            print(json.dumps({"command": command, "stopped": what, "exit_code": code}))
        return code
