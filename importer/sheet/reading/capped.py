"""Read one sheet of a workbook in a child process with a memory cap.

The Excel reader (calamine, native code) aborts the whole process when an allocation
fails: no exception, exit 134, every import running in the web server or the inbox gone
with it. The guard
(:mod:`importer.sheet.guard.check`) refuses every file it knows to be costly; this
is the defence behind it. The reader runs in a child process (``python -m
importer.sheet.reading.child``, which imports little besides the reader) whose address space
is capped (``IMPORTER_READER_MEMORY_MB``; :class:`~importer.sheet.guard.check.Limits`): whatever the
guard does not foresee ends that child, and the file is refused in one line, while the
command, the inbox and the server go on.

The child gets the workbook's bytes on its standard input (the very bytes the guard
checks: the file is not opened again; :class:`ChildRead` starts it while the guard scans
the parts, see :func:`importer.sheet.reading.xlsx.read_workbook`) and the request as JSON
in its argument; it answers with the chosen sheet's cells, as text, column by column,
pickled on its standard output. The parent unpickles text, numbers and lists only (no
class: nothing that runs code). No fork (the web server has threads; a forked copy of it
would also count its whole memory against the cap): a fresh interpreter, light to start
(about 50 ms, plus the read itself).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from importer.core.errors import SheetNotFoundError, UnreadableFileError, UnsafeFileError

__all__ = ["READER_SECONDS", "ChildRead", "Grid", "read_in_child"]

#: How long the child may read: a 500 MB workbook takes a few minutes on a slow machine;
#: past this, the reader is looping on a crafted file, and the inbox must go on.
READER_SECONDS = 900.0


@dataclass(frozen=True)
class Grid:
    """One sheet's cells, as the reader gives them.

    Attributes:
        sheet: the sheet's name.
        columns: the cells as text, column by column, from ``start``.
        height: the number of rows.
        start: the (row, column) of the first cell, 0-based.
        skipped: the hidden sheets before it, passed over.
        last_stamp: per column, the last row holding a date-time (-1: none).
        bare_dates: per column holding date-times, the rows holding a bare date (which the
            reader gives for a date-time at exactly 00:00).
    """

    sheet: str
    columns: list[list[str]]
    height: int
    start: tuple[int, int]
    skipped: tuple[str, ...] = ()
    last_stamp: tuple[int, ...] = ()
    bare_dates: tuple[list[int], ...] = ()


class _Values(pickle.Unpickler):
    """Unpickles plain values only: a damaged child can send nothing that runs code."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in the reader's answer")


def read_in_child(
    path: Path, data: bytes, sheet: str | None, cap: int, seconds: float = READER_SECONDS
) -> Grid:
    """Read one sheet of the workbook ``data`` in a capped child process.

    Args:
        path: the file (named in messages only).
        data: the workbook's bytes, as the guard checked them.
        sheet: the sheet asked for, or ``None`` for the first visible one.
        cap: the child's address space, in bytes.
        seconds: how long the child may take.

    Raises:
        UnreadableFileError: a damaged or encrypted workbook, no sheets.
        SheetNotFoundError: ``sheet`` is not in the workbook.
        UnsafeFileError: the reader went over its memory cap or its time, or crashed.
    """
    return ChildRead(path, data, sheet, cap, seconds).result()


