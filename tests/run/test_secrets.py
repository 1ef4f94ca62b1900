"""Secrets a vendor echoes back never reach what the run writes, in any form (issue 22)."""

from __future__ import annotations

import sqlite3
import zipfile
from pathlib import Path
from urllib.parse import quote

from importer.sandbox.echo import echoed_forms
from tests.conftest import V2_HEADERS, V2_ROW, write_csv
from tests.run.conftest import SandboxProcess


def _leaks(blob: bytes, secrets: list[str]) -> list[str]:
    """Which forms of which secret appear in ``blob``, whole or a 12-character piece of one (a
    quote cut short); names only, never the values."""
    found = []
    for number, secret in enumerate(secrets):
        for name, form in echoed_forms(secret).items():
            # The sandbox's tokens start "sbx360.": a piece must hold more than that prefix.
            pieces = {form[i : i + 12] for i in range(7, max(len(form) - 11, 8))}
            if any(piece.encode() in blob for piece in pieces):
                found.append(f"secret {number} as {name}")
    return found


def test_tokens_echoed_in_every_form_are_redacted_everywhere(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """A vendor quoting the bearer token back (raw, JSON-escaped, URL-encoded, base64) in its
    errors: no form of it is in the result sheets (csv, xlsx), the journal, the log or the
    output."""
    rows = [[*V2_ROW[:1], f"Echo {i}", *V2_ROW[2:]] for i in range(8)]
    sheet = write_csv(tmp_path / "v2.csv", [V2_HEADERS, *rows])
    # Token requests are spared (their own target); every API call is echoed, as JSON or as
    # text in turn, each answer's message leading with the next form of the token.
    sandbox.faults("360learning-v2/token:seed=1;360learning-v2:echo=1")
    journal, log = tmp_path / "job.sqlite", tmp_path / "run.log"
    outputs = {}
    for suffix in ("csv", "xlsx"):
        result = tmp_path / f"out.{suffix}"
        done = sandbox.run(
            sheet, "360learning-v2", "--result", str(result), "--journal", str(journal),
            "--log", str(log), "--retry-rejected",
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        outputs[suffix] = (done.stdout + done.stderr).encode()
    with sqlite3.connect(sandbox.state_dir / "tokens.sqlite") as db:
        tokens = [str(row[0]) for row in db.execute("SELECT value FROM tokens")]
    # Its signs ("=" always, "+" and "/" often) make every form differ from the raw token.
    assert tokens and all(quote(t, safe="") != t and "=" in t for t in tokens)
    env = sandbox.env("360learning-v2")
    secrets = [*tokens, env["IMPORTER_360L_CLIENT_SECRET"]]
    bodies = [r for r in sandbox.requests("360learning-v2") if "sessions" in r["path"]]
    assert len(bodies) == 16  # every row met an echo, in both runs
    text = (tmp_path / "out.csv").read_bytes()
    assert text.count(b"is not valid for") >= 4  # the echoes were quoted (JSON and text)
    with zipfile.ZipFile(tmp_path / "out.xlsx") as book:
        xlsx = b"".join(book.read(name) for name in book.namelist())
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("job.sqlite*"))
    for name, blob in [("csv", text), ("xlsx", xlsx), ("xlsx file", (tmp_path / "out.xlsx").read_bytes()),
                       ("journal", stored), ("log", log.read_bytes()), *outputs.items()]:  # fmt: skip
        assert _leaks(blob, secrets) == [], name
