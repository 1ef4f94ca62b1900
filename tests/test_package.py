"""The package's public surface and its generated files stay in order."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import importer
from importer.cli.parser import command_names
from importer.results.templates import template_name, write_template
from importer.vendors import REGISTRY
from tests.conftest import ROOT, run_cli


def test_public_names_sorted_and_exported() -> None:
    """__all__ is sorted (constants, classes, functions) and each name in it exists."""

    def order(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)

    assert list(importer.__all__) == sorted(importer.__all__, key=order)
    for name in importer.__all__:
        assert hasattr(importer, name), name


def test_committed_templates_match_the_schemas(tmp_path: Path) -> None:
    """templates/ holds exactly what the vendors' declarations generate.

    If this fails: run `session-importer template all -o templates` and commit.
    """
    for vendor in REGISTRY.values():
        fresh = write_template(vendor, tmp_path)
        committed = ROOT / "templates" / template_name(vendor)
        assert committed.exists(), committed
        assert filecmp.cmp(fresh, committed, shallow=False), f"{committed} is stale"


def test_committed_samples_match_their_generator(tmp_path: Path) -> None:
    """sample_data/ holds what make_samples.py writes (run it and commit if this fails)."""
    copy = tmp_path / "sample_data"
    copy.mkdir()
    (copy / "make_samples.py").write_bytes((ROOT / "sample_data" / "make_samples.py").read_bytes())
    subprocess.run([sys.executable, str(copy / "make_samples.py")], check=True)
    for made in copy.glob("*-*.*"):
        assert filecmp.cmp(made, ROOT / "sample_data" / made.name, shallow=False), made.name


def test_docs_show_current_help() -> None:
    """The documentation's command reference is the real --help output."""
    commands = (ROOT / "docs" / "commands.md").read_text(encoding="utf-8")
    for command in command_names():
        done = run_cli(command, "--help", env={"COLUMNS": "100", "PATH": ""})
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() in commands, (
            f"docs/commands.md help for {command!r} is stale: run python .ci/update_docs.py"
        )
    listing = run_cli("vendors")
    assert listing.returncode == 0, listing.stderr
    vendors = (ROOT / "docs" / "vendors.md").read_text(encoding="utf-8")
    assert listing.stdout.strip() in vendors, "docs/vendors.md is stale: run .ci/update_docs.py"


def test_template_has_dropdowns_text_ids_and_instructions() -> None:
    """Templates offer dropdowns for fixed lists, keep ID columns as Text, and explain columns."""
    import openpyxl

    book = openpyxl.load_workbook(ROOT / "templates" / "zoho-people-template.xlsx")
    assert book.sheetnames == ["Sessions", "Instructions"]
    sheet = book["Sessions"]
    headers = [c.value for c in sheet[1]]
    type_column = headers.index("Type") + 1
    lists = [v for v in sheet.data_validations.dataValidation if v.type == "list"]
    assert [v.formula1 for v in lists] == ['"Classroom,E-learning"']
    letter = openpyxl.utils.get_column_letter(type_column)
    assert str(lists[0].sqref).startswith(f"{letter}2")
    trainer = headers.index("Trainer erecno") + 1
    assert sheet.cell(row=2, column=trainer).number_format == "@"
    assert sheet.cell(row=2, column=trainer).value == "478346000008251001"
    instructions = " ".join(
        str(c.value) for row in book["Instructions"].iter_rows() for c in row if c.value
    )
    assert "30 requests a minute" in instructions and "trainerErecno" in instructions
