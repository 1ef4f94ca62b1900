"""The job's log through `logging`: today's line format, private, clean, attached for one run."""

from __future__ import annotations

import logging
import re
import stat
import time
from pathlib import Path

import pytest

from importer.core.joblog import JOB_LOG, job_log, printable
from importer.core.secret import HELD

_LINE = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (.*)")


def _lines(path: Path) -> list[str]:
    return path.read_text("utf-8").splitlines()


def test_a_line_is_its_local_time_to_the_second_then_the_message(tmp: Path) -> None:
    """Each line is `YYYY-MM-DD HH:MM:SS message` in local time, as the lines scripts parse."""
    log = tmp / "run.log"
    before = time.time()
    with job_log(log) as logger:
        logger.info("%s: read %s", "week.xlsx", "the sheet 'Sessions'")
        logger.info("100%% done, no args: %s stays")  # a message with no arguments is as is
    after = time.time()
    first, second = _lines(log)
    stamp, said = _LINE.fullmatch(first).groups()  # type: ignore[union-attr]
    assert said == "week.xlsx: read the sheet 'Sessions'"
    allowed = {time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) for t in (before, after)}
    assert stamp in allowed
    assert second.endswith(" 100%% done, no args: %s stays")
    assert log.read_bytes().endswith(b"stays\n")


def test_the_file_is_private_appended_and_its_folder_made_private(tmp: Path) -> None:
    """A new log is 0600 in a folder made 0700; an existing log is appended to, not truncated."""
    log = tmp / "var" / "log" / "run.log"
    with job_log(log) as logger:
        logger.info("first run")
    with job_log(log) as logger:
        logger.info("second run")
    assert [line.split(" ", 2)[2] for line in _lines(log)] == ["first run", "second run"]
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700


def test_each_line_is_on_disk_as_soon_as_it_is_logged(tmp: Path) -> None:
    """A line is flushed as it is written: a crash later loses nothing already logged."""
    log = tmp / "run.log"
    with job_log(log) as logger:
        logger.info("one")
        assert _lines(log)[-1].endswith(" one")


def test_secrets_are_masked_and_control_characters_cannot_forge_a_line(tmp: Path) -> None:
    """A held secret never reaches the file; a newline in outside text is escaped, so no line
    can be forged, whatever the arguments or an exception's traceback hold."""
    HELD.add("sk-joblog-secret-0001")
    log = tmp / "run.log"
    forged = "a\n2026-01-01 00:00:00 forged.csv"
    with job_log(log) as logger:
        logger.info("%s: left alone; key %s", forged, "sk-joblog-secret-0001")
        try:
            raise ValueError("bad\x1b[2J sk-joblog-secret-0001")
        except ValueError:
            logger.exception("failed")
    text = log.read_text("utf-8")
    assert "sk-joblog-secret-0001" not in text
    assert len(_lines(log)) == 2 and all(_LINE.fullmatch(x) for x in _lines(log))
    assert "a\\n2026-01-01 00:00:00 forged.csv: left alone" in text
    assert "\x1b" not in text and "\\x1b[2J" in text and "ValueError" in text


def test_a_parent_handler_gets_the_clean_line_too(caplog: pytest.LogCaptureFixture) -> None:
    """Records propagate to handlers an embedding program set (pytest's here) already clean."""
    HELD.add("sk-joblog-secret-0002")
    with caplog.at_level(logging.INFO, logger=JOB_LOG), job_log(None) as logger:
        logger.info("token sk-joblog-secret-0002\nforged")
    assert caplog.messages and "sk-joblog-secret-0002" not in caplog.text
    assert caplog.messages[-1].endswith("\\nforged")


def test_the_handler_is_removed_after_the_run(tmp: Path) -> None:
    """Two runs in one process: each file gets only its own run's lines; none is left attached."""
    logger = logging.getLogger(JOB_LOG)
    handlers = list(logger.handlers)
    with job_log(tmp / "a.log") as first:
        first.info("run a")
    with job_log(tmp / "b.log") as second:
        second.info("run b")
    logger.info("after both")
    assert [x.split(" ", 2)[2] for x in _lines(tmp / "a.log")] == ["run a"]
    assert [x.split(" ", 2)[2] for x in _lines(tmp / "b.log")] == ["run b"]
    assert logger.handlers == handlers


def test_the_handler_is_removed_when_the_run_fails(tmp: Path) -> None:
    """An error that ends the run still detaches (and closes) the file's handler."""
    logger = logging.getLogger(JOB_LOG)
    handlers = list(logger.handlers)
    with pytest.raises(RuntimeError), job_log(tmp / "a.log"):
        raise RuntimeError("stop")
    assert logger.handlers == handlers


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_line_that_cannot_be_written_raises_without_a_logging_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A full disk is an error of the run (as any write), not logging's stderr traceback."""
    with job_log(Path("/dev/full")) as logger, pytest.raises(OSError):
        logger.info("nowhere to go")
    assert "Logging error" not in capsys.readouterr().err


def test_printable_escapes_only_control_characters() -> None:
    """Letters, accents and spaces stay; a tab, a newline and an escape are written escaped."""
    assert printable("Séance à 9h\tA\nB\x1b") == "Séance à 9h\\tA\\nB\\x1b"
