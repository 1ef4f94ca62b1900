"""A row whose request cannot be built is that row's outcome, never the run's (issue 22).

Every exception a value can raise on its way out (a URL too long, text that cannot be
encoded, a number JSON cannot hold, a type JSON does not know, a character a URL or a
header cannot carry) is tried here: the row is ``invalid`` with a clear message, nothing of
it reaches the wire, and the next row is sent.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from importer.api import resolve_settings, run_import, validate
from importer.cli import main as cli
from importer.core.clock import FakeClock
from importer.core.errors import FatalVendorError
from importer.core.secret import Secret
from importer.sending.outgoing import MAX_TARGET
from importer.sending.protocol import AdapterBase, Answer, Call, NoLookup, Outcome
from importer.sending.sender import Sender
from importer.sending.throttle import Pacer, RatePolicy
from importer.sending.transport import ThreadConnections
from importer.sheet.fields import Integer
from importer.vendors import plugin
from tests.conftest import V2_HEADERS, V2_ROW, ZOHO_HEADERS, write_csv, zoho_row

CJK = "説" * 7400  # the description of the report: ~66 KB once percent-encoded


class _Table(NoLookup, AdapterBase):
    """An adapter that sends whatever call a test gives for the row named "bad"."""

    name = "zoho-people"  # for the column labels of the messages
    rate = RatePolicy(rate=None)
    max_concurrency = 1

    def __init__(self, bad: Call | Exception) -> None:
        self.bad = bad

    def calls(self, values: Mapping[str, str | None]) -> list[Call]:
        if values["name"] != "bad":
            return [Call("create the session", "POST", "/sessions", json={"name": "ok"})]
        if isinstance(self.bad, Exception):
            raise self.bad
        return [self.bad]

    def interpret(self, call: Call, answer: Answer) -> Outcome:
        return Outcome("ok", ident="S1") if answer.status == 201 else Outcome("rejected")

    def created_id(self, results: Mapping[str, str]) -> str | None:
        return "S1"


def _sender(adapter: Any, seen: list[httpx.Request], secrets: list[Secret] | None = None) -> Sender:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={})

    clock = FakeClock()
    return Sender(
        adapter=adapter,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        base_url="http://127.0.0.1:9/api",
        auth=plugin("coursepath").auth(
            {
                "IMPORTER_COURSEPATH_API_KEY": Secret("k" * 40),
                "IMPORTER_COURSEPATH_EMAIL": Secret("a@b.c"),
            },
            "",
            httpx.Client(),
            clock,
        ),
        pacer=Pacer(RatePolicy(rate=None), clock),
        clock=clock,
        secrets=secrets or [],
    )


def _call(**parts: Any) -> Call:
    return Call("create the session", parts.pop("method", "POST"), parts.pop("path", "/s"), **parts)


# (what the row's request holds, the words its message must have)
UNSENDABLE = [
    pytest.param(_call(params={"sessionData": CJK}), "bytes in its URL", id="url-too-long"),
    pytest.param(_call(params={"d": "é" * 2000}), f"over the {MAX_TARGET:,}", id="url-8k"),
    pytest.param(_call(json={"n": float("nan")}), "cannot be encoded", id="json-nan"),
    pytest.param(_call(json={"n": float("inf")}), "cannot be encoded", id="json-inf"),
    pytest.param(_call(json={"n": 10**5000}), "cannot be encoded", id="json-int-too-large"),
    pytest.param(_call(json={"name": "a\ud800b"}), "'\\ud800'", id="surrogate-json"),
    pytest.param(_call(params={"q": "a\udc80"}), "'\\udc80'", id="surrogate-query"),
    pytest.param(_call(form={"name": "\ud83d"}), "'\\ud83d'", id="surrogate-form"),
    pytest.param(_call(path="/s/a\x00b"), "URL is not valid", id="nul-in-path"),
    pytest.param(_call(path="/s/a\r\nX-Injected: 1"), "URL is not valid", id="crlf-in-path"),
    pytest.param(_call(json={"tags": {"a"}}), "TypeError", id="type-json-cannot-hold"),
    pytest.param(_call(path="/s/{memberId}"), "KeyError", id="missing-path-field"),
    pytest.param(ValueError("Exceeds the limit (4300 digits)"), "ValueError", id="adapter-int"),
    pytest.param(OverflowError("int too large"), "OverflowError", id="adapter-overflow"),
]


@pytest.mark.parametrize(("bad", "words"), UNSENDABLE)
def test_a_request_that_cannot_be_built_is_the_rows_outcome(
    bad: Call | Exception, words: str
) -> None:
    """The row is invalid with a message naming what is wrong; nothing of it is sent; the
    rows around it are created."""
    seen: list[httpx.Request] = []
    sender = _sender(_Table(bad), seen)
    before = sender.import_row({"name": "ok"})
    result = sender.import_row({"name": "bad", "description": CJK})
    after = sender.import_row({"name": "ok"})
    assert (before.status, after.status) == ("created", "created")
    assert result.status == "invalid", result
    assert result.message.startswith("not sent: ") and words in result.message
    assert len(seen) == 2 and sender.requests == 2  # the bad row took no request, no slot
    assert len(result.message) < 400  # one line: no 7,400 characters quoted back


@pytest.mark.parametrize(
    "sendable",
    [
        pytest.param(_call(json={"name": "a\x00b"}), id="nul-in-json"),
        pytest.param(_call(params={"q": "a\x00b\r\n"}), id="nul-crlf-in-query"),
        pytest.param(_call(form={"name": "a\x00b"}), id="nul-in-form"),
        pytest.param(_call(json={"n": 2**53 - 1, "t": "説" * 20000}), id="long-body"),
        pytest.param(_call(params={"d": "a" * (MAX_TARGET - 40)}), id="url-just-under"),
    ],
)
def test_what_http_carries_escaped_is_sent(sendable: Call) -> None:
    """A NUL or a line break in a body or a query, a long body, a URL just under the limit:
    escaped on the way, so sent as the row asks (refusing them would lose good rows)."""
    seen: list[httpx.Request] = []
    result = _sender(_Table(sendable), seen).import_row({"name": "bad"})
    assert result.status == "created" and len(seen) == 1
    assert b"\r\n" not in seen[0].url.raw_path and b"\x00" not in seen[0].url.raw_path


def test_a_later_call_that_cannot_be_built_names_what_was_done() -> None:
    """The row's first call was made: the row is rejected (not invalid), saying what was done."""

    class _Two(_Table):
        def calls(self, values: Mapping[str, str | None]) -> list[Call]:
            return [Call("create the member", "POST", "/m", json={}, result="member"),
                    Call("enrol", "POST", "/m/{member}/e", json={"n": float("nan")})]  # fmt: skip

    seen: list[httpx.Request] = []
    result = _sender(_Two(None), seen).import_row({"name": "bad"})  # type: ignore[arg-type]
    assert result.status == "rejected" and "done before: create the member" in result.message
    assert len(seen) == 1


