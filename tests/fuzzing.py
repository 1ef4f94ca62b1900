"""Shared settings of the fuzz tests: a fixed budget in CI, a longer run on demand.

``IMPORTER_FUZZ_EXAMPLES=N`` sets how many cases each fuzz test tries (default
:data:`CI_EXAMPLES`); the total is printed at the end of the pytest run (see
``tests/conftest.py``), so CI logs show how much fuzzing ran.
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

__all__ = ["CASES", "CI_EXAMPLES", "EXAMPLES", "OUTCOMES", "fuzz_settings"]

CI_EXAMPLES = 150
EXAMPLES = int(os.environ.get("IMPORTER_FUZZ_EXAMPLES", CI_EXAMPLES))
#: Cases run per fuzz target, for the summary line.
CASES: Counter[str] = Counter()
#: What the cases gave (a report, a clear error, refused by the guard...).
OUTCOMES: Counter[str] = Counter()

fuzz_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,  # the machine is shared: wall-clock deadlines would be flaky
    derandomize=os.environ.get("IMPORTER_FUZZ_EXAMPLES") is None,  # CI: the same cases each run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
