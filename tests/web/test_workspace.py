"""The workspace's guards on file names and paths (unit tests; no server)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import cast

import pytest

from importer.core.errors import InputError
from importer.web.accounts import Account
from importer.web.workspace import Upload, WebRun, Workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """A workspace with one account and a 1 kB upload limit."""
    return Workspace(
        [Account("Acme", "coursepath")], tmp_path / "data", max_rows=10, max_bytes=1000
    )


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/cron.d/x.csv", "x.csv"),
        ("C:\\Users\\ana\\Sessions July.xlsx", "Sessions July.xlsx"),
        ("<b>weird;name.csv", "_b_weird_name.csv"),
        ("..csv", "csv"),
    ],
)
def test_uploads_keep_only_a_harmless_file_name(
    workspace: Workspace, given: str, kept: str
) -> None:
    """Folders are dropped and odd characters replaced: the file lands in its own upload folder."""
    if not kept.endswith((".csv", ".xlsx")):
        with pytest.raises(InputError, match="not a sheet this page takes"):
            workspace.save(given, io.BytesIO(b"a,b\n"))
        return
    path = workspace.save(given, io.BytesIO(b"a,b\n"))
    assert path.name == kept
    assert path.parent.parent == workspace.data / "uploads"


def test_an_upload_over_the_limit_leaves_nothing_behind(workspace: Workspace) -> None:
    """The copy stops at the limit, says so with the file's name, and removes what it wrote."""
    with pytest.raises(
        InputError, match=r"big.csv: the file is larger than this server.s limit of 0\.001 MB"
    ):
        workspace.save("big.csv", io.BytesIO(b"x" * 1001))
    assert not list((workspace.data / "uploads").iterdir())
    assert workspace.save("ok.csv", io.BytesIO(b"x" * 1000)).stat().st_size == 1000


def test_history_result_paths_stay_under_the_results_folder(workspace: Workspace) -> None:
    """A result path read from a journal is served only from data/results/."""
    inside = workspace.data / "results" / "r1" / "a.result.xlsx"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"x")
    (workspace.data / "journals" / "secret.txt").write_text("no")
    assert workspace.result_file("results/r1/a.result.xlsx") == inside.resolve()
    assert workspace.result_file("results/../journals/secret.txt") is None
    assert workspace.result_file("/etc/passwd") is None
    assert workspace.result_file("results/r1/missing.xlsx") is None


def test_a_runs_time_left_counts_down_between_two_rows() -> None:
    """No row ends during a pause or a turn waited for: the page's time left goes down with
    the clock from the last row's estimate (never below 0), not stuck at it."""
    run = WebRun("r1", cast(Upload, None), "import", "ana")
    assert run.snapshot()["seconds_left"] is None
    run.progress(1, 4, {"created": 1}, 100.0)
    assert 99 < run.snapshot()["seconds_left"] <= 100
    run.left_at -= 30  # the estimate was said 30 s ago
    assert 69 < run.snapshot()["seconds_left"] <= 70
    run.left_at -= 500
    assert run.snapshot()["seconds_left"] == 0.0
