"""The redactor: every secret the process holds, masked in every form, at every sink (issue 22)."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from urllib.parse import quote, quote_plus

import pandas as pd
import pytest

from importer.cli.main import main
from importer.core.clock import FakeClock
from importer.core.secret import HELD, Redactor, Secret
from importer.results.sheet import RESULT_COLUMNS, ResultSheet, write_result
from importer.sandbox.echo import echoed_forms
from importer.sending.auth import TokenAuth
from importer.store.journal import Journal
from importer.store.tokens import MemoryTokens

TOKEN = "tok.Ab9/xY+z==Qr7~k_Lm-Np"


@pytest.mark.parametrize("name", list(echoed_forms(TOKEN)))
def test_every_form_of_a_secret_is_masked(name: str) -> None:
    """Raw, JSON-escaped, URL-encoded (either case, quote_plus) and base64: all masked."""
    form = echoed_forms(TOKEN)[name]
    assert Redactor([TOKEN])(f"said: {form}; done") == "said: ***; done"


def test_other_encoders_forms_are_masked() -> None:
    """JSON's \\/ only, quote with its default safe "/", Basic id:secret at any alignment."""
    masked = Redactor([Secret(TOKEN)])
    forms = [
        TOKEN.replace("/", "\\/"),
        quote(TOKEN),
        quote_plus(TOKEN).lower(),
        base64.urlsafe_b64encode(TOKEN.encode()).decode(),
        *(base64.b64encode(f"{user}:{TOKEN}".encode()).decode() for user in ("a", "ab", "abc")),
    ]
    for form in forms:
        assert TOKEN[8:14] not in masked(form) and masked(f"x {form} y") == "x *** y", form


def test_ordinary_text_and_short_values_are_kept() -> None:
    """Values under four characters are not secrets; text without a secret is unchanged."""
    masked = Redactor(["abc", "", TOKEN])
    text = "abc rejected: 400 (badRequest: the path 6853f6de567dc5f80528f80d is closed)"
    assert masked(text) == text


def test_only_the_newest_tokens_are_kept() -> None:
    """A server renewing a token an hour keeps the newest 64, and every credential."""
    masked = Redactor(["a-credential-value"])
    for number in range(100):
        masked.add(f"access-token-{number:04d}", token=True)
    assert masked("access-token-0099 a-credential-value") == "*** ***"
    assert masked("access-token-0036") == "***" and masked("access-token-0035") != "***"


class _Renewing(TokenAuth):
    """A token host that gives a new token (with signs that encodings change) each time."""

    def fetch(self) -> tuple[str, float]:
        return f"renewed/{self.fetches}+token=={self.fetches:02d}", 600.0


def test_fetched_and_renewed_tokens_are_held_at_once() -> None:
    """Each access token is masked from the moment it is obtained, renewals included."""
    clock = FakeClock()
    auth = _Renewing(clock, MemoryTokens(), "account")
    first = auth.get()
    clock.advance(3600)
    second = auth.get()
    assert first != second
    for token in (first, second):
        assert HELD(f"echo {quote(token, safe='')} {token}") == "echo *** ***"


def test_sinks_mask_held_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The journal's messages, the result sheet's Messages and Notes, and a command's error."""
    secret = "sink/secret+value=1"
    HELD.add(secret)
    journal = Journal(tmp_path / "j.sqlite", "coursepath")
    journal.remember("k", "p", 2, {})
    journal.outcome("k", "rejected", "", f"answered 400 (token {quote(secret, safe='')})")
    journal.close()
    with sqlite3.connect(tmp_path / "j.sqlite") as db:
        assert db.execute("SELECT message FROM rows").fetchone()[0] == "answered 400 (token ***)"
    frame = pd.DataFrame(
        [["2", "rejected", "", f"said {secret}", f"note {secret}"]], columns=RESULT_COLUMNS
    )
    written = write_result(ResultSheet(frame, [("Stopped", f"by {secret}")]), tmp_path / "r.csv")
    assert secret not in written.read_text("utf-8-sig") and "said ***" in written.read_text(
        "utf-8-sig"
    )
    # A command's one-line error (here: a journal path that quotes the secret).
    assert main(["validate", str(tmp_path / f"{secret}.csv"), "--vendor", "coursepath"]) == 2
    assert secret not in capsys.readouterr().err


def test_credentials_a_request_carries_are_held_before_it_leaves() -> None:
    """A credential in a request's headers is held before it leaves; a JWT signed for one
    request (Coursepath) is masked by its shape in the forms encoders write, not held (one a
    request would grow the list without end)."""
    from importer.sending.sender import _hold
    from importer.vendors.coursepath.auth import auth

    creds = {
        "IMPORTER_COURSEPATH_API_KEY": Secret("k" * 32),
        "IMPORTER_COURSEPATH_EMAIL": Secret("admin@example.com"),
    }
    headers = auth(creds, "", None, FakeClock()).headers()  # type: ignore[arg-type]
    jwt = headers["Authorization"].removeprefix("Bearer ")
    held = len(HELD._known)
    _hold(headers)
    assert len(HELD._known) == held
    for form in (jwt, quote(jwt, safe=""), quote_plus(jwt), jwt.replace("/", "\\/")):
        assert HELD(f"echo {form}") == "echo ***", form
    key = "custom/api+key=42"
    _hold({"X-Api-Key": key, "Accept": "application/json"})
    assert HELD(f"echo {quote(key, safe='')} {key}") == "echo *** ***"
    assert HELD("Accept: application/json") == "Accept: application/json"
