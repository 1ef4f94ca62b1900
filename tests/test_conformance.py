"""One conformance suite over every vendor of the registry, and over a vendor of the tests only.

A vendor is one package and one registry line (importer/vendors/plugin.py). Each test here
takes a :class:`~importer.vendors.plugin.Plugin` and checks one promise of that declaration;
``acme-lms`` (tests/fake_vendor) is registered for the duration of its tests with
:func:`importer.vendors.registered`: the suite passing for it, with no file outside its package
knowing it, is the proof that adding a vendor touches one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from importer.api import resolve_settings, run_import, validate
from importer.core.clock import FakeClock, SystemClock
from importer.core.secret import Secret
from importer.jobs.changes import send_calls, update_row
from importer.results.templates import write_template
from importer.sandbox import Sandbox, SandboxServer
from importer.sending.protocol import Answer, Call
from importer.sheet.fields import DateTimeUTC, Text
from importer.store.journal import Journal
from importer.vendors import PLUGINS, Plugin, get_vendor, plugin, registered
from importer.vendors.plugin import Changes
from tests.fake_vendor import PLUGIN as FAKE

NAMES = [*PLUGINS, FAKE.name]


@pytest.fixture(params=NAMES)
def vendor(request: pytest.FixtureRequest) -> Iterator[Plugin]:
    """Each registered vendor, and the tests' own vendor registered for the test's duration."""
    if request.param == FAKE.name:
        with registered(FAKE) as extra:
            yield extra
    else:
        yield PLUGINS[request.param]


def template_values(vendor: Plugin, folder: Path) -> dict[str, str | None]:
    """The normalised values of the vendor's template example row (it must be valid)."""
    report = validate(write_template(vendor.schema, folder), vendor.name, defaults=None)
    assert report.invalid_count == 0, report.errors
    row = report.values.iloc[0].to_dict()
    return {k: (None if v != v else v) for k, v in row.items()}


def test_the_registry_finds_the_vendor_by_name(vendor: Plugin) -> None:
    """Everything is reached through the registry, by the vendor's name alone."""
    assert plugin(vendor.name) is vendor
    assert get_vendor(vendor.name) is vendor.schema
    assert vendor.wire.name == vendor.name


def test_every_part_is_declared(vendor: Plugin) -> None:
    """Columns, pace, rights, odd answers, credentials, auth and sandbox: nothing left out."""
    fields = vendor.schema.fields
    assert fields and any(f.required for f in fields)
    assert len({f.label for f in fields}) == len(fields)
    wire = vendor.wire
    assert wire.max_concurrency >= 1 and wire.rate.explain(wire.max_concurrency)
    assert wire.scopes and all(isinstance(line, str) for line in wire.odd_answers)
    assert wire.documented_errors
    assert vendor.credentials and all(c.startswith("IMPORTER_") for c in vendor.credentials)
    assert set(vendor.account_fields) <= set(vendor.credentials)
    creds = {name: Secret("x" * 40) for name in vendor.credentials}
    with httpx.Client() as client:
        auth = vendor.auth(creds, "http://127.0.0.1:9", client, FakeClock(), None)
    assert callable(auth.headers) and callable(auth.invalidate)
    assert vendor.sandbox is not None and vendor.sandbox.prefixes


def test_read_back_compares_its_own_columns(vendor: Plugin) -> None:
    """What ``export --from-result`` compares are columns of the vendor's sheet."""
    if vendor.readback is None:
        pytest.skip(f"{vendor.name} declares no read-back")
    names = {f.name for f in vendor.schema.fields}
    assert vendor.readback.fields and set(vendor.readback.fields) <= names


