"""The conformance checks: each takes a vendor's :class:`~importer.vendors.plugin.Plugin` and a
scratch folder, and raises :class:`AssertionError` saying, in plain words, what the vendor
declares and what is true instead; :class:`NotApplicable` when the vendor declares nothing the
check could test (no read-back, no update, no documented limit).

What is declared is checked against the vendor's own sandbox part wherever a declaration can be
wrong and still consistent: the example row of its template is created there and read back;
sent twice, it must make one object if the vendor says a lost answer may be resent blindly; the
declared rate and concurrency must pass under the limits the sandbox enforces. Every sandbox
runs in-process on 127.0.0.1, on a fake clock shared with the importer: a minute of the
vendor's time costs no real minute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from importer.core.clock import FakeClock
from importer.core.outcomes import RowResult
from importer.core.secret import Secret
from importer.core.settings import RunSettings
from importer.results.templates import write_template
from importer.sandbox import Sandbox, SandboxServer
from importer.sandbox.state import SandboxState
from importer.sending.protocol import Answer, Call, Outcome
from importer.sending.sender import Sender
from importer.sending.throttle import Pacer, RatePolicy
from importer.sheet.fields import DateTimeUTC, Text
from importer.sheet.validation import validate
from importer.vendors import PLUGINS, get_vendor, registered
from importer.vendors import plugin as look_up
from importer.vendors.plugin import Changes, Plugin

__all__ = ["CHECKS", "SLOW", "Check", "NotApplicable", "example_values", "failures"]

#: A check: ``(plugin, scratch folder) -> None``, raising AssertionError or NotApplicable.
Check = Callable[[Plugin, Path], None]

#: Bodies a proxy or a half-deployed service may give with a 2xx: they prove nothing.
_NO_PROOF: tuple[Any, ...] = ("<html><body><h1>Service being updated</h1></body></html>", "", None)


class NotApplicable(Exception):
    """The vendor declares nothing this check could test (said in the message)."""


def example_values(plugin: Plugin, folder: Path) -> dict[str, str | None]:
    """The normalised values of the example row of the vendor's template (it must be valid)."""
    folder.mkdir(parents=True, exist_ok=True)
    report = validate(write_template(plugin.schema, folder), plugin.schema, defaults=None)
    if report.invalid_count:
        raise AssertionError(f"{plugin.name}: its template's example row is invalid: {report}")
    row = report.values.iloc[0].to_dict()
    return {str(k): (None if v != v else v) for k, v in row.items()}


@contextmanager
def _registered(plugin: Plugin) -> Iterator[None]:
    """The plugin in the registry for the check's duration (a vendor of the tests, a copy)."""
    if plugin.name not in PLUGINS:
        with registered(plugin):
            yield
        return
    if PLUGINS[plugin.name] is not plugin:
        raise AssertionError(
            f"another vendor is registered as {plugin.name!r}: give the copy under test "
            "its own name, or check the registered one"
        )
    yield


def _create_call(plugin: Plugin, values: Mapping[str, str | None]) -> Call:
    """The call that creates the row's object (the first write naming its result)."""
    found = [c for c in plugin.wire.calls(values) if c.writes and c.result]
    if not found:
        raise AssertionError(
            f"{plugin.name}: the template row gives no write with a `result` (the call whose "
            "answer holds the created object's ID)"
        )
    return found[0]


# --- Declarations, read alone -----------------------------------------------------------------


def registry(plugin: Plugin, folder: Path) -> None:
    """Everything is reached through the registry, by the vendor's name alone."""
    with _registered(plugin):
        assert look_up(plugin.name) is plugin, f"{plugin.name}: the registry gives another plugin"
        assert get_vendor(plugin.name) is plugin.schema, (
            f"{plugin.name}: the registry gives another sheet than the plugin's schema"
        )


