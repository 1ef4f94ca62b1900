"""The shipped conformance suite (:mod:`importer.testing`) over every vendor of the registry,
and over ``acme-lms`` (tests/fake_vendor), a vendor no file outside its package knows: the
suite passing for it is the proof that adding a vendor touches one place.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import importer
from importer.jobs.changes import update_row
from importer.store.journal import Journal
from importer.testing import conformance_tests, example_values
from importer.vendors import PLUGINS, Plugin, registered
from tests.fake_vendor import PLUGIN as FAKE

for _plugin in [*PLUGINS.values(), FAKE]:
    _test = conformance_tests(_plugin)
    globals()[_test.__name__] = _test
del _plugin, _test


def test_every_vendor_gets_a_test_class() -> None:
    """One class per vendor, the fake one included (none lost to a clash of names)."""
    classes = [name for name in globals() if re.fullmatch(r"TestConformance\w+", name)]
    assert len(classes) == len(PLUGINS) + 1


@pytest.fixture(params=[*PLUGINS, FAKE.name])
def vendor(request: pytest.FixtureRequest) -> object:
    """Each registered vendor, and the tests' own vendor registered for the test's duration."""
    if request.param == FAKE.name:
        with registered(FAKE) as extra:
            yield extra
    else:
        yield PLUGINS[request.param]


def test_a_vendor_without_update_keeps_the_row_changed_and_says_why(
    vendor: Plugin, tmp_path: Path
) -> None:
    """run --update on a vendor that documents no update: nothing is sent, the row stays
    `changed`, and the message says the vendor offers no update through its API."""
    if vendor.changes is not None and vendor.changes.update is not None:
        pytest.skip(f"{vendor.name} documents an update")
    values = example_values(vendor, tmp_path)
    journal = Journal(tmp_path / "j.sqlite", vendor.name)
    journal.remember("k", "old", 2, values)
    journal.outcome("k", "created", "42")
    entry = journal.get("k")
    assert entry is not None
    edited = {k: v for k, v in values.items()} | {"_marker": "x"}
    result = update_row(vendor, journal, None, "k", "new", entry, edited)  # type: ignore[arg-type]
    assert result.status == "changed" and "offers no update through its API" in result.message
    assert journal.get("k") == entry  # nothing recorded: nothing was done


def test_only_the_suite_imports_pytest_and_nothing_imports_the_suite() -> None:
    """The plain install runs without pytest: no module of the package but importer.testing
    imports it, and no module outside importer.testing imports importer.testing."""
    root = Path(importer.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        inside = path.relative_to(root).parts[0] == "testing"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                if name.split(".")[0] == "pytest" and not inside:
                    offenders.append(f"{path.name} imports {name}")
                if name.startswith("importer.testing") and not inside:
                    offenders.append(f"{path.name} imports {name}")
    assert not offenders
