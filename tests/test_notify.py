"""``[notify]``: the table read and checked (in a job file and the accounts file), and the message
written from a run's outcome (plain text, the first 50 rows, the result sheet attached)."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.core.errors import ConfigurationError
from importer.jobs.config import load_job
from importer.jobs.mailer import Mailer
from importer.jobs.notify import (
    LISTED,
    NotifySettings,
    Problem,
    RunSummary,
    compose,
    email_address,
    notify_settings,
)
from importer.vendors import PLUGINS
from importer.web.accounts import load_accounts

ACCOUNT = '[[account]]\nname = "Acme"\nvendor = "coursepath"\n'
NOTIFY = '[notify]\nhost = "smtp.acme.example"\nfrom = "importer@acme.example"\n'


def job(tmp_path: Path, notify: str) -> Path:
    path = tmp_path / "nightly.toml"
    path.write_text(f'[job]\nvendor = "coursepath"\n{notify}', encoding="utf-8")
    return path


def test_a_job_file_notify_table_with_its_defaults(tmp_path: Path) -> None:
    """port 587 and STARTTLS by default, on = "failure"; ssl = true means port 465."""
    read = load_job(job(tmp_path, NOTIFY + 'to = ["ops@acme.example"]\n'), PLUGINS).notify
    assert read is not None
    assert (read.host, read.port, read.security, read.on, read.to) == (
        "smtp.acme.example", 587, "starttls", "failure", ("ops@acme.example",),
    )  # fmt: skip
    assert read.user is None and read.ca_file is None and read.timeout == 30
    tls = load_job(job(tmp_path, NOTIFY + 'to = ["a@b.example"]\nssl = true\n'), PLUGINS).notify
    assert tls is not None and (tls.port, tls.security) == (465, "ssl")
    assert load_job(job(tmp_path, ""), PLUGINS).notify is None


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ('to = ["a@b.example"]\nhots = "x"\n', "unknown key 'hots'"),
        ('to = ["a@b.example"]\nstarttls = true\nssl = true\n', "starttls and ssl both set"),
        ('to = ["a@b.example"]\nport = 0\n', "port must be a number from 1 to 65535"),
        ('to = ["a@b.example"]\nport = "587"\n', "port must be a number"),
        ('to = ["a@b.example"]\nstarttls = "yes"\n', "starttls must be true or false"),
        ('to = ["a@b.example"]\non = "sometimes"\n', 'on must be "failure" or "always"'),
        ('to = "a@b.example"\n', "to must be a list of email addresses"),
        ('to = ["ana"]\n', "to must be a list of email addresses"),
        ("to = []\n", "to must be a list of email addresses"),
        ("", "to must be a list of email addresses"),
        ('to = ["a@b.example"]\nuser = "u"\n', "give both user and password_env"),
        ('to = ["a@b.example"]\npassword_env = "P"\n', "give both user and password_env"),
        ('to = ["a@b.example"]\nuser = "u"\npassword_env = "hunter2 secret!"\n',
         "password_env must be the name of an environment variable"),
        ('to = ["a@b.example"]\nuser = "u"\npassword_env = "correcthorse42"\n',
         "password_env must be the name of an environment variable"),
        ('to = ["a@b.example"]\nuser = "u"\npassword_env = "P"\nstarttls = false\n',
         "would send the password to smtp.acme.example unencrypted"),
        ('to = ["a@b.example"]\nca_file = "missing.pem"\n', "ca_file .*missing.pem.*: no such file"),
        ('to = ["a@b.example"]\ntimeout = 0\n', "timeout must be a number of seconds above 0"),
    ],
)  # fmt: skip
def test_bad_notify_tables_are_refused_naming_the_file_and_key(
    tmp_path: Path, extra: str, said: str
) -> None:
    """Each mistake is refused when the job file is read, before anything is sent."""
    path = job(tmp_path, NOTIFY + extra)
    with pytest.raises(ConfigurationError, match=said) as caught:
        load_job(path, PLUGINS)
    assert str(caught.value).startswith(f"{path}: [notify]")
    assert "hunter2" not in str(caught.value) and "correcthorse" not in str(caught.value)


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ('[notify]\nfrom = "a@b.example"\n', "host must be given"),
        ('[notify]\nhost = "smtp.acme.example"\n', "from must be given"),
        ('[notify]\nhost = "smtp.acme.example"\nfrom = "nobody"\n', "from 'nobody' must be an email"),
        ('[notify]\nhost = "smtp://x"\nfrom = "a@b.example"\n', "must be a host name"),
    ],
)  # fmt: skip
def test_host_and_from_are_required(tmp_path: Path, table: str, said: str) -> None:
    """No server or no sender: refused."""
    with pytest.raises(ConfigurationError, match=said):
        load_job(job(tmp_path, table + 'to = ["a@b.example"]\n'), PLUGINS)


def test_the_accounts_file_takes_notify_but_not_to_or_on(tmp_path: Path) -> None:
    """The page writes to whoever started the run: to and on are refused there, saying so."""
    path = tmp_path / "accounts.toml"
    path.write_text(f"{ACCOUNT}{NOTIFY}", encoding="utf-8")
    read = load_accounts(path).notify
    assert read is not None and read.host == "smtp.acme.example" and read.to == ()
    path.write_text(f'{ACCOUNT}{NOTIFY}to = ["a@b.example"]\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"unknown key 'to' .*whoever started the run"):
        load_accounts(path)
    path.write_text(f"{ACCOUNT}[notfy]\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="unknown setting 'notfy'"):
        load_accounts(path)
    path.write_text(ACCOUNT, encoding="utf-8")
    assert load_accounts(path).notify is None


def test_ca_file_is_read_relative_to_the_file(tmp_path: Path) -> None:
    """A relative ca_file is found beside the file that names it."""
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    read = notify_settings(
        {"host": "h.example", "from": "a@b.example", "ca_file": "ca.pem"},
        tmp_path / "accounts.toml",
        job=False,
    )
    assert read.ca_file == (tmp_path / "ca.pem").resolve()


def test_the_password_variable_must_be_set_when_the_mailer_is_made() -> None:
    """A missing password is refused at start, naming the variable (never a value)."""
    settings = NotifySettings(
        "smtp.acme.example", "a@b.example", user="u", password_env="ACME_SMTP", source="job.toml"
    )
    with pytest.raises(ConfigurationError, match=r"job.toml: \[notify\] password_env: .*ACME_SMTP"):
        Mailer.of(settings, {})
    mailer = Mailer.of(settings, {"ACME_SMTP": "correct-horse-battery"})
    assert "correct-horse" not in repr(mailer) and mailer.password is not None


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("ana@acme.example", "ana@acme.example"),
        (" Ana.Lopez@acme.co.uk ", "Ana.Lopez@acme.co.uk"),
        ("ana", None),
        ("ana@localhost", None),
        ("a@b@acme.example", None),
        ("ana lopez@acme.example", None),
        ("ana@acme.example, boss@acme.example", None),
        ("ana@acme.example\r\nBcc: x@evil.example", None),
        ("", None),
        (None, None),
    ],
)
def test_a_sign_in_name_is_an_address_only_when_it_looks_like_one(
    name: str | None, address: str | None
) -> None:
    """One @, a dot in the domain, nothing that would make it two addresses or a header."""
    assert email_address(name) == address


def _summary(tmp_path: Path, problems: int, result: Path | None = None) -> RunSummary:
    return RunSummary(
        file="monday.csv",
        account="Acme 360",
        counts={"created": 3, "rejected": problems},
        rows=3 + problems,
        exit_code=1,
        problems=tuple(
            Problem(n + 2, "rejected", "", f"the vendor said <b>no</b> to {n}")
            for n in range(problems)
        ),
        result=result,
    )


def test_the_message_lists_fifty_rows_then_counts_the_rest(tmp_path: Path) -> None:
    """Subject with file, account, outcome; 50 rows listed then "and 10 more"; plain text."""
    message = compose(_summary(tmp_path, LISTED + 10), "importer@acme.example", ["a@b.example"])
    assert (
        message["Subject"]
        == "session-importer: monday.csv into Acme 360: 60 of 63 rows need a look"
    )
    assert message["Auto-Submitted"] == "auto-generated" and message["To"] == "a@b.example"
    assert message.get_content_type() == "text/plain"
    body = message.get_content()
    assert "row 51 (rejected): the vendor said <b>no</b> to 49" in body
    assert "row 52 (rejected)" not in body and "and 10 more" in body
    assert "No result sheet was written." in body


def test_a_large_result_sheet_is_named_not_attached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the attachment limit, the body says where the sheet is instead."""
    import importer.jobs.notify as notify

    sheet = tmp_path / "monday.result.csv"
    sheet.write_bytes(b"x" * 2000)
    monkeypatch.setattr(notify, "LARGEST_ATTACHMENT", 1000)
    message = compose(_summary(tmp_path, 1, sheet), "importer@acme.example", ["a@b.example"])
    assert not list(message.iter_attachments())
    assert "too large to attach" in message.get_content()
    monkeypatch.setattr(notify, "LARGEST_ATTACHMENT", 5000)
    attached = compose(_summary(tmp_path, 1, sheet), "importer@acme.example", ["a@b.example"])
    [part] = attached.iter_attachments()
    assert part.get_content_type() == "text/csv" and part.get_filename() == sheet.name