def every_part_declared(plugin: Plugin, folder: Path) -> None:
    """Columns, pace, rights, odd answers, credentials, auth and sandbox: nothing left out."""
    name, wire, fields = plugin.name, plugin.wire, plugin.schema.fields
    assert fields and any(f.required for f in fields), f"{name}: no required column"
    labels = [f.label for f in fields]
    assert len(set(labels)) == len(labels), f"{name}: two columns share a label: {labels}"
    assert wire.max_concurrency >= 1, f"{name}: max_concurrency {wire.max_concurrency} < 1"
    assert wire.rate.explain(wire.max_concurrency), f"{name}: its rate says nothing"
    assert wire.scopes, f"{name}: `scopes` (the rights its calls need) is empty"
    assert all(isinstance(line, str) for line in wire.odd_answers), f"{name}: odd_answers"
    assert wire.documented_errors, f"{name}: no documented_errors (its status table)"
    assert plugin.credentials, f"{name}: no credentials"
    bad = [c for c in plugin.credentials if not c.startswith("IMPORTER_")]
    assert not bad, f"{name}: credentials must be IMPORTER_* variables: {bad}"
    extra = set(plugin.account_fields) - set(plugin.credentials)
    assert not extra, f"{name}: account_fields not among its credentials: {sorted(extra)}"
    creds = {c: Secret("x" * 40) for c in plugin.credentials}
    with httpx.Client() as client:
        auth = plugin.auth(creds, "http://127.0.0.1:9", client, FakeClock(), None)
    assert callable(auth.headers) and callable(auth.invalidate), f"{name}: auth is not an Auth"
    assert plugin.sandbox is not None and plugin.sandbox.prefixes, (
        f"{name}: no sandbox part (its routes in the embedded sandbox): the suite needs one"
    )


def readback_columns(plugin: Plugin, folder: Path) -> None:
    """What ``export --from-result`` compares are columns of the vendor's sheet."""
    if plugin.readback is None:
        raise NotApplicable(f"{plugin.name} declares no read-back")
    names = {f.name for f in plugin.schema.fields}
    unknown = set(plugin.readback.fields) - names
    assert plugin.readback.fields, f"{plugin.name}: its read-back compares no field"
    assert not unknown, f"{plugin.name}: its read-back compares non-columns {sorted(unknown)}"


def status_table(plugin: Plugin, folder: Path) -> None:
    """Each documented answer to the create call is classed as declared, in plain words."""
    call = _create_call(plugin, example_values(plugin, folder))
    for status, body, kind, words in plugin.wire.documented_errors:
        outcome = plugin.wire.interpret(call, Answer(status, body))
        _said(plugin.name, f"{status} {body!r}", kind, words, outcome)


def _said(name: str, answer: str, kind: str, words: str, outcome: Outcome) -> None:
    assert outcome.kind == kind, (
        f"{name}: documents the answer {answer} as {kind!r}, but classes it {outcome.kind!r} "
        f"({outcome.message!r})"
    )
    assert words.lower() in outcome.message.lower(), (
        f"{name}: the message for {answer} should say {words!r}; it says {outcome.message!r}"
    )
    assert "{" not in outcome.message, f"{name}: a placeholder left in {outcome.message!r}"


