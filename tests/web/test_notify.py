"""The page emails a run's result to whoever started it ([notify] in the accounts file), through a
real SMTP server on 127.0.0.1; a failed email changes nothing of the run."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from importer.jobs.mailer import Mailer
from importer.jobs.notify import NotifySettings
from importer.sandbox import Sandbox, SandboxServer
from importer.vendors import sandbox_parts
from importer.web.accounts import Account
from importer.web.workspace import WebRun, Workspace
from tests.conftest import ROOT, run_cli, write_csv
from tests.mail import MailServer, attachments, closed_port

PATH, ARCHIVED, JANE = (
    "6853f6de567dc5f80528f80d",
    "6853f6de567dc5f80528f80f",
    "647098a731a809ed36889ed1",
)
V2 = ["Path ID", "Session name", "Main instructor ID", "Start date", "Registration validation"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PASSWORD = "smtp-Pa55word-never-shown"


@pytest.fixture
def account() -> Iterator[Account]:
    """An account of an in-process sandbox (360Learning v2)."""
    sandbox = Sandbox(sandbox_parts())
    with SandboxServer(sandbox.app) as server:
        info = sandbox.describe(server.url)["360learning-v2"]
        yield Account(
            "Acme 360", "360learning-v2", timezone="UTC", base_url=info["base_url"],
            auth_url=info["auth_url"], env=info["env"], sandbox=True,
        )  # fmt: skip


def mailer(port: int, **settings: object) -> Mailer:
    """Plain SMTP to 127.0.0.1 (the TLS cases are the job's tests), signed in when asked."""
    table = NotifySettings(
        "127.0.0.1", "Importer <importer@acme.example>", port=port, security="none",
        source="accounts.toml", timeout=10, **settings,  # type: ignore[arg-type]
    )  # fmt: skip
    return Mailer.of(table, {"ACME_SMTP": PASSWORD})


def mixed_sheet(tmp_path: Path) -> Path:
    """Two good rows, one the vendor rejects (an archived path), one invalid (no such date)."""
    return write_csv(
        tmp_path / "monday.csv",
        [
            V2,
            [PATH, "Good one", JANE, "2027-05-03 09:00", "disabled"],
            [PATH, "Good two", JANE, "2027-05-04 09:00", "disabled"],
            [ARCHIVED, "Archived path", JANE, "2027-05-05 09:00", "disabled"],
            [PATH, "Bad date", JANE, "31/02/2027 09:00", "disabled"],
        ],
    )


def run(space: Workspace, sheet: Path, who: str, mode: str = "import") -> WebRun:
    upload = space.check(sheet, next(iter(space.accounts.values())), who)
    started = space.start(upload, mode, who)
    assert started.thread is not None
    started.thread.join(60)
    assert not started.thread.is_alive()
    return started


def test_the_person_who_started_the_run_gets_its_result(tmp_path: Path, account: Account) -> None:
    """One message to the user: subject with file, account and outcome; the counts; the
    rejected and invalid rows in the result sheet's words; the result sheet attached."""
    with MailServer(password=PASSWORD) as smtp:
        notify = mailer(smtp.port, user="importer", password_env="ACME_SMTP")
        space = Workspace(
            [account], tmp_path / "data", max_rows=100, max_bytes=100_000, notify=notify
        )
        done = run(space, mixed_sheet(tmp_path), "ana@acme.example")
        assert done.counts == {"created": 2, "rejected": 1, "invalid": 1}, done.messages
        assert done.exit_code == 1 and done.state == "finished"
        [got] = smtp.wait_for(1)
    assert got.to == ["ana@acme.example"] and got.sender == "importer@acme.example"
    assert smtp.attempts == [("importer", PASSWORD)]  # signed in with the variable's value
    message = got.message
    assert (
        message["Subject"] == "session-importer: monday.csv into Acme 360: 2 of 4 rows need a look"
    )
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content().replace("\r\n", "\n")
    assert "Started by ana@acme.example on the import page." in text
    assert "  created   2\n" in text and "  rejected  1\n" in text and "  invalid   1\n" in text
    assert "row 4 (rejected): " in text and "archived" in text.lower()
    assert "row 5, Start date (invalid): " in text
    [(name, kind, data)] = attachments(message)
    assert (name, kind) == ("monday.result.xlsx", XLSX)
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Result"]
    statuses = [r[1] for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert statuses == ["created", "created", "rejected", "invalid"]
    assert data == (tmp_path / "data" / "results" / done.id / "monday.result.xlsx").read_bytes()
    assert done.messages[-1] == "the result was sent by email to ana@acme.example"
    audit = (tmp_path / "data" / "audit.log").read_text()
    assert '"event": "emailed"' in audit and PASSWORD not in audit


def test_no_email_for_a_name_that_is_not_an_address_nor_for_a_dry_run(
    tmp_path: Path, account: Account
) -> None:
    """A sign-in name that is no address: said once in the run's messages; a dry run: nothing."""
    with MailServer() as smtp:
        space = Workspace([account], tmp_path / "data", max_rows=100, max_bytes=100_000,
                          notify=mailer(smtp.port))  # fmt: skip
        done = run(space, mixed_sheet(tmp_path), "ana")
        said = [m for m in done.messages if "email" in m]
        assert said == ["no email sent: the sign-in name 'ana' is not an email address"]
        dry = run(space, mixed_sheet(tmp_path), "ana@acme.example", mode="dry-run")
        assert not [m for m in dry.messages if "email" in m]
        # an import by someone with an address, so that "nothing arrived" is not a slow server
        run(space, mixed_sheet(tmp_path), "bea@acme.example")
        [only] = smtp.wait_for(1)
    assert only.to == ["bea@acme.example"]


@pytest.mark.parametrize("server", ["refuses", "unreachable", "wrong password"])
def test_a_failed_email_leaves_the_run_as_it_was(
    tmp_path: Path, account: Account, caplog: pytest.LogCaptureFixture, server: str
) -> None:
    """Refused (550), unreachable (a closed port), wrong password: the run ends as it would
    have, the run's messages and the log say why, and the password appears nowhere."""
    refuse = "550 5.7.1 relaying denied" if server == "refuses" else None
    password = "another-one" if server == "wrong password" else PASSWORD
    with MailServer(refuse=refuse, password=password) as smtp:
        port = closed_port() if server == "unreachable" else smtp.port
        notify = mailer(port, user="importer", password_env="ACME_SMTP")
        space = Workspace(
            [account], tmp_path / "data", max_rows=100, max_bytes=100_000, notify=notify
        )
        with caplog.at_level(logging.INFO):
            done = run(space, mixed_sheet(tmp_path), "ana@acme.example")
    assert done.counts == {"created": 2, "rejected": 1, "invalid": 1}
    assert (done.exit_code, done.state, done.stopped) == (1, "finished", None)
    assert done.result is not None and done.result.is_file()
    said = done.messages[-1]
    assert said.startswith("the result could not be sent by email to ana@acme.example")
    reason = {
        "refuses": "the server answered 550 5.7.1 relaying denied",
        "unreachable": "the connection was refused",
        "wrong password": "the server refused the user name or password (535",
    }[server]
    assert reason in said, said
    assert any(said in r.getMessage() for r in caplog.records if r.name == "importer.web")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    everything = "\n".join([logged, *done.messages, (tmp_path / "data" / "audit.log").read_text()])
    assert PASSWORD not in everything
    assert smtp.received == []


def test_serve_refuses_notify_without_a_sign_in_that_names_the_user(tmp_path: Path) -> None:
    """With a name typed on the page (no sign-in), [notify] is refused at start; behind a
    proxy, a password variable that is not set is refused at start too."""
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[[account]]\nname = "Acme"\nvendor = "coursepath"\n'
        '[notify]\nhost = "smtp.acme.example"\nfrom = "importer@acme.example"\n'
        'user = "importer"\npassword_env = "ACME_SMTP"\n',
        encoding="utf-8",
    )
    data = tmp_path / "data"
    typed = run_cli("serve", "--config", accounts, "--port", "0", "--data", data, cwd=ROOT)
    assert typed.returncode == 2
    assert "needs a sign-in that names the user" in typed.stderr
    proxied = run_cli(
        "serve", "--config", accounts, "--port", "0", "--data", data, "--auth", "proxy", cwd=ROOT
    )
    assert proxied.returncode == 2
    assert "password_env: the environment variable ACME_SMTP is not set" in proxied.stderr
