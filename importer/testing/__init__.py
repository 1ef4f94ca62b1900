"""The conformance suite a vendor must pass, shipped with the package.

One suite, over every vendor of the registry and any plugin a test builds (a copy with a
planted mistake, a vendor of the tests only)::

    from importer.testing import conformance_tests
    from importer.vendors import PLUGINS

    TestMyVendor = conformance_tests(PLUGINS["my-vendor"])

``conformance_tests(plugin)`` returns a pytest test class, one test per check of
:data:`~importer.testing.checks.CHECKS`; a check the vendor declares nothing for (no update,
no documented limit) is skipped, saying why. :func:`~importer.testing.checks.failures` runs the
same checks without pytest and returns what failed, in plain words.

This package sits above ``importer/vendors`` and imports pytest only when a test class is asked
for; nothing else in the package imports it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from importer.testing.checks import CHECKS, SLOW, Check, NotApplicable, example_values, failures
from importer.vendors.plugin import Plugin

__all__ = [
    "CHECKS",
    "Check",
    "NotApplicable",
    "conformance_tests",
    "example_values",
    "failures",
]


def conformance_tests(plugin: Plugin) -> type:
    """A pytest test class running every conformance check over ``plugin``.

    The plugin need not be registered: each check registers it for its duration (a
    registered vendor of another object under the same name is refused).
    """
    import pytest  # only here: the plain install never imports pytest

    def make(check: Check) -> Any:
        def test(self: object, tmp_path: Path) -> None:
            try:
                check(plugin, tmp_path)
            except NotApplicable as why:
                pytest.skip(str(why))

        test.__name__ = f"test_{check.__name__}"
        test.__doc__ = check.__doc__
        return pytest.mark.slow(test) if check in SLOW else test

    slug = "".join(part.capitalize() for part in re.split(r"[^0-9a-zA-Z]+", plugin.name))
    tests = {f"test_{check.__name__}": make(check) for check in CHECKS}
    return type(f"TestConformance{slug}", (), {"plugin": plugin, **tests})