def test_control_characters_in_a_message_cannot_break_the_subject_or_body(tmp_path: Path) -> None:
    """A file or message with line breaks stays one line (no header can be forged)."""
    summary = RunSummary(
        file="evil\r\nBcc: x@evil.example.csv",
        account="Acme",
        counts={},
        rows=0,
        exit_code=2,
        stopped="could not run:\nline two",
    )
    message = compose(summary, "importer@acme.example", ["a@b.example"])
    assert "\n" not in message["Subject"] and message["Bcc"] is None
    assert "Stopped early: could not run: line two" in message.get_content()


def test_a_row_found_unsendable_while_sending_is_listed_with_its_message(tmp_path: Path) -> None:
    """A row valid in the sheet that sending finds invalid (too long for the URL): listed with
    what the result sheet says of it (it has no cell errors of validation)."""
    from importer.api import validate
    from importer.core.outcomes import RowResult, Status
    from importer.jobs.notify import summary_of
    from importer.results.report import RunReport
    from tests.conftest import zoho_row, zoho_sheet

    report = validate(zoho_sheet(tmp_path / "z.csv", [zoho_row("A"), zoho_row("B")]), "zoho-people")
    assert report.invalid_count == 0
    run = RunReport(report, {2: RowResult(Status.CREATED, created_id="1"),
                             3: RowResult(Status.INVALID, message="Description: too long")})  # fmt: skip
    summary = summary_of(run, None, file="z.csv", account="Zoho")
    assert [str(p) for p in summary.problems] == ["row 3 (invalid): Description: too long"]
    assert summary.went_wrong and summary.outcome == "1 of 2 rows need a look"