def shared_classes(plugin: Plugin, folder: Path) -> None:
    """Every write's answers are classed within the shared table (see
    :func:`importer.sending.protocol.plain_status`): 401 re-authenticates then stops, 403 stops
    (or first asks whether the whole account is refused), 429 waits, a 5xx or a 2xx without
    the documented body is unknown, never done, never resent blindly."""
    name, wire = plugin.name, plugin.wire
    writes = [c for c in wire.calls(example_values(plugin, folder)) if c.writes]
    for call in writes:
        said = f"{name}: a {{}} answer to {call.name!r} is classed {{!r}} ({{!r}}): "
        auth = wire.interpret(call, Answer(401, {}))
        assert auth.kind in ("reauth", "fatal"), said.format(401, auth.kind, auth.message) + (
            "a 401 means the credentials were refused: re-authenticate then stop (the shared "
            "default, `reauth`), or stop (`fatal`)"
        )
        right = wire.interpret(call, Answer(403, {}))
        probed = right.kind == "rejected" and right.probe is not None
        assert right.kind == "fatal" or probed, said.format(403, right.kind, right.message) + (
            "a 403 means the credentials lack a right, which no row can fix: `fatal` (the "
            "shared default), or a `rejected` with a `probe` that asks whether the account is"
        )
        busy = wire.interpret(call, Answer(429, {}))
        assert busy.kind in ("retry", "locked"), said.format(429, busy.kind, busy.message) + (
            "a 429 means nothing was done: wait and retry"
        )
        for status in (500, 502):
            down = wire.interpret(call, Answer(status, {}))
            assert down.kind == "unknown", said.format(status, down.kind, down.message) + (
                "a server error to a write may or may not have been done: `unknown`"
            )
        # A write naming its result must be *unknown* (looked up before any resend); a step
        # without one may also be read as the row's refusal, never as done.
        bodies, fine = ((*_NO_PROOF, {}), {"unknown"}) if call.result else (_NO_PROOF, None)
        for status in (200, 201, 204):
            for body in bodies:
                odd = wire.interpret(call, Answer(status, body))
                ok = odd.kind in fine if fine else odd.kind != "ok"
                assert ok, said.format(f"{status} {body!r}", odd.kind, odd.message) + (
                    "only the documented success body proves a write was done; any other "
                    "2xx may or may not have been: `unknown`"
                )


def only_declared_fields(plugin: Plugin, folder: Path) -> None:
    """A write's body holds the vendor's own columns (those sent in the body), nothing else."""
    declared = {f.name for f in plugin.schema.fields if f.in_body} | {"email", "name"}
    writes = [c for c in plugin.wire.calls(example_values(plugin, folder)) if c.writes]
    assert writes, f"{plugin.name}: the template row gives no write"
    for call in writes:
        extra = (set(call.json or {}) | set(call.form or {})) - declared
        assert not extra, (
            f"{plugin.name}: {call.name!r} sends {sorted(extra)}, which its schema does not "
            "declare as columns sent in the body"
        )


def change_errors(plugin: Plugin, folder: Path) -> None:
    """Each documented answer to its update and delete calls is classed as declared."""
    changes = plugin.changes
    if changes is None:
        raise NotApplicable(f"{plugin.name} documents no update and no delete")
    values = example_values(plugin, folder)
    calls: list[Call] = []
    if changes.update is not None and plugin.readback is not None:
        found = changes.update(values, _edited(plugin, values)[0], "1234")
        assert isinstance(found, list), f"{plugin.name}: its update refused a text change: {found}"
        calls += found
    if changes.delete is not None:
        calls += changes.delete(values, "1234")
    assert changes.documented_errors, f"{plugin.name}: no documented errors for its changes"
    for method, status, body, kind, words in changes.documented_errors:
        call = next((c for c in calls if c.method == method), None)
        assert call is not None, f"{plugin.name}: documents {method} answers, makes no {method}"
        outcome = changes.interpret(call, Answer(status, body))
        _said(plugin.name, f"{method} {status} {body!r}", kind, words, outcome)


def _edited(plugin: Plugin, values: dict[str, str | None]) -> tuple[dict[str, str | None], str]:
    """The values with one text column the vendor reads back changed, and that column."""
    assert plugin.readback is not None
    name = next(
        (
            f.name
            for f in plugin.schema.fields
            if f.name in plugin.readback.fields and isinstance(f.kind, Text) and values.get(f.name)
        ),
        None,
    )
    if name is None:
        raise NotApplicable(f"{plugin.name} reads back no text column of the template row")
    return values | {name: f"{values[name]} (moved)"}, name