def test_documented_errors_mean_what_they_say(vendor: Plugin, tmp_path: Path) -> None:
    """Each documented error of the create call is classed as declared, in plain words."""
    values = template_values(vendor, tmp_path)
    call = next(c for c in vendor.wire.calls(values) if c.writes and c.result)
    for status, body, kind, words in vendor.wire.documented_errors:
        outcome = vendor.wire.interpret(call, Answer(status, body))
        assert outcome.kind == kind, (status, body, outcome)
        assert words.lower() in outcome.message.lower(), (status, body, outcome.message)
        assert "{" not in outcome.message  # every placeholder filled


def test_no_write_is_done_on_a_2xx_without_a_body_of_json(vendor: Plugin, tmp_path: Path) -> None:
    """Every write of a row (not only the first), answered 2xx with a proxy's HTML page or an
    empty body, is never done: such an answer proves nothing, the step may or may not be."""
    values = template_values(vendor, tmp_path)
    writes = [c for c in vendor.wire.calls(values) if c.writes]
    for call in writes:
        for status in (200, 201):
            for body in ("<html><body><h1>Service being updated</h1></body></html>", "", None):
                outcome = vendor.wire.interpret(call, Answer(status, body))
                assert outcome.kind != "ok", (call.name, status, body)


def test_requests_carry_only_declared_fields(vendor: Plugin, tmp_path: Path) -> None:
    """A write's body holds the vendor's own columns (those sent in the body), nothing else."""
    values = template_values(vendor, tmp_path)
    declared = {f.name for f in vendor.schema.fields if f.in_body} | {"email", "name"}
    writes = [c for c in vendor.wire.calls(values) if c.writes]
    assert writes
    for call in writes:
        sent = set(call.json or {}) | set(call.form or {})
        assert sent <= declared, sent - declared


def test_its_sandbox_takes_the_template_row_and_reads_it_back(
    vendor: Plugin, tmp_path: Path
) -> None:
    """The template's example row, imported into the vendor's sandbox through the real pipeline
    and HTTP on 127.0.0.1, is created once; where the vendor can be asked, it is found again
    under the same ID."""
    assert vendor.sandbox is not None
    sandbox = Sandbox(parts={vendor.name: vendor.sandbox})
    sheet = write_template(vendor.schema, tmp_path)
    with SandboxServer(sandbox.app) as server:
        info = vendor.sandbox.describe(server.url, sandbox.state)
        flags = {"base_url": info["base_url"], "auth_url": info["auth_url"]}
        settings = resolve_settings(vendor.name, flags=flags, env=info["env"])
        run = run_import(validate(sheet, vendor.name, defaults=None), settings)
        assert run.counts() == {"created": 1}, run.results
        created = run.results[2].created_id
        assert created in {c.id for c in sandbox.state.created if c.vendor == vendor.name}
        values = template_values(vendor, tmp_path / "again")
        with httpx.Client() as http:
            sender = vendor.sender(settings, http, SystemClock())
            if vendor.wire.lookup(values) is not None and not vendor.wire.resend_safe:
                assert sender.reconcile(values) == ("found", created)
            if vendor.readback is not None:
                # Read back as `export --from-result` does: every field compared is equal.
                back = vendor.readback.find(sender, {created: values}, {})[created]
                for sent, read in vendor.readback.fields.items():
                    if values.get(sent) not in (None, ""):
                        assert str(back.get(read)) == str(values[sent]), (sent, back.get(read))


def _changes(vendor: Plugin, what: str) -> Changes:
    changes = vendor.changes
    if changes is None or getattr(changes, what) is None:
        pytest.skip(f"{vendor.name} documents no {what}")
    return changes


def _edited(vendor: Plugin, values: dict[str, str | None]) -> tuple[dict[str, str | None], str]:
    """The values with one text column the vendor reads back changed, and that column."""
    assert vendor.readback is not None
    name = next(
        f.name
        for f in vendor.schema.fields
        if f.name in vendor.readback.fields and isinstance(f.kind, Text) and values.get(f.name)
    )
    return values | {name: f"{values[name]} (moved)"}, name