@pytest.mark.parametrize("value", ["line\r\nX-Evil: 1", "caf\u00e9"], ids=["crlf", "non-ascii"])
@pytest.mark.parametrize("transport", ["h11", "own"])
def test_a_header_http_cannot_carry_stops_the_run_without_quoting_it(
    value: str, transport: str
) -> None:
    """A credential with a line break or a letter outside ASCII, in a header: both transports
    refuse it before a byte leaves; the run stops as fatal (a clear line, not an internal
    error), and the value, a secret, is not in the message."""
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    port = listener.getsockname()[1]
    own = ThreadConnections() if transport == "own" else None
    client = httpx.Client(transport=own or httpx.HTTPTransport(retries=0), timeout=2)
    adapter = plugin("360learning-v1").wire
    clock = FakeClock()
    creds = {"IMPORTER_360L_COMPANY": Secret("c1"), "IMPORTER_360L_API_KEY": Secret(value)}
    sender = Sender(
        adapter=adapter,
        client=client,
        base_url=f"http://127.0.0.1:{port}",
        auth=plugin("360learning-v1").auth(creds, "", client, clock),
        pacer=Pacer(RatePolicy(rate=None), clock),
        clock=clock,
        secrets=list(creds.values()),
        transport=own,
    )
    values = {"pathId": "6853f6de567dc5f80528f80d", "sessionName": "A",
              "startDate": "2025-07-01T08:00:00.000Z",
              "sessionOwnerGroup": "624c5526204fc7207e603ea6"}  # fmt: skip
    try:
        with pytest.raises(FatalVendorError) as raised:
            sender.import_row(values)
    finally:
        client.close()
        listener.close()
    assert "credential" in str(raised.value) and value not in str(raised.value)
    assert "Nothing was sent" in str(raised.value)