# --- Against the vendor's sandbox ---------------------------------------------------------------


@dataclass
class _Rig:
    """A fresh sandbox of one vendor on 127.0.0.1, and a sender to it, on one fake clock."""

    plugin: Plugin
    sandbox: Sandbox
    clock: FakeClock
    sender: Sender

    def objects(self) -> list[str]:
        """What the sandbox holds of the vendor's, as ``kind id``."""
        made = self.sandbox.state.created
        return [f"{c.kind} {c.id}" for c in made if c.vendor == self.plugin.name]

    def refused(self, why: str | None = None) -> int:
        """Requests of the vendor answered 429 (for ``why``, as the sandbox logged it)."""
        log = list(self.sandbox.state.requests)
        return sum(
            1
            for r in log
            if r["vendor"] == self.plugin.name
            and r["status"] == 429
            and (why is None or r.get("refused") == why)
        )


@contextmanager
def _sandboxed(plugin: Plugin, unpaced: bool = False, **options: Any) -> Iterator[_Rig]:
    part = plugin.sandbox
    if part is None:
        raise AssertionError(f"{plugin.name}: no sandbox part to check it against")
    clock = FakeClock()
    sandbox = Sandbox({plugin.name: part}, SandboxState.fresh(clock=clock, **options))
    with _registered(plugin), SandboxServer(sandbox.app) as server, httpx.Client() as http:
        info = part.describe(server.url, sandbox.state)
        settings = RunSettings(
            vendor=plugin.name,
            base_url=info["base_url"],
            auth_url=info["auth_url"] or info["base_url"],
            credentials={k: Secret(str(v)) for k, v in info["env"].items()},
        )
        pacer = Pacer(RatePolicy(rate=None), clock) if unpaced else None
        sender = plugin.sender(settings, http, clock, pacer=pacer)
        yield _Rig(plugin, sandbox, clock, sender)


def _send(sender: Sender, changes: Changes, calls: list[Call]) -> RowResult:
    """Make an update's or delete's ``calls`` under the sender's pacing and retry policy."""

    class Plan:
        def __getattr__(self, name: str) -> Any:
            return getattr(sender.adapter, name)

        def calls(self, values: Mapping[str, str | None]) -> list[Call]:
            return calls

        def interpret(self, call: Call, answer: Answer) -> Outcome:
            return changes.interpret(call, answer)

        def created_id(self, results: Mapping[str, str]) -> str | None:
            return None

    return replace(sender, adapter=Plan()).import_row({})


def round_trip(plugin: Plugin, folder: Path) -> None:
    """The template's example row, sent to the vendor's sandbox over HTTP, is created once and
    shown under the ID the sandbox gave; a lookup finds it under that ID; read back, every
    compared column is what was sent."""
    values = example_values(plugin, folder)
    with _sandboxed(plugin) as rig:
        made = rig.sender.import_row(values)
        assert made.status == "created", f"{plugin.name}: not created: {made.message}"
        held = rig.objects()
        assert held, f"{plugin.name}: answered as created, yet its sandbox holds nothing"
        ids = {item.split(" ", 1)[1] for item in held}
        assert made.created_id in ids, (
            f"{plugin.name}: created_id gave {made.created_id!r}, but its sandbox created "
            f"{held}: created_id reads the wrong result, or the success shape is misread"
        )
        wire = plugin.wire
        if wire.lookup(values) is not None and not wire.resend_harmless(values):
            found = rig.sender.reconcile(values)
            assert found == ("found", made.created_id), (
                f"{plugin.name}: after a lost answer its lookup would say {found}, not "
                f"('found', {made.created_id!r})"
            )
        if plugin.readback is not None:
            back = plugin.readback.find(rig.sender, {made.created_id: values}, {})
            got = back.get(made.created_id)
            assert got is not None, f"{plugin.name}: read-back does not find {made.created_id}"
            for sent, read in plugin.readback.fields.items():
                if values.get(sent) not in (None, ""):
                    assert str(got.get(read)) == str(values[sent]), (
                        f"{plugin.name}: sent {sent}={values[sent]!r}, read back "
                        f"{read}={got.get(read)!r}"
                    )


