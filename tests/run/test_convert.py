"""v1 to v2: a converted sheet imported with v2 gives the sessions the v1 sheet gave with v1."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ROOT, run_cli
from tests.run.conftest import SandboxProcess


def test_convert_then_import_gives_the_same_sessions(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """Names, dates, instructors and additional information survive the migration."""
    v1_sheet = ROOT / "sample_data" / "360learning-v1-valid.csv"
    converted = tmp_path / "v2.csv"
    done = run_cli(
        "convert",
        v1_sheet,
        "-o",
        converted,
        "--timezone",
        "Europe/Paris",
        "--default-instructor",
        "owner@example.com",
    )
    assert done.returncode == 0, done.stderr
    text = converted.read_text(encoding="utf-8-sig")
    assert "is not carried over" in text and "platform owner" in text

    v1_run = sandbox.run(
        v1_sheet,
        "360learning-v1",
        "--timezone",
        "Europe/Paris",
        "--json",
        "--result",
        str(tmp_path / "v1.result.csv"),
    )
    assert json.loads(v1_run.stdout)["counts"] == {"created": 3}, v1_run.stderr
    v2_run = sandbox.run(
        converted, "360learning-v2", "--json", "--result", str(tmp_path / "v2.result.csv")
    )
    assert json.loads(v2_run.stdout)["counts"] == {"created": 3}, v2_run.stderr

    v1 = {c["data"]["sessionName"]: c["data"] for c in sandbox.created("360learning-v1")}
    v2 = {c["data"]["name"]: c["data"] for c in sandbox.created("360learning-v2")}
    assert set(v1) == set(v2)
    for name, old in v1.items():
        new = v2[name]
        assert new["startDate"] == old["startDate"]
        assert new.get("endDate") == old["endDate"]
        assert [new["mainInstructorId"], *new["instructorIds"]] == old["instructorIds"]
        assert new.get("additionalInformation", "").startswith(
            old["sessionAdditionalInformation"] or ""
        )


def test_rows_that_cannot_be_converted_say_why(tmp_path: Path) -> None:
    """Without --default-instructor, a row with no instructor is not converted, and says why."""
    done = run_cli(
        "convert", ROOT / "sample_data" / "360learning-v1-valid.csv", "-o", tmp_path / "v2.xlsx"
    )
    assert done.returncode == 1
    assert "2 rows converted, 1 not" in done.stdout
