"""What the browser tests share: axe-core's script (pinned in tests/web/axe), a 390 px phone
screen, and :class:`Page`, the browser on one test's behalf (waits, screenshots, the keyboard,
axe-core and the phone check). The fixtures handing them out are in tests/web/conftest.py."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.support.ui import WebDriverWait

__all__ = ["AXE", "Page", "Patient", "axe_script", "fits", "phone"]

#: How chromedriver says an element was detached between finding it and reading it, when its
#: inspector (not WebDriver) notices: the same race as a stale element, another exception.
_DETACHED = "does not belong to the document"

#: axe-core's folder: its package.json and package-lock.json (node_modules once installed).
AXE = ROOT / "tests" / "web" / "axe"


def _missing(reason: str) -> None:
    """As the browser fixture: outside CI a missing tool skips; in CI (CI=true) it fails."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (.ci/run installs it)")
    pytest.skip(reason)


def axe_script(folder: Path, npm: str | None) -> str:
    """axe-core's axe.min.js under ``folder`` (tests/web/axe), pinned by its package-lock.json:
    `npm ci` first if node_modules is missing (a lock keeps parallel workers from installing
    it together). No npm, or an install that fails: a skip, or a failure in CI."""
    script = folder / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        if npm is None:
            _missing(f"no npm to install axe-core ({folder}): install Debian's nodejs and npm")
        with (folder / ".install.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not script.exists():
                done = subprocess.run(
                    [str(npm), "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                    cwd=folder, capture_output=True, text=True, timeout=300, check=False,
                )  # fmt: skip
                if done.returncode != 0 or not script.exists():
                    said = (done.stderr or done.stdout).strip()[-500:]
                    _missing(f"npm ci in {folder} did not install axe-core: {said}")
    return script.read_text(encoding="utf-8")


def phone(driver: Any, on: bool) -> None:
    """A 390 px wide phone screen (headless windows cannot be narrower than 500 px)."""
    if on:
        metrics = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    else:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def fits(driver: Any) -> bool:
    """Nothing but the sheet's own scrolling region is wider than the screen."""
    return bool(
        driver.execute_script(
            "return document.documentElement.scrollWidth"
            " <= document.documentElement.clientWidth && window.innerWidth <= 390"
        )
    )


class Patient(WebDriverWait):  # type: ignore[type-arg]
    """A wait that looks again when an element it found was swapped out under it (the page's
    script replaces a sheet or a run's status live), whichever way chromedriver says so: a
    stale element, or its inspector's "does not belong to the document". Any other WebDriver
    error fails the wait at once."""

    def __init__(self, driver: Any, seconds: float = 30) -> None:
        super().__init__(driver, seconds, ignored_exceptions=(StaleElementReferenceException,))

    def until(self, method: Callable[[Any], Any], message: str = "") -> Any:
        def looked(driver: Any) -> Any:
            try:
                return method(driver)
            except WebDriverException as error:
                if _DETACHED in str(error.msg or ""):
                    return False
                raise

        return super().until(looked, message)


class Page:
    """The browser on one test's behalf: waits, screenshots, the keyboard and axe-core."""

    def __init__(self, driver: Any, shots: Path, axe: str) -> None:
        self.driver, self.shots, self.axe = driver, shots, axe
        self.wait = Patient(driver)
        self.findings: dict[str, list[dict[str, Any]]] = {}
        shots.mkdir(exist_ok=True)

    def until(self, check: Callable[[Any], Any]) -> Any:
        """``check`` until it holds (30 s), looking again for an element swapped out under it
        (:class:`Patient`)."""
        return self.wait.until(check)

    def shot(self, name: str) -> Path:
        target = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(target))
        return target

    def focused(self) -> Any:
        return self.driver.switch_to.active_element

    def keys(self, *keys: str) -> None:
        """Keys pressed on whatever has focus (no element targeted: keyboard only)."""
        ActionChains(self.driver).send_keys(*keys).perform()

    def chord(self, modifier: str, key: str) -> None:
        """``key`` pressed with ``modifier`` held (Shift+Tab, Ctrl+A)."""
        ActionChains(self.driver).key_down(modifier).send_keys(key).key_up(modifier).perform()

    def counts(self) -> dict[str, int]:
        """The page's counts by status ("rows" too), the zeros left out (read in one script:
        the page's script may swap the sheet in between two WebDriver calls)."""
        found = self.driver.execute_script(
            "return [...document.querySelectorAll('.counts li')].map(li =>"
            " li.textContent.trim().replace(/\\s+/g, ' '))"
        )
        pairs = (str(text).partition(" ") for text in found)
        return {status: int(number) for number, _, status in pairs if int(number)}

    def problem_keys(self) -> list[str]:
        """The problem inputs of the sheet, in the page's order, as "row/column"."""
        return list(
            self.driver.execute_script(
                "return [...document.querySelectorAll('input.cell')].map(i =>"
                " i.form.elements.row.value + '/' + i.form.elements.column.value)"
            )
        )

    def focused_key(self) -> str:
        """What has focus: a problem input as "row/column", else its tag and id or text."""
        return str(
            self.driver.execute_script(
                "const e = document.activeElement; return e.matches('input.cell') ?"
                " e.form.elements.row.value + '/' + e.form.elements.column.value :"
                " e.tagName + '#' + (e.id || e.getAttribute('value') || e.textContent.trim())"
            )
        )

    def check_axe(self, view: str) -> list[dict[str, Any]]:
        """axe-core over the whole page: no serious or critical violation; the others kept."""
        driver = self.driver
        if not driver.execute_script("return typeof window.axe === 'object'"):
            driver.execute_script(self.axe)
        driver.set_script_timeout(60)
        found = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']})"
            ".then(r => done({passed: r.passes.length, violations: r.violations.map(v =>"
            " ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' '))}))}))"
            ".catch(e => done({error: String(e)}));"
        )
        assert "violations" in found, found
        assert found["passed"] >= 10, f"axe checked next to nothing on {view}: {found}"
        found = found["violations"]
        (self.shots / f"axe-{view}.json").write_text(json.dumps(found, indent=1), "utf-8")
        self.findings[view] = found
        grave = [f for f in found if f["impact"] in ("serious", "critical")]
        assert not grave, f"axe on {view}: {json.dumps(grave, indent=1)}"
        return list(found)

    def check_phone(self, view: str) -> None:
        """At 390 px the page does not scroll sideways (the sheet's own region may)."""
        phone(self.driver, True)
        try:
            self.driver.refresh()
            self.until(lambda d: d.execute_script("return document.readyState") == "complete")
            widths = self.driver.execute_script(
                "return [document.documentElement.scrollWidth,"
                " document.documentElement.clientWidth]"
            )
            assert fits(self.driver), f"{view} is wider than a 390 px phone: {widths}"
            # As cards, each cell's label and value stay within the cell.
            spilled = self.driver.execute_script(
                "return [...document.querySelectorAll('table.cards td, table.cards tbody th')]"
                ".filter(c => c.scrollWidth > c.clientWidth + 1)"
                ".map(c => c.dataset.label + ': ' + c.textContent.trim().slice(0, 40))"
            )
            assert spilled == [], f"{view}: cells wider than their card at 390 px: {spilled}"
            self.shot(f"{view}-phone")
        finally:
            phone(self.driver, False)
            self.driver.refresh()

    def report(self) -> str:
        """The findings below serious, a line each (for the test's output)."""
        lines = [
            f"{view}: {f['impact']} {f['id']} ({f['help']}) at {', '.join(f['nodes'][:3])}"
            for view, found in self.findings.items()
            for f in found
        ]
        return "\n".join(lines) or "no axe findings"
