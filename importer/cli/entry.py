"""The ``session-importer`` entry point: signals first, then the command line.

Ctrl-C (SIGINT) and ``systemctl stop`` (SIGTERM) are handled the same way from the
first instruction on: the handlers are installed before the heavy imports, so that a
signal in the first second gives one line (and, with ``--json``, the JSON line), not a
Python traceback. Mid-run, both stop the sending and still write the result sheet
(see :mod:`importer.jobs.pipeline`); the exit code is 130 for SIGINT, 143 for SIGTERM.

While rows are being sent, a signal raises nothing (:class:`importer.core.signals.RunSignals`):
it only sets the run's stop, and the sending loop stops the run with every answer that
arrived.
"""

from __future__ import annotations

import contextlib
import gc
import json
import sys
from collections.abc import Sequence

from importer.core.signals import install_handlers, signal_exit_code

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Install the signal handlers, then run the command line; return the exit code."""
    install_handlers()
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        from importer.cli.main import main as cli_main

        return cli_main(arguments)
    except KeyboardInterrupt as error:
        code = signal_exit_code(error)
        what = "terminated" if code == 143 else "interrupted"
        print(f"session-importer: {what} before anything was sent", file=sys.stderr)
        if "--json" in arguments:
            command = arguments[0] if arguments else ""
            print(json.dumps({"command": command, "stopped": what, "exit_code": code}))
        return code
    finally:
        _leave()


def _leave() -> None:
    """Collect the garbage now, then freeze what is still alive (the modules, what the command
    holds): the interpreter's own collections at exit then pass it by.

    With pandas and pyarrow loaded, those collections took 0.06-0.08 s of every command's
    exit, after its work was done. Garbage still has its finalizers run (here), and what is
    alive at exit is no less finalized than Python promises (its ``__del__`` may not run).
    A signal meanwhile changes nothing: the command has ended and said how (as a signal
    during the interpreter's own collections did).
    """
    with contextlib.suppress(KeyboardInterrupt):
        gc.collect()
        gc.freeze()
