"""Where the accessibility checks run: without npm (or when `npm ci` fails) they skip, in CI
(CI=true, as .ci/run sets) they fail; an installed axe-core is read without npm."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.browsing import axe_script


@pytest.mark.parametrize("npm", [None, "/bin/false"])
@pytest.mark.parametrize("ci", [None, "true"])
def test_axe_missing_skips_outside_ci_and_fails_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, npm: str | None, ci: str | None
) -> None:
    """No npm, or an npm whose install fails: skipped outside CI, failed in CI."""
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    outcome = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(outcome) as raised:
        axe_script(tmp_path, npm)
    said = str(raised.value)
    assert ("no npm" in said) if npm is None else ("did not install axe-core" in said), said
    assert ("(.ci/run installs it)" in said) == bool(ci), said


def test_an_installed_axe_core_is_read_without_npm(tmp_path: Path) -> None:
    """node_modules already there: its axe.min.js, npm never asked for."""
    script = tmp_path / "node_modules" / "axe-core" / "axe.min.js"
    script.parent.mkdir(parents=True)
    script.write_text("window.axe = {};", encoding="utf-8")
    assert axe_script(tmp_path, None) == "window.axe = {};"