def resend_safe(plugin: Plugin, folder: Path) -> None:
    """``resend_safe`` against the sandbox. A row whose answer was lost and that the adapter
    calls harmless to resend (``resend_harmless``: ``resend_safe`` unless the row asks for
    more) is sent again unchecked, without a lookup: so sending it twice must make one object,
    and answer the same ID. Tried on the template row, else on it with one optional column
    left empty (a column that makes a row unsafe, such as an invitation)."""
    base = example_values(plugin, folder)
    rows = [base] + [
        base | {f.name: None}
        for f in plugin.schema.fields
        if not f.required and base.get(f.name) is not None
    ]
    harmless = [row for row in rows if plugin.wire.resend_harmless(row)]
    if not harmless:
        raise NotApplicable(
            f"{plugin.name} resends no row blindly (resend_safe is false): a lost answer is "
            "looked up or left unknown"
        )
    for row in harmless:
        with _sandboxed(plugin) as rig:
            first = rig.sender.import_row(row)
            if first.status != "created":
                continue  # a row this variant makes invalid: the next one
            once = rig.objects()
            second = rig.sender.import_row(row)
            twice = rig.objects()
            more = [item for item in twice if item not in once]
            assert not more, (
                f"{plugin.name}: declares resend_safe (a row whose answer was lost is sent again "
                f"without a lookup), but the same row sent twice made {more} besides {once} in "
                "its sandbox: declare resend_safe = False (and a lookup)"
            )
            assert second.status == "created" and second.created_id == first.created_id, (
                f"{plugin.name}: declares resend_safe, but the same row sent again answered "
                f"{second.status} {second.created_id!r} ({second.message}), not created "
                f"{first.created_id!r}"
            )
            return
    raise AssertionError(
        f"{plugin.name}: declares rows safe to resend, but none could be created in its sandbox"
    )


def rate(plugin: Plugin, folder: Path) -> None:
    """The declared rate against the limit the sandbox enforces (``SandboxPart.rate_limit``):
    one call more than the limit allows, paced as declared, meets no refusal; the same calls
    at once are refused (the sandbox does enforce the limit it declares)."""
    part = plugin.sandbox
    if part is None or part.rate_limit is None:
        raise NotApplicable(f"{plugin.name}'s sandbox enforces no documented rate")
    calls, seconds = part.rate_limit
    values = example_values(plugin, folder)
    sent = calls + 1  # a steady pace above calls/seconds puts all of them in one window
    with _sandboxed(plugin) as rig:
        started = rig.clock.monotonic()
        for _ in range(sent):
            rig.sender.import_row(values)
        refused, took = rig.refused(), rig.clock.monotonic() - started
    wire = plugin.wire
    assert not refused, (
        f"{plugin.name}: at its declared rate ({wire.rate.explain(wire.max_concurrency)}), "
        f"{refused} of {sent} creates were refused with 429 by its sandbox, which allows "
        f"{calls} in {seconds:g} s (they took {took:.1f} s): the declared rate is above the "
        "vendor's limit"
    )
    with _sandboxed(plugin, unpaced=True) as rig:
        for _ in range(sent):
            rig.sender.import_row(values)
        burst = rig.refused()
    assert burst, (
        f"{plugin.name}: its sandbox declares a limit of {calls} creates in {seconds:g} s, "
        f"yet took {sent} at once without a 429: it does not enforce the limit it declares"
    )


