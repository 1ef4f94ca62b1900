"""The page's audit log: one JSON line per action, who did it, 0600, rotated by size."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from importer.web.audit import Audit
from tests.conftest import V2_HEADERS, V2_ROW, write_csv
from tests.web.conftest import WebServer, csrf, upload
from tests.web.test_pages import finish, start


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_uploads_runs_and_refusals_are_written_with_who(tmp_path: Path, web: WebServer) -> None:
    """An upload, its import and a refused upload by a named coordinator: each a JSON line
    saying who, what, the account and the file, the run's end with its counts."""
    client = web.client()
    sheet = write_csv(tmp_path / "audited.csv", [V2_HEADERS, [V2_ROW[0], "Aud 1", *V2_ROW[2:]]])
    with sheet.open("rb") as handle:  # the name typed on the page comes with the sheet
        page = client.post(
            "/upload",
            data={
                "csrf": csrf(client),
                "account": "sandbox-360learning-v2",
                "who": "Audrey Auditor",
            },
            files={"sheet": (sheet.name, handle)},
            follow_redirects=True,
        )
    assert finish(client, start(client, page, "import"))["counts"] == {"created": 1}
    bad = tmp_path / "notes.html"
    bad.write_text("<p>no</p>", encoding="utf-8")
    assert upload(client, bad, "sandbox-360learning-v2").status_code == 400
    log = web.data / "audit.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    mine = [e for e in _lines(log) if e["who"] == "Audrey Auditor"]
    events = [(e["event"], e.get("what")) for e in mine]
    assert events[:3] == [("upload", None), ("run", None), ("run-ended", None)], events
    assert ("refused", "upload") in events
    uploaded, run, ended = mine[0], mine[1], mine[2]
    assert uploaded["file"] == "audited.csv" and uploaded["rows"] == 1
    assert uploaded["account"] == run["account"] == ended["account"]
    assert run["mode"] == "import" and ended["counts"] == {"created": 1}
    assert all(e["at"].endswith("+00:00") for e in mine)
    refusal = next(e for e in mine if e["event"] == "refused")
    assert refusal["file"] == "notes.html" and "not a sheet" in refusal["reason"]


def test_the_log_rotates_by_size_and_every_file_stays_private(tmp_path: Path) -> None:
    audit = Audit(tmp_path, max_bytes=400, backups=2)
    for n in range(40):
        audit.record("upload", "ana", file=f"sheet-{n}.csv", rows=n)
    audit.close()
    files = sorted(tmp_path.glob("audit.log*"))
    assert [f.name for f in files] == ["audit.log", "audit.log.1", "audit.log.2"]
    for path in files:
        assert path.stat().st_size <= 400 + 120  # one line may cross the limit
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    newest = _lines(tmp_path / "audit.log")[-1]
    assert newest["file"] == "sheet-39.csv" and newest["event"] == "upload"


def test_secrets_never_reach_the_audit_log(tmp_path: Path) -> None:
    from importer.core.secret import HELD

    held = {k: (v.copy() if isinstance(v, dict | set | list) else v) for k, v in vars(HELD).items()}
    HELD.add("s3cr3t-value-123456")
    try:
        audit = Audit(tmp_path)
        audit.record("refused", "ana", reason="token s3cr3t-value-123456 was refused")
        audit.close()
    finally:
        vars(HELD).update(held)  # the secrets held before, and no more
    assert "s3cr3t" not in (tmp_path / "audit.log").read_text(encoding="utf-8")