def test_a_dry_run_that_finds_nothing_wrong_is_not_a_failure(tmp_path: Path) -> None:
    """A dry run's rows are "not sent" on purpose: only invalid ones need a look."""
    from importer.api import validate
    from importer.jobs.notify import summary_of
    from importer.results.report import RunReport
    from tests.conftest import zoho_row, zoho_sheet

    report = validate(zoho_sheet(tmp_path / "z.csv", [zoho_row("A")]), "zoho-people")
    summary = summary_of(RunReport(report, dry_run=True), None, file="z.csv", account="Zoho")
    assert summary.counts == {"not sent": 1}
    assert not summary.went_wrong and summary.problems == ()
    assert summary.outcome == "dry run: 1 not sent"


def test_a_server_without_starttls_is_sent_nothing() -> None:
    """starttls = true and a server that does not offer it: nothing sent, never in clear."""
    from tests.mail import MailServer

    with MailServer() as smtp:
        settings = NotifySettings("127.0.0.1", "importer@acme.example", port=smtp.port, timeout=10)
        summary = RunSummary(file="a.csv", account="Acme", counts={}, rows=0, exit_code=0)
        told = Mailer.of(settings, {}).tell(summary, ["ops@acme.example"])
        assert smtp.received == []
    assert not told.sent
    assert "does not offer what [notify] asks for (STARTTLS extension" in told.said
    assert told.said.endswith("nothing was sent; the run's outcome is unchanged")


def test_recipients_the_server_refuses_are_named() -> None:
    """One recipient refused: sent to the others, the refused one named; all refused: not sent."""
    from tests.mail import MailServer

    with MailServer(unknown=("gone@acme.example", "left@acme.example")) as smtp:
        settings = NotifySettings(
            "127.0.0.1", "importer@acme.example", port=smtp.port, security="none", timeout=10
        )
        summary = RunSummary(file="a.csv", account="Acme", counts={}, rows=0, exit_code=1)
        mailer = Mailer.of(settings, {})
        some = mailer.tell(summary, ["ops@acme.example", "gone@acme.example"])
        none = mailer.tell(summary, ["gone@acme.example", "left@acme.example"])
        [got] = smtp.wait_for(1)
    assert got.to == ["ops@acme.example"]
    assert not some.sent and some.said == (
        "the result was sent by email to ops@acme.example; the server refused "
        "gone@acme.example (gone@acme.example: 550 5.1.1 no such mailbox)"
    )
    assert not none.sent and "the server refused every recipient" in none.said


def test_check_says_why_the_server_would_not_take_the_email() -> None:
    """`run --check`'s sign-in refused: one line naming the server and the answer, no password."""
    from tests.mail import MailServer

    with MailServer(password="the-right-one") as smtp:
        settings = NotifySettings(
            "127.0.0.1", "importer@acme.example", port=smtp.port, security="none",
            user="importer", password_env="ACME_SMTP", timeout=10,
        )  # fmt: skip
        mailer = Mailer.of(settings, {"ACME_SMTP": "a-wrong-password"})
        with pytest.raises(ConfigurationError) as caught:
            mailer.check()
    said = str(caught.value)
    assert said.startswith(f"email: 127.0.0.1:{smtp.port} (no encryption): the server refused")
    assert "a-wrong-password" not in said
    assert set(smtp.attempts) == {("importer", "a-wrong-password")}  # PLAIN, then LOGIN