def test_zoho_description_too_long_for_the_url_end_to_end(tmp_path: Path) -> None:
    """The report's sheet through the real CLI and the sandbox: the 7,400-character CJK
    description makes its row invalid, naming the column and the limit; the rows before and
    after it are created, the result sheet is written, exit 1 (not 2: no internal error)."""
    sheet = write_csv(
        tmp_path / "z.csv",
        [[*ZOHO_HEADERS, "Description"], [*zoho_row("A"), ""], [*zoho_row("B"), CJK],
         [*zoho_row("C"), "short"]],
    )  # fmt: skip
    result = tmp_path / "out.csv"
    code = cli.main(["run", str(sheet), "--vendor", "zoho-people", "--sandbox",
                     "--result", str(result), "--json"])  # fmt: skip
    assert code == 1
    lines = result.read_text(encoding="utf-8-sig").splitlines()[1:]
    states = [line.split(",")[1] for line in lines]
    assert states == ["created", "invalid", "created"]
    assert "Description (7,400 characters)" in lines[1] and f"{MAX_TARGET:,}" in lines[1]
    assert "--zoho-session-data body" in lines[1]


def test_the_body_form_sends_the_long_description(tmp_path: Path) -> None:
    """With --zoho-session-data body, the same row has no URL to overflow: it is created."""
    sheet = write_csv(tmp_path / "z.csv", [[*ZOHO_HEADERS, "Description"], [*zoho_row("B"), CJK]])
    result = tmp_path / "out.csv"
    code = cli.main(["run", str(sheet), "--vendor", "zoho-people", "--sandbox",
                     "--zoho-session-data", "body", "--result", str(result), "--json"])  # fmt: skip
    assert code == 0, result.read_text(encoding="utf-8-sig")[:600]


def test_a_dry_run_says_it_before_anything_is_sent(tmp_path: Path) -> None:
    """A dry run builds each row's requests: the row whose URL would be too long is invalid
    there too, with the same message; the other is only "not sent"."""
    sheet = write_csv(
        tmp_path / "z.csv", [[*ZOHO_HEADERS, "Description"], [*zoho_row("A"), ""],
                             [*zoho_row("B"), CJK]]
    )  # fmt: skip
    settings = resolve_settings("zoho-people", flags={"base_url": "http://127.0.0.1:9"}, env={},
                                require_credentials=False)  # fmt: skip
    run = run_import(validate(sheet, "zoho-people"), settings, dry_run=True)
    assert run.results[3].status == "invalid" and "Description" in run.results[3].message
    assert run.status(2) == "not sent"
    assert run.exit_code == 1


@pytest.mark.parametrize(
    ("typed", "state"),
    [("9" * 5000, "invalid"), (str(2**53), "invalid"), (str(2**53 - 1), "valid"), ("30", "valid")],
    ids=["5000-digits", "2**53", "2**53-1", "30"],
)
def test_a_whole_number_too_large_is_a_cell_problem(tmp_path: Path, typed: str, state: str) -> None:
    """A User limit of 5,000 digits stopped validation itself (Python's int() refuses more than
    4,300 digits: an internal error); beyond 2**53 - 1, JSON's exact integers, a JavaScript
    service would store another number. Both are now the cell's problem, in words."""
    sheet = write_csv(tmp_path / "v2.csv", [[*V2_HEADERS, "User limit"], [*V2_ROW, typed]])
    report = validate(sheet, "360learning-v2", timezone="UTC")
    assert ("invalid" if report.errors else "valid") == state
    if state == "invalid":
        (problem,) = report.all_errors()
        assert "too large" in str(problem) and "9,007,199,254,740,991" in str(problem)
    assert Integer().read("0" * 4000 + "30") == ("30", None)  # leading zeros are not digits
