"""A nightly job's [notify]: `run --config job.toml` emails its result through a real SMTP server
on 127.0.0.1 (aiosmtpd), on failure or always; TLS checked against a private CA; a failed
email changes nothing of the run, and the password is never shown."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.conftest import CliResult, write_csv
from tests.mail import (
    Certificates,
    MailServer,
    SilentServer,
    attachments,
    closed_port,
    make_certificates,
)
from tests.run.conftest import SandboxProcess
from tests.run.test_trust import cli, line

VENDOR = "360learning-v2"
PATH, ARCHIVED, JANE = (
    "6853f6de567dc5f80528f80d",
    "6853f6de567dc5f80528f80f",
    "647098a731a809ed36889ed1",
)
V2 = ["Path ID", "Session name", "Main instructor ID", "Start date", "Registration validation"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PASSWORD = "nightly-SMTP-pa55word"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A private CA and a certificate it signed for 127.0.0.1 (made with openssl)."""
    return make_certificates(tmp_path_factory.mktemp("certs"))


def sheet(tmp_path: Path, archived: bool = False) -> Path:
    """Two good rows, and one the vendor rejects (an archived path) when ``archived``."""
    rows = [[PATH, f"Night {n}", JANE, f"2027-06-0{n} 09:00", "disabled"] for n in (1, 2)]
    if archived:
        rows.append([ARCHIVED, "Archived path", JANE, "2027-06-03 09:00", "disabled"])
    tmp_path.mkdir(parents=True, exist_ok=True)
    return write_csv(tmp_path / "nightly.csv", [V2, *rows])


def job(tmp_path: Path, sandbox: SandboxProcess, port: int | None, **notify: object) -> Path:
    """A job file for the sandbox, its [notify] at 127.0.0.1:``port`` (plain SMTP, signed in,
    to ops@acme.example and lead@acme.example, on failure, unless ``notify`` says otherwise;
    no [notify] without a port)."""
    info = sandbox.info[VENDOR]
    table = {
        "host": "127.0.0.1", "port": port, "starttls": False, "user": "importer",
        "password_env": "ACME_SMTP", "from": "importer@acme.example",
        "to": ["ops@acme.example", "lead@acme.example"], "timeout": 10, **notify,
    }  # fmt: skip
    table = {key: value for key, value in table.items() if value is not None}
    lines = "\n".join(f"{key} = {json.dumps(value)}" for key, value in table.items())
    path = tmp_path / "nightly.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'[job]\nvendor = "{VENDOR}"\nbase_url = "{info["base_url"]}"\n'
        f'auth_url = "{info["auth_url"]}"\ntimezone = "Europe/Paris"\nlog = "nightly.log"\n'
        + (f"\n[notify]\n{lines}\n" if port is not None else ""),
        encoding="utf-8",
    )
    return path


def run(sandbox: SandboxProcess, job_file: Path, data: Path, *extra: str) -> CliResult:
    env = {**sandbox.env(VENDOR), "ACME_SMTP": PASSWORD}
    return cli("run", data, "--config", job_file, "--json", *extra, env=env)


def without_notify(result: dict[str, Any]) -> dict[str, Any]:
    """A run's JSON line without what differs from one run to the next."""
    gone = ("result", "journal", "run_id", "validated_at", "file")
    return {key: value for key, value in result.items() if key not in gone}