def test_documented_change_errors_mean_what_they_say(vendor: Plugin, tmp_path: Path) -> None:
    """Each documented answer to its update and delete calls is classed as declared."""
    changes = vendor.changes
    if changes is None:
        pytest.skip(f"{vendor.name} documents no update and no delete")
    values = template_values(vendor, tmp_path)
    calls: list[Call] = []
    if changes.update is not None:
        found = changes.update(values, _edited(vendor, values)[0], "1234")
        assert isinstance(found, list)
        calls += found
    if changes.delete is not None:
        calls += changes.delete(values, "1234")
    assert changes.documented_errors
    for method, status, body, kind, words in changes.documented_errors:
        call = next(c for c in calls if c.method == method)
        outcome = changes.interpret(call, Answer(status, body))
        assert outcome.kind == kind, (method, status, body, outcome)
        assert words.lower() in outcome.message.lower(), (status, body, outcome.message)
        assert "{" not in outcome.message


def test_a_vendor_without_update_keeps_the_row_changed_and_says_why(
    vendor: Plugin, tmp_path: Path
) -> None:
    """run --update on a vendor that documents no update: nothing is sent, the row stays
    `changed`, and the message says the vendor offers no update through its API."""
    if vendor.changes is not None and vendor.changes.update is not None:
        pytest.skip(f"{vendor.name} documents an update")
    values = template_values(vendor, tmp_path)
    journal = Journal(tmp_path / "j.sqlite", vendor.name)
    journal.remember("k", "old", 2, values)
    journal.outcome("k", "created", "42")
    entry = journal.get("k")
    assert entry is not None
    edited = {k: v for k, v in values.items()} | {"_marker": "x"}
    result = update_row(vendor, journal, None, "k", "new", entry, edited)  # type: ignore[arg-type]
    assert result.status == "changed" and "offers no update through its API" in result.message
    assert journal.get("k") == entry  # nothing recorded: nothing was done


def test_its_sandbox_updates_reads_back_and_deletes_the_template_row(
    vendor: Plugin, tmp_path: Path
) -> None:
    """A vendor declaring an update and a delete: the template row (its dates moved to 2099: a
    session that has ended may not be changed), created in its sandbox, is updated and read
    back equal to the new value, then deleted: its reads then answer 404."""
    changes = _changes(vendor, "update")
    _changes(vendor, "delete")
    assert vendor.sandbox is not None and vendor.readback is not None
    sandbox = Sandbox(parts={vendor.name: vendor.sandbox})
    values = template_values(vendor, tmp_path)
    for field in vendor.schema.fields:
        if isinstance(field.kind, DateTimeUTC) and values.get(field.name):
            values[field.name] = "2099" + str(values[field.name])[4:]
    edited, name = _edited(vendor, values)
    with SandboxServer(sandbox.app) as server, httpx.Client() as http:
        info = vendor.sandbox.describe(server.url, sandbox.state)
        flags = {"base_url": info["base_url"], "auth_url": info["auth_url"]}
        settings = resolve_settings(vendor.name, flags=flags, env=info["env"])
        sender = vendor.sender(settings, http, SystemClock())
        made = sender.import_row(values)
        assert made.status == "created", made.message
        created = made.created_id
        calls = changes.update(values, edited, created)  # type: ignore[misc]
        assert isinstance(calls, list) and calls
        done = send_calls(sender, changes, calls)
        assert done.status == "created", done.message
        back = vendor.readback.find(sender, {created: edited}, {})[created]
        assert str(back.get(vendor.readback.fields[name])) == edited[name]
        deletes = changes.delete(edited, created)  # type: ignore[misc]
        assert send_calls(sender, changes, deletes).status == "created"
        checks = [c for c in map(changes.check, deletes) if c is not None]
        assert checks and all(sender.read(c).status == 404 for c in checks)
        # A second delete of the same row finds it gone: still done, nothing to undo twice.
        assert send_calls(sender, changes, deletes).status == "created"
