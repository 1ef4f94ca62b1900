"""kill -9 at random points, with the sandbox dropping answers: every row exactly once."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.conftest import ROOT


# real clock: six processes killed mid-import, each re-run to the end
@pytest.mark.slow
def test_kill_9_and_rerun_until_done(tmp_path: Path) -> None:
    """Six SIGKILLs of the real CLI mid-import, 20% of answers dropped: no duplicate, none lost."""
    spec = importlib.util.spec_from_file_location("chaos", ROOT / "benchmarks" / "chaos.py")
    assert spec is not None and spec.loader is not None
    chaos = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chaos)
    figures = chaos.chaos(rows=24, kills=6, drop=0.2, seed=3, folder=tmp_path)
    assert figures["kills"] >= 3, figures  # the runs were really cut short
    assert figures["duplicates"] == 0 and figures["lost"] == 0, figures
    assert figures["sheet_agrees"] is True, figures