def test_on_failure_sends_nothing_when_all_is_well_and_tells_of_a_rejected_row(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """All created: no email; a rejected row: one message to the job's list, with the counts,
    the row's words and the result sheet attached; stdout is still the one JSON line."""
    with MailServer(password=PASSWORD) as smtp:
        job_file = job(tmp_path, sandbox, smtp.port)
        well = run(sandbox, job_file, sheet(tmp_path / "ok"))
        assert well.returncode == 0 and line(well)["counts"] == {"created": 2}, well.stderr
        assert smtp.attempts == [] and "email" not in well.stderr
        wrong = run(sandbox, job_file, sheet(tmp_path / "bad", archived=True))
        assert wrong.returncode == 1 and line(wrong)["counts"] == {"skipped": 2, "rejected": 1}
        [got] = smtp.wait_for(1)
    assert smtp.attempts == [("importer", PASSWORD)]
    assert got.to == ["ops@acme.example", "lead@acme.example"]
    message = got.message
    assert message["Subject"] == (
        "session-importer: nightly.csv into 360learning-v2 at 127.0.0.1: 1 of 3 rows need a look"
    )
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "skipped   2" in text and "rejected  1" in text
    assert "row 4 (rejected): The path 6853f6de567dc5f80528f80f is archived" in text
    [(name, kind, data)] = attachments(message)
    assert (name, kind) == ("nightly.result.csv", "text/csv")
    assert data == Path(line(wrong)["result"]).read_bytes()
    said = "session-importer: the result was sent by email to ops@acme.example, lead@acme.example"
    assert said in wrong.stderr
    assert "the result was sent by email" in (tmp_path / "nightly.log").read_text()


def test_on_always_sends_when_all_is_well(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """on = "always": a run that created every row is told too; an xlsx result attached as one."""
    with MailServer(password=PASSWORD) as smtp:
        data = tmp_path / "monday.xlsx"
        book = openpyxl.Workbook()
        sheet_ = book.active
        assert sheet_ is not None
        for row in [V2, [PATH, "Always", JANE, "2027-06-01 09:00", "disabled"]]:
            sheet_.append(row)
        book.save(data)
        done = run(sandbox, job(tmp_path, sandbox, smtp.port, on="always"), data)
        assert done.returncode == 0, done.stderr
        [got] = smtp.wait_for(1)
    assert got.message["Subject"].endswith(": done: 1 created")
    [(name, kind, attached)] = attachments(got.message)
    assert (name, kind) == ("monday.result.xlsx", XLSX)
    result = openpyxl.load_workbook(io.BytesIO(attached))["Result"]
    assert [r[1] for r in result.iter_rows(min_row=2, values_only=True)] == ["created"]


def test_starttls_is_checked_against_the_private_ca(
    tmp_path: Path, sandbox: SandboxProcess, certificates: Certificates
) -> None:
    """STARTTLS to a server whose certificate a private CA signed: refused without ca_file
    (the run unchanged), sent with it."""
    context = certificates.server_context()
    with MailServer(password=PASSWORD, starttls=context) as smtp:
        untrusted = run(sandbox, job(tmp_path, sandbox, smtp.port, starttls=None, on="always"),
                        sheet(tmp_path / "a"))  # fmt: skip
        assert untrusted.returncode == 0 and line(untrusted)["counts"] == {"created": 2}
        assert "its certificate is not trusted" in untrusted.stderr, untrusted.stderr
        assert smtp.attempts == []  # no password given to a server not trusted
        trusted_job = job(
            tmp_path, sandbox, smtp.port, starttls=None, on="always", ca_file=str(certificates.ca)
        )
        trusted = run(sandbox, trusted_job, sheet(tmp_path / "b"))
        assert trusted.returncode == 0, trusted.stderr
        [got] = smtp.wait_for(1)
    assert "the result was sent by email" in trusted.stderr
    assert got.message["Subject"].endswith(": done: 2 skipped")


def test_implicit_tls_on_its_own_port(
    tmp_path: Path, sandbox: SandboxProcess, certificates: Certificates
) -> None:
    """ssl = true: TLS from the first byte (SMTPS), the certificate checked the same way."""
    with MailServer(password=PASSWORD, implicit=certificates.server_context()) as smtp:
        job_file = job(
            tmp_path, sandbox, smtp.port, starttls=None, ssl=True, on="always",
            ca_file=str(certificates.ca),
        )  # fmt: skip
        done = run(sandbox, job_file, sheet(tmp_path))
        assert done.returncode == 0, done.stderr
        [got] = smtp.wait_for(1)
    assert got.to == ["ops@acme.example", "lead@acme.example"]


@pytest.mark.parametrize("server", ["refuses", "unreachable", "wrong password", "silent"])
def test_a_failed_email_changes_nothing_of_the_run(
    tmp_path: Path, sandbox: SandboxProcess, server: str
) -> None:
    """Refused (550), unreachable, a wrong password, no answer: the exit code and JSON line are
    those of the same run without [notify]; stderr and the log say why, never the password."""
    plain = job(tmp_path / "ref", sandbox, None)  # the same job without [notify]
    reference = run(sandbox, plain, sheet(tmp_path / "ref", archived=True))
    sandbox.reset()
    sandbox.state_dir = tmp_path / "state-again"  # a fresh journal: the same run again
    refuse = "550 5.7.1 relaying denied" if server == "refuses" else None
    password = "not-the-one" if server == "wrong password" else PASSWORD
    with MailServer(refuse=refuse, password=password) as smtp, SilentServer() as silent:
        port = {"unreachable": closed_port(), "silent": silent.port}.get(server, smtp.port)
        job_file = job(tmp_path, sandbox, port, timeout=0.5 if server == "silent" else 10)
        done = run(sandbox, job_file, sheet(tmp_path, archived=True))
        assert smtp.received == []
    assert done.returncode == reference.returncode == 1
    assert without_notify(line(done)) == without_notify(line(reference))
    reason = {
        "refuses": "the server answered 550 5.7.1 relaying denied",
        "unreachable": "the connection was refused",
        "wrong password": "the server refused the user name or password (535",
        "silent": "no answer in time",
    }[server]
    said = "session-importer: the result could not be sent by email to ops@acme.example"
    assert said in done.stderr and reason in done.stderr, done.stderr
    log = (tmp_path / "nightly.log").read_text()
    assert reason in log
    assert PASSWORD not in done.stderr + done.stdout + log


def test_a_job_that_cannot_run_is_told_too(tmp_path: Path, sandbox: SandboxProcess) -> None:
    """Missing vendor credentials (exit 2): the email says it could not run, with no sheet."""
    with MailServer(password=PASSWORD) as smtp:
        env = {k: v for k, v in sandbox.env(VENDOR).items() if "360L" not in k}
        done = cli("run", sheet(tmp_path), "--config", job(tmp_path, sandbox, smtp.port),
                   env={**env, "ACME_SMTP": PASSWORD})  # fmt: skip
        assert done.returncode == 2, done.stderr
        [got] = smtp.wait_for(1)
    assert "stopped: could not run: missing credentials" in got.message["Subject"]
    body = got.message.get_body(("plain",))
    assert body is not None and "No result sheet was written." in body.get_content()


def test_check_signs_in_and_a_missing_password_is_refused_before_any_row(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """`run --check` connects and signs in (nothing sent); a password variable not set stops
    the run at start: exit 2, nothing sent to the vendor."""
    with MailServer(password=PASSWORD) as smtp:
        job_file = job(tmp_path, sandbox, smtp.port)
        checked = run(sandbox, job_file, sheet(tmp_path), "--check")
        assert checked.returncode == 0, checked.stderr
        assert f"email: 127.0.0.1:{smtp.port} (no encryption) answers, signed in as importer" in (
            checked.stdout
        )
        assert smtp.attempts == [("importer", PASSWORD)] and smtp.received == []
        sandbox.reset()  # forgets the token --check asked for
        bare = cli("run", sheet(tmp_path), "--config", job_file, env=sandbox.env(VENDOR))
    assert bare.returncode == 2
    assert "[notify] password_env: the environment variable ACME_SMTP is not set" in bare.stderr
    assert sandbox.requests(VENDOR) == []


def test_an_inbox_tells_of_each_sheet_that_went_wrong(
    tmp_path: Path, sandbox: SandboxProcess
) -> None:
    """A nightly inbox of two sheets, one with a rejected row: one message, about that one."""
    inbox = tmp_path / "inbox"
    sheet(inbox / "a")  # written in a folder of its own, then moved in: two names
    (inbox / "a" / "nightly.csv").rename(inbox / "good.csv")
    sheet(inbox / "b", archived=True)
    (inbox / "b" / "nightly.csv").rename(inbox / "bad.csv")
    with MailServer(password=PASSWORD) as smtp:
        job_file = job(tmp_path, sandbox, smtp.port)
        # the inbox, its sheets taken at once (they were written just now)
        text = job_file.read_text().replace("[job]\n", '[job]\ninput = "inbox"\nsettle = 0\n', 1)
        job_file.write_text(text, encoding="utf-8")
        done = cli("run", "--config", job_file, "--json",
                   env={**sandbox.env(VENDOR), "ACME_SMTP": PASSWORD})  # fmt: skip
        assert done.returncode == 1, done.stderr
        [got] = smtp.wait_for(1)
    assert [Path(f["file"]).name for f in line(done)["files"]] == ["bad.csv", "good.csv"]
    assert got.message["Subject"].startswith("session-importer: bad.csv into 360learning-v2")
    assert len(smtp.received) == 1
