"""The page's safety rules, over real HTTP to the real `serve` process."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, V2_HEADERS, V2_ROW, write_csv
from tests.web.conftest import WebServer, csrf, start_server, upload


def test_non_loopback_bind_without_password_refuses_to_start(tmp_path: Path) -> None:
    """serve --host 0.0.0.0 without IMPORTER_WEB_PASSWORD exits 2 with one clear line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPORTER_")}
    done = subprocess.run(
        [sys.executable, "-m", "importer", "serve", "--host", "0.0.0.0", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2
    assert "refusing to serve on 0.0.0.0 without a password" in done.stderr
    assert "IMPORTER_WEB_PASSWORD" in done.stderr
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir()), "nothing is served, nothing is written"


def test_cross_site_post_is_refused(tmp_path: Path, web: WebServer) -> None:
    """A POST from another site's page is refused, even carrying a valid token and cookie."""
    client = web.client()
    sheet = write_csv(tmp_path / "s.csv", [V2_HEADERS, V2_ROW])
    token = csrf(client)
    with sheet.open("rb") as handle:
        refused = client.post(
            "/upload",
            data={"csrf": token},
            files={"sheet": ("s.csv", handle)},
            headers={"Origin": "http://evil.example"},
        )
    assert refused.status_code == 403
    assert "cross-site" in refused.text
    assert "s.csv" not in {p.name for p in (web.data / "uploads").rglob("*")}


@pytest.mark.parametrize(
    "path",
    [
        "/upload",
        "/uploads/x/run",
        "/uploads/x/dates",
        "/uploads/x/columns",
        "/uploads/x/cells",
        "/uploads/x/replace",
        "/runs/x/stop",
        "/login",
        "/logout",
        "/history/x/1/undo",
    ],
    ids=lambda p: p,
)
def test_every_form_needs_the_session_csrf_token(web: WebServer, path: str) -> None:
    """Each POST route answers 403 without the token, or with another session's token."""
    mine, other = web.client(), web.client()
    mine.get("/")
    stolen = csrf(other)
    for data in ({}, {"csrf": stolen}, {"csrf": ""}):
        answer = mine.post(path, data={**data, "mode": "import"})
        assert answer.status_code == 403, (path, data, answer.status_code)


def test_every_post_route_is_covered_by_the_csrf_test(web: WebServer) -> None:
    """The app has exactly the POST routes the CSRF test above walks through."""
    from importer.web.accounts import Account
    from importer.web.app import create_app
    from importer.web.workspace import Workspace

    app = create_app(
        Workspace([Account("a", "coursepath")], web.data / "probe", max_rows=1, max_bytes=1)
    )
    posts = {
        route.path  # type: ignore[attr-defined]
        for route in app.routes
        if "POST" in (getattr(route, "methods", None) or ())
    }
    assert posts == {
        "/upload",
        "/uploads/{upload}/run",
        "/uploads/{upload}/dates",
        "/uploads/{upload}/columns",
        "/uploads/{upload}/cells",
        "/uploads/{upload}/replace",
        "/runs/{run}/stop",
        "/login",
        "/logout",
        "/history/{account}/{number:int}/undo",
    }


def test_script_in_a_cell_is_shown_as_text(tmp_path: Path, web: WebServer) -> None:
    """A cell holding <script> (and a bad date beside it) is escaped in the table."""
    name = '<script>document.title="owned"</script><img src=x onerror=alert(1)>'
    sheet = write_csv(
        tmp_path / "x.csv",
        [V2_HEADERS, [V2_ROW[0], name, V2_ROW[2], "31/02/2025 10:00", *V2_ROW[4:]]],
    )
    page = upload(web.client(), sheet, "sandbox-360learning-v2")
    assert page.status_code == 200
    assert "&lt;script&gt;document.title=&#34;owned&#34;&lt;/script&gt;" in page.text
    assert "<script>document" not in page.text
    assert "<img src=x" not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_oversized_upload_is_refused_with_a_clear_message(tmp_path: Path, web: WebServer) -> None:
    """A file over --max-upload-mb is refused (413) and the page says the limit."""
    big = tmp_path / "big.csv"
    rows = [V2_HEADERS] + [
        [*V2_ROW[:1], f"Session {i}" + "x" * 200, *V2_ROW[2:]] for i in range(1200)
    ]
    write_csv(big, rows)
    assert big.stat().st_size > 200_000
    answer = upload(web.client(), big)
    assert answer.status_code == 413
    assert "larger than this server&#39;s limit of 0.2 MB" in answer.text


def test_too_many_rows_are_refused(tmp_path: Path, web: WebServer) -> None:
    """A sheet over --max-rows is refused, saying how many rows it has and the limit."""
    sheet = write_csv(tmp_path / "many.csv", [V2_HEADERS] + [V2_ROW] * 301)
    answer = upload(web.client(), sheet)
    assert answer.status_code == 400
    assert "many.csv: 301 rows; this server takes at most 300 a sheet: split it." in answer.text
    assert str(web.data) not in answer.text, "server paths stay on the server"


def test_other_files_are_refused_and_never_kept(tmp_path: Path, web: WebServer) -> None:
    """An .html or .exe upload is refused; the upload name cannot climb out of the data folder."""
    page = tmp_path / "page.html"
    page.write_text("<h1>hi</h1>")
    answer = upload(web.client(), page)
    assert answer.status_code == 400
    assert "not a sheet this page takes" in answer.text
    sheet = write_csv(tmp_path / "ok.csv", [V2_HEADERS, V2_ROW])
    climbed = upload(web.client(), sheet, name="../../escape.csv")
    assert climbed.status_code == 200
    assert not (web.data / "escape.csv").exists()
    assert list((web.data / "uploads").rglob("escape.csv"))


def test_password_gates_every_page(tmp_path: Path) -> None:
    """With IMPORTER_WEB_PASSWORD: pages redirect to the login; a wrong password is refused;
    the right one (or a bearer token) lets in; the password never appears in a page."""
    secret = "correct horse battery staple"
    server = start_server(tmp_path, env={"IMPORTER_WEB_PASSWORD": secret})
    try:
        client = server.client()
        assert client.get("/").status_code == 303
        assert client.get("/history").headers["location"] == "/login"
        token = csrf(client, "/login")
        # 40 wrong passwords as fast as they go: the first is read, the others meet its wait.
        started = time.monotonic()
        answers = [
            client.post("/login", data={"csrf": token, "password": f"guess{n}", "who": "Eve"})
            for n in range(40)
        ]
        took = time.monotonic() - started
        read = [n for n, a in enumerate(answers) if a.status_code == 401]
        assert {a.status_code for a in answers} == {401, 429} and read[:2] != [0, 1]
        # waits of 1, 2, 4 ... s: in ``took`` seconds at most 1 + log2(1 + took) are read
        assert len(read) <= 1 + math.log2(1 + took), (read, took)
        assert all(int(a.headers["retry-after"]) >= 1 for a in answers)
        started = time.monotonic()
        while True:  # the right one too waits out the second; then it lets in
            right = client.post("/login", data={"csrf": token, "password": secret, "who": "Ana"})
            if right.status_code != 429:
                break
            assert time.monotonic() - started < 30
        assert right.status_code == 303
        home = client.get("/")
        assert home.status_code == 200 and "Signed in as Ana" in home.text
        assert secret not in home.text
        cookie = right.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        script = server.client()
        assert (
            script.get("/history", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
        )
        assert (
            server.client().get("/history", headers={"Authorization": "Bearer no"}).status_code
            == 303
        )
    finally:
        server.stop()
    assert not re.search(
        re.escape(secret),
        "".join(p.read_text(errors="ignore") for p in tmp_path.rglob("*") if p.is_file()),
    )


def test_downloads_neutralise_formulas(tmp_path: Path, web: WebServer) -> None:
    """A cell typed as a formula comes back in the checked sheet as text, never a formula."""
    import io

    import openpyxl

    formula = '=HYPERLINK("http://evil.example","click")'
    sheet = write_csv(tmp_path / "f.csv", [V2_HEADERS, [V2_ROW[0], formula, *V2_ROW[2:]]])
    client = web.client()
    page = upload(client, sheet, "sandbox-360learning-v2")
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"{page.url.path}/checked.xlsx").content))
    cells = [c for row in book["Result"].iter_rows() for c in row if c.value == formula]
    assert cells and all(c.data_type == "s" for c in cells)