class ChildRead:
    """A capped child reading one sheet, started at once: :meth:`result` waits for its answer,
    :meth:`cancel` ends it. The caller may run the guard's scans meanwhile, on another core
    (:func:`importer.sheet.reading.xlsx.read_workbook`), and cancel the read if they refuse.

    Args: as :func:`read_in_child`.
    """

    def __init__(
        self, path: Path, data: bytes, sheet: str | None, cap: int, seconds: float = READER_SECONDS
    ) -> None:
        root = str(Path(__file__).resolve().parents[3])  # the folder holding the package
        env = dict(os.environ)
        # The child imports this very package, wherever the parent found it (not the cwd).
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        # No backtrace when the reader aborts: taking one needs memory there is none of, and
        # under the cap the child then hung (measured) instead of ending.
        env["RUST_BACKTRACE"] = env["RUST_LIB_BACKTRACE"] = "0"
        request = json.dumps({"sheet": sheet, "cap": cap})
        self._path, self._cap, self._seconds = path, cap, seconds
        self._process = subprocess.Popen(
            [sys.executable, "-P", "-m", "importer.sheet.reading.child", request],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        self._output: tuple[bytes, bytes] = (b"", b"")
        self._timed_out = self._panicked = False
        # The bytes go in and the answer comes out in a thread (both pipes at once, as
        # subprocess.run does), so that the caller is free until it asks for the result.
        self._talk = threading.Thread(target=self._communicate, args=(data,), daemon=True)
        try:
            self._talk.start()
        except BaseException:  # no thread to be had: no child left behind either
            self._process.kill()
            self._process.wait()
            self._close_pipes()
            raise

    def _communicate(self, data: bytes) -> None:
        try:
            self._output = self._process.communicate(input=data, timeout=self._seconds)
        except subprocess.TimeoutExpired:
            self._timed_out = True
            self._process.kill()
            self._process.communicate()
        except (OSError, ValueError):  # the child ended (cancelled) while being written to
            self._process.kill()
            self._process.wait()
        finally:
            self._close_pipes()

    def _close_pipes(self) -> None:
        """Close our ends of the child's pipes (``communicate`` does when it returns, not
        when writing to a child that was ended raises: a pipe left to the collector, and a
        ResourceWarning in whatever runs then)."""
        for pipe in (self._process.stdin, self._process.stdout, self._process.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    @property
    def out_of_memory(self) -> bool:
        """Whether the child, ended, died of its memory cap (see :meth:`result`), or its
        reader panicked (which a failed allocation may be, under a cap: a damaged file may
        be too, and is then read again with a wider cap only to be refused the same way)."""
        if self._timed_out or self._process.returncode is None:
            return False
        if self._process.returncode == 0:
            return self._panicked
        return _out_of_memory(self._process.returncode, self._output[1])

    def cancel(self) -> None:
        """End the child (its answer is no longer wanted) and wait for it."""
        self._process.kill()
        self._talk.join()  # it reaps the child (communicate returns once it is gone)

    def result(self) -> Grid:
        """The sheet's cells, once the child has answered.

        Raises: as :func:`read_in_child`; anything that stops the wait (an interrupt, a
        signal's exception) ends the child first, as ``subprocess.run`` does.
        """
        try:
            self._talk.join()
        except BaseException:
            self._process.kill()
            raise
        if self._timed_out:
            raise UnsafeFileError(
                f"{self._path}: reading the workbook took over {self._seconds:.0f} s, which "
                "only a damaged or deliberately crafted file does; nothing was read. Open it in "
                "Excel and save it again."
            )
        stdout, stderr = self._output
        code = self._process.returncode
        answer = _answer(stdout) if code == 0 else None
        if answer is None:
            raise _crashed(self._path, code, stderr, self._cap)
        if "error" in answer:
            self._panicked = answer.get("detail") == "PanicException"
            raise _error(self._path, answer)
        return Grid(
            answer["sheet"],
            answer["columns"],
            answer["height"],
            tuple(answer["start"]),
            tuple(answer["skipped"]),
            tuple(answer["last_stamp"]),
            tuple(answer["bare_dates"]),
        )


def _answer(output: bytes) -> dict[str, Any] | None:
    try:
        answer = _Values(io.BytesIO(output)).load()
    except Exception:  # a cut or garbled answer: the child did not finish
        return None
    return answer if isinstance(answer, dict) else None


def _out_of_memory(code: int, stderr: bytes) -> bool:
    """Whether a child that died ran out of memory (its cap)."""
    memory = b"memory allocation of" in stderr or b"MemoryError" in stderr
    return memory or code in (-signal.SIGABRT, 134, -signal.SIGKILL)


def _crashed(path: Path, code: int, stderr: bytes, cap: int) -> UnsafeFileError:
    """One line for a child that died: out of memory (its cap), or another crash."""
    if _out_of_memory(code, stderr):
        return UnsafeFileError(
            f"{path}: reading the workbook needed more than the {cap // 2**20:,} MB of memory "
            "the reader may use, which only a damaged or deliberately crafted file does; "
            "nothing was read. Open it in Excel and save it again "
            "(IMPORTER_READER_MEMORY_MB raises the limit)."
        )
    how = f"signal {-code}" if code < 0 else f"exit code {code}"
    return UnsafeFileError(
        f"{path}: the workbook reader crashed on this file ({how}); nothing was read. "
        "Open it in Excel and save it again as .xlsx."
    )


def _error(path: Path, answer: dict[str, Any]) -> Exception:
    """The one-line error for what the child reported."""
    kind, detail = answer["error"], answer.get("detail", "")
    if kind == "encrypted":
        from importer.sheet.guard.xls import encrypted

        return encrypted(str(path))
    if kind == "workbook":
        return UnreadableFileError(
            f"{path}: cannot be read as an Excel or OpenDocument workbook ({detail}). "
            "Open it in Excel and save it again as .xlsx."
        )
    if kind == "no-sheets":
        return UnreadableFileError(f"{path}: the workbook has no sheets.")
    if kind == "not-found":
        listed = ", ".join(repr(n) for n in answer["names"])
        return SheetNotFoundError(f"{path}: no sheet named {detail!r}; the sheets are {listed}.")
    return UnreadableFileError(f"{path}: sheet {answer['sheet']!r} cannot be read ({detail}).")
