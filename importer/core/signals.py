"""SIGINT and SIGTERM: what they raise between rows, and what they do while rows are sent.

Ctrl-C (SIGINT) and ``systemctl stop`` (SIGTERM) are handled alike: outside the sending
loop they raise (:class:`KeyboardInterrupt`, :class:`Terminated`) in the main thread; while
rows are being sent, a signal raises nothing (:class:`RunSignals`): it only sets the run's
stop, and the sending loop stops the run with every answer that arrived. The exit code is
130 for SIGINT, 143 for SIGTERM. Part of the vocabulary: standard library only, so that the
entry point installs the handlers before any heavy import, and the run and the undo use them
without importing the command line.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["RunSignals", "Terminated", "install_handlers", "signal_exit_code"]


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


class RunSignals:
    """While rows are sent: SIGINT and SIGTERM set the run's stop, and raise nothing.

    Raised as KeyboardInterrupt wherever the main thread happened to be, a signal landing
    just as a row's answer was taken off the workers' queue lost that answer: a created row
    reported ``not sent``, without its ID (5 of 24 tries, issue 22). Here the handler only
    notes which signal came and calls ``wake`` (which must be safe in a signal handler:
    :meth:`queue.SimpleQueue.put` is, being reentrant); the sending loop then stops the run
    as the Stop button does, and records every answer that arrived. A run outside the main
    thread (the web page's) installs nothing: signals are not delivered there.

    Attributes:
        reason: ``"interrupted"`` (SIGINT) or ``"terminated"`` (SIGTERM) once one came.
        wake: called from the handler, after ``reason`` is set.
    """

    def __init__(self, wake: Callable[[], None] | None = None) -> None:
        self.reason = ""
        self.wake = wake
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> RunSignals:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._note)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number, previous in self._previous.items():
            if self.reason and previous is _raise:
                # The command's rule holds on: after a signal, the next is ignored while the
                # result sheet and the JSON line get out (see _raise).
                previous = signal.SIG_IGN
            signal.signal(number, signal.SIG_DFL if previous is None else previous)
        self._previous.clear()

    def _note(self, number: int, frame: FrameType | None) -> None:
        # Nothing here may take a lock the main thread could hold: a flag and a wake-up.
        if not self.reason:
            self.reason = "terminated" if number == signal.SIGTERM else "interrupted"
        if self.wake is not None:
            self.wake()


def install_handlers() -> None:
    """SIGINT and SIGTERM raise in the main thread (KeyboardInterrupt, Terminated)."""
    signal.signal(signal.SIGINT, _raise)
    signal.signal(signal.SIGTERM, _raise)
