"""Where the browser tests run: a machine without Chromium skips them, CI fails them."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

_PROBE = """
import pytest
import tests.web.conftest as browser_tests
from tests.web.conftest import browser  # noqa: F401 - the fixture under test


@pytest.fixture
def no_chromium(monkeypatch):
    monkeypatch.setattr(browser_tests, "CHROMIUM", "/nonexistent/chromium")


def test_needs_a_browser(no_chromium, browser):
    pass
"""


@pytest.mark.parametrize(("ci", "outcome"), [(None, "skipped"), ("true", "failed")])
def test_missing_chromium_skips_outside_ci_and_fails_in_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None, outcome: str
) -> None:
    """Without /usr/bin/chromium a browser test is skipped, unless CI=true: then it fails."""
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    pytester.makepyfile(test_probe=_PROBE)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rs")
    counts = result.parseoutcomes()
    if outcome == "skipped":
        assert counts == {"skipped": 1}, counts
        result.stdout.fnmatch_lines(["*no /nonexistent/chromium*chromium-driver*"])
    else:
        assert counts == {"errors": 1}, counts  # a fixture's failure: the run is red
        result.stdout.fnmatch_lines(["*install Debian's chromium*(.ci/run does)*"])
