"""The store tests' fixtures: each store test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from importer.store import Store, open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite state folder or a PostgreSQL schema, as a store URL."""
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'state'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    """The store at ``url``, closed after the test."""
    opened = open_store(url)
    yield opened
    opened.close()