def concurrency(plugin: Plugin, folder: Path) -> None:
    """The declared concurrency against what the sandbox takes at once
    (``SandboxPart.max_in_flight``): that many rows are sent together, held in flight until
    all arrived (or one more than the sandbox takes), and none is refused."""
    part = plugin.sandbox
    if part is None or part.max_in_flight is None:
        raise NotApplicable(f"{plugin.name}'s sandbox enforces no documented concurrency")
    declared, most = plugin.wire.max_concurrency, part.max_in_flight
    together = min(declared, most + 1)
    values = example_values(plugin, folder)
    with _sandboxed(plugin, hold_in_flight=together) as rig:
        with ThreadPoolExecutor(max_workers=declared) as pool:
            list(pool.map(lambda _: rig.sender.import_row(values), range(declared)))
        refused = rig.refused("in flight")
    assert not refused, (
        f"{plugin.name}: declares max_concurrency = {declared}, but its sandbox takes {most} "
        f"requests at once and refused {refused} of {together} sent together: declare at "
        f"most {most}"
    )


def update_delete(plugin: Plugin, folder: Path) -> None:
    """A vendor declaring an update and a delete: the template row (dates moved to 2099: a
    session that has ended may not be changed), created in its sandbox, is updated and read
    back equal to the new value, then deleted: its reads then answer 404; a second delete
    finds it gone and is still done."""
    changes = plugin.changes
    if changes is None or changes.update is None or changes.delete is None:
        raise NotApplicable(f"{plugin.name} documents no update and delete")
    if plugin.readback is None:
        raise NotApplicable(f"{plugin.name} declares no read-back to check an update by")
    values = example_values(plugin, folder)
    for field in plugin.schema.fields:
        if isinstance(field.kind, DateTimeUTC) and values.get(field.name):
            values[field.name] = "2099" + str(values[field.name])[4:]
    edited, name = _edited(plugin, values)
    with _sandboxed(plugin) as rig:
        made = rig.sender.import_row(values)
        assert made.status == "created", f"{plugin.name}: not created: {made.message}"
        ident = made.created_id
        calls = changes.update(values, edited, ident)
        assert isinstance(calls, list) and calls, f"{plugin.name}: no update calls: {calls}"
        done = _send(rig.sender, changes, calls)
        assert done.status == "created", f"{plugin.name}: update not done: {done.message}"
        back = plugin.readback.find(rig.sender, {ident: edited}, {}).get(ident, {})
        got = back.get(plugin.readback.fields[name])
        assert str(got) == edited[name], f"{plugin.name}: updated {name}, read back {got!r}"
        deletes = changes.delete(edited, ident)
        gone = _send(rig.sender, changes, deletes)
        assert gone.status == "created", f"{plugin.name}: delete not done: {gone.message}"
        checks = [c for c in map(changes.check, deletes) if c is not None]
        assert checks, f"{plugin.name}: no read can prove a delete done (Changes.check)"
        after = [rig.sender.read(c).status for c in checks]
        assert all(s == 404 for s in after), f"{plugin.name}: read after delete: {after}"
        again = _send(rig.sender, changes, deletes)
        assert again.status == "created", (
            f"{plugin.name}: a second delete of a deleted row is not done: {again.message}"
        )


#: Every check, in the order a vendor's author meets them.
CHECKS: tuple[Check, ...] = (
    registry,
    every_part_declared,
    readback_columns,
    status_table,
    shared_classes,
    only_declared_fields,
    change_errors,
    round_trip,
    resend_safe,
    rate,
    concurrency,
    update_delete,
)
#: Checks that take real time (none: every sandbox runs on a fake clock).
SLOW: frozenset[Check] = frozenset()


def failures(plugin: Plugin, folder: Path) -> dict[str, str]:
    """Every check run over ``plugin``: the failed ones' names and messages (none: it conforms)."""
    found: dict[str, str] = {}
    for check in CHECKS:
        try:
            check(plugin, folder / check.__name__)
        except NotApplicable:
            continue
        except AssertionError as error:
            found[check.__name__] = str(error) or f"{check.__name__} failed"
    return found
