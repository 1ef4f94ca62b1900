"""The coordinators' page: routes over a :class:`~importer.web.workspace.Workspace`.

Pages are rendered on the server (Jinja2, autoescaped); ``static/app.js`` adds drag and
drop, live progress (server-sent events, polling when they fail) and nothing the page
cannot do without it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from importer.core.clock import Clock
from importer.core.errors import ImporterError
from importer.core.files import FILE_MODE
from importer.core.secret import Secret
from importer.jobs.people import email_fields
from importer.results.templates import template_name, write_template
from importer.vendors import get_vendor
from importer.web.hosts import HostCheck
from importer.web.oidc import OidcSignOn
from importer.web.oidc_provider import OidcProvider
from importer.web.password import PasswordLogin
from importer.web.proxy import ProxyUsers
from importer.web.security import CsrfError, Guard, Verdict, check_csrf
from importer.web.undo import undo_plan, undo_run
from importer.web.views import duration, sheet_page, two_ways_line, when
from importer.web.workspace import SUFFIXES, Upload, WebRun, Workspace, too_large

__all__ = ["create_app"]

_HERE = Path(__file__).parent
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def create_app(
    workspace: Workspace,
    password: Secret | None = None,
    clock: Clock | None = None,
    allowed_hosts: frozenset[str] | None = None,
    proxy: ProxyUsers | None = None,
    oidc: OidcProvider | None = None,
) -> Starlette:
    """The ASGI app of the page, serving ``workspace``; with ``password``, signed in
    (``clock``: the one the wait after wrong passwords is measured on); with ``proxy``
    instead, the user is the sign-on proxy's header (:mod:`importer.web.proxy`); with
    ``allowed_hosts``, every request naming another ``Host`` is refused first (421:
    ``serve`` always gives them, see :mod:`importer.web.hosts`); with ``oidc``, users sign
    in at the company's OpenID Connect provider (:mod:`importer.web.oidc`)."""
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.globals.update(duration=duration, when=when, suffixes=",".join(SUFFIXES))
    guard = Guard(
        PasswordLogin(password, clock) if password is not None else None,
        proxy=proxy,
        external=oidc is not None,
        secure=oidc is not None and oidc.settings.https,
    )
    # the user is known, not typed in
    named = password is not None or proxy is not None or oidc is not None
    signs_out = password is not None or oidc is not None

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        session = request.state.session
        context.update(
            csrf=session.csrf,
            who=session.who,
            login=named,
            signed_in=signs_out and session.authed,
            accounts=list(workspace.accounts.values()),
        )
        return templates.TemplateResponse(request, name, context, status_code=status)

    audit = workspace.audit
    sign_on = OidcSignOn(oidc, guard, audit) if oidc is not None else None

    def refused(request: Request, message: str, status: int = 400) -> Response:
        return page(request, "home.html", status, error=message, runs=_recent(workspace))

    async def home(request: Request) -> Response:
        return page(request, "home.html", runs=_recent(workspace))

    async def login(request: Request) -> Response:
        if proxy is not None:  # signed in by the proxy: there is no password to give here
            return RedirectResponse("/", status_code=303)
        if sign_on is not None:  # off to the provider
            return await sign_on.login(request)
        if request.method == "GET":
            return page(request, "login.html")
        try:
            form = await check_csrf(request)
        except CsrfError:
            return PlainTextResponse("the form expired: reload the page", status_code=403)
        who = str(form.get("who") or "")
        attempt = guard.login(request, str(form.get("password") or ""), who or "coordinator")
        if attempt.verdict != Verdict.OK:
            why = "waiting after wrong passwords" if attempt.verdict == Verdict.WAIT else "wrong"
            audit.record("refused", who, what="sign-in", reason=why)
        else:
            audit.record("sign-in", request.state.session.who)
        if attempt.verdict == Verdict.WAIT:
            said = f"Too many wrong passwords from your address: try again in {attempt.seconds} s."
            answer = page(request, "login.html", 429, error=said)
        elif attempt.verdict == Verdict.WRONG:
            said = f"Wrong password. The next try is taken in {attempt.seconds} s."
            answer = page(request, "login.html", 401, error=said)
        else:
            return RedirectResponse("/", status_code=303)
        answer.headers["Retry-After"] = str(attempt.seconds)
        return answer

    async def logout(request: Request) -> Response:
        try:
            await check_csrf(request)
        except CsrfError:
            return PlainTextResponse("the form expired: reload the page", status_code=403)
        guard.logout(request)
        if sign_on is not None:
            return await sign_on.after_logout()
        return RedirectResponse("/login" if password is not None else "/", status_code=303)

    async def upload(request: Request) -> Response:
        length = request.headers.get("content-length", "")
        if not length.isdigit():
            return refused(request, "The upload gave no size; try another browser.", 411)
        if int(length) > workspace.max_bytes + 64 * 1024:
            return refused(request, too_large("The file", workspace.max_bytes), 413)
        try:
            form = await check_csrf(request, max_files=1)
        except CsrfError:
            return PlainTextResponse("the form expired: reload the page", status_code=403)
        sheet = form.get("sheet")
        if sheet is None or isinstance(sheet, str) or not sheet.filename:
            return refused(request, "Choose a sheet to upload (.xlsx or .csv).")
        session = request.state.session
        if not named and form.get("who"):
            session.who = str(form.get("who"))[:80].strip()
            guard.remember(request)  # the name is shown in the history: kept for next time
        chosen = workspace.accounts.get(str(form.get("account") or ""))
        try:
            path = await asyncio.to_thread(workspace.save, sheet.filename, sheet.file)
            made = await asyncio.to_thread(workspace.check, path, chosen, session.who)
        except ImporterError as error:
            status = 413 if "limit" in str(error) else 400
            audit.record(
                "refused", session.who, what="upload", file=sheet.filename, reason=str(error)
            )
            return refused(request, str(error), status)
        finally:
            await sheet.close()
        report = made.report
        audit.record(
            "upload",
            session.who,
            **made.facts,
            rows=report.row_count,
            invalid=report.invalid_count,
        )
        return RedirectResponse(f"/uploads/{made.id}", status_code=303)

    def find_upload(request: Request) -> Upload | None:
        return workspace.uploads.get(request.path_params["upload"])

    async def upload_form(request: Request) -> tuple[FormData, Upload] | Response:
        """A POST about an upload: its form (CSRF checked) and the upload, else the answer."""
        try:
            form = await check_csrf(request)
        except CsrfError:
            return PlainTextResponse("the form expired: reload the page", status_code=403)
        made = find_upload(request)
        if made is None:
            return refused(request, "That upload is no longer on the server: upload it again.", 404)
        return form, made

    async def show_upload(request: Request) -> Response:
        made = find_upload(request)
        if made is None:
            return refused(request, "That upload is no longer on the server: upload it again.", 404)
        try:
            number = int(request.query_params.get("page", "1"))
        except ValueError:
            number = 1
        problems = request.query_params.get("problems") == "1"
        sheet = sheet_page(made, number, problems)
        emails = email_fields(made.account.plugin)
        lookup = any(field in made.report.columns.fields for field, _, _ in emails)
        return page(
            request,
            "upload.html",
            upload=made,
            sheet=sheet,
            problems=problems,
            email_lookup=lookup,
            two_ways=two_ways_line(made),
        )

    async def marked(request: Request) -> Response:
        from importer.results.write import write_report

        made = find_upload(request)
        if made is None:
            return PlainTextResponse("no such upload", status_code=404)
        stem = Path(made.name).stem
        target = made.path.parent / f"{stem}.checked.xlsx"
        await asyncio.to_thread(write_report, made.report, target, made.known)
        return FileResponse(target, media_type=_XLSX, filename=target.name)

    async def start(request: Request) -> Response:
        posted = await upload_form(request)
        if isinstance(posted, Response):
            return posted
        form, made = posted
        try:
            confirm = str(form.get("confirm") or "").strip()
            run = workspace.start(
                made,
                str(form.get("mode") or ""),
                request.state.session.who,
                int(confirm) if confirm.isdigit() else None,
            )
        except ImporterError as error:
            who = request.state.session.who
            audit.record("refused", who, what="run", **made.facts, reason=str(error))
            return refused(request, str(error))
        audit.record(
            "run",
            run.who,
            **made.facts,
            mode=run.mode,
            rows=run.total,
        )
        return RedirectResponse(f"/runs/{run.id}", status_code=303)

    async def reread(request: Request) -> Response:
        """The upload checked again, its ambiguous dates read the other way round."""
        posted = await upload_form(request)
        if isinstance(posted, Response):
            return posted
        form, made = posted
        order = str(form.get("order") or "").upper()
        try:
            again = await asyncio.to_thread(
                workspace.reread, made, order, request.state.session.who
            )
        except ImporterError as error:
            return refused(request, str(error))
        return RedirectResponse(f"/uploads/{again.id}", status_code=303)

    def find_run(request: Request) -> WebRun | None:
        return workspace.runs.get(request.path_params["run"])

    async def show_run(request: Request) -> Response:
        run = find_run(request)
        if run is None:
            return refused(request, "No such run on this server (see History).", 404)
        return page(request, "run.html", run=run, state=run.snapshot())

    async def status(request: Request) -> Response:
        run = find_run(request)
        if run is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        return JSONResponse(run.snapshot())

    async def events(request: Request) -> Response:
        run = find_run(request)
        if run is None:
            return PlainTextResponse("no such run", status_code=404)
        return StreamingResponse(
            _events(request, run),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def stop(request: Request) -> Response:
        try:
            await check_csrf(request)
        except CsrfError:
            return PlainTextResponse("the form expired: reload the page", status_code=403)
        run = find_run(request)
        if run is None:
            return PlainTextResponse("no such run", status_code=404)
        if run.state == "running":
            who = request.state.session.who
            audit.record("stop", who, **run.upload.facts, mode=run.mode, done=run.done)
            run.stop.set()
            run.state = "stopping"
            run.say("stopping: requests already sent finish, nothing more is sent")
        return RedirectResponse(f"/runs/{run.id}", status_code=303)

    async def result(request: Request) -> Response:
        run = find_run(request)
        if run is None or run.result is None:
            return PlainTextResponse("no result yet", status_code=404)
        return FileResponse(run.result, media_type=_XLSX, filename=run.result.name)

    async def history(request: Request) -> Response:
        entries = await asyncio.to_thread(lambda: list(workspace.history()))
        return page(request, "history.html", entries=entries)

    async def old_result(request: Request) -> Response:
        entries = await asyncio.to_thread(lambda: list(workspace.history()))
        wanted = (request.path_params["account"], int(request.path_params["number"]))
        for entry in entries:
            if (entry["account"].slug, entry["id"]) == wanted:
                path = workspace.result_file(str(entry["summary"].get("result", "")))
                if path is not None:
                    return FileResponse(path, media_type=_XLSX, filename=path.name)
        return PlainTextResponse("no result sheet for that run", status_code=404)

    async def undo(request: Request) -> Response:
        account = workspace.accounts.get(request.path_params["account"])
        if request.method == "GET":  # the confirm step: what would go, and the count
            if account is None:
                return refused(request, "No such account on this server.", 404)
            try:
                plan = await asyncio.to_thread(
                    undo_plan, workspace, account, int(request.path_params["number"])
                )
            except ImporterError as error:
                return refused(request, error.on_page, 400)
            if not plan.live:
                entries = await asyncio.to_thread(lambda: list(workspace.history()))
                said = f"Run {plan.run_id} of {account.name} has nothing left to delete."
                return page(request, "history.html", 409, entries=entries, notice=said)
            return page(request, "undo.html", account=account, plan=plan)
        try:
            form = await check_csrf(request)
        except CsrfError:
            return PlainTextResponse("the form expired: reload the page", status_code=403)
        confirm = str(form.get("confirm") or "").strip()
        expect = str(form.get("expect") or "").strip()
        if account is None:
            return refused(request, "No such account on this server.", 404)
        try:
            said = await asyncio.to_thread(
                undo_run,
                workspace,
                account,
                int(request.path_params["number"]),
                int(confirm) if confirm.isdigit() else None,
                form.get("dry") == "1",
                int(expect) if expect.isdigit() else None,
            )
        except ImporterError as error:  # in the page's words (the guard's "Confirm count")
            facts = {"account": account.name, "run": request.path_params["number"]}
            audit.record("refused", request.state.session.who, what="undo", **facts,
                         reason=error.on_page)  # fmt: skip
            return refused(request, error.on_page, 409 if error.exit_code == 4 else 400)
        audit.record(
            "undo",
            request.state.session.who,
            account=account.name,
            run=request.path_params["number"],
            dry_run=form.get("dry") == "1",
            said=said,
        )
        entries = await asyncio.to_thread(lambda: list(workspace.history()))
        return page(request, "history.html", entries=entries, notice=said)

    async def template(request: Request) -> Response:
        try:
            vendor = get_vendor(request.path_params["vendor"])
        except ImporterError:
            return PlainTextResponse("no such vendor", status_code=404)
        target = workspace.data / "templates" / template_name(vendor)
        if not target.exists():
            await asyncio.to_thread(write_template, vendor, target)
            target.chmod(FILE_MODE)  # as everything under the data folder (its folder is 0700)
        return FileResponse(target, media_type=_XLSX, filename=target.name)

    routes = [
        Route("/", home),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/upload", upload, methods=["POST"]),
        Route("/uploads/{upload}", show_upload),
        Route("/uploads/{upload}/checked.xlsx", marked),
        Route("/uploads/{upload}/run", start, methods=["POST"]),
        Route("/uploads/{upload}/dates", reread, methods=["POST"]),
        Route("/runs/{run}", show_run),
        Route("/runs/{run}/status", status),
        Route("/runs/{run}/events", events),
        Route("/runs/{run}/stop", stop, methods=["POST"]),
        Route("/runs/{run}/result", result),
        Route("/history", history),
        Route("/history/{account}/{number:int}/result", old_result),
        Route("/history/{account}/{number:int}/undo", undo, methods=["GET", "POST"]),
        Route("/templates/{vendor}", template),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
        *(sign_on.routes() if sign_on is not None else []),
    ]
    # The host check comes first: a rebinding site's request meets no session, route or file.
    checks = [Middleware(HostCheck, allowed=allowed_hosts)] if allowed_hosts is not None else []
    app = Starlette(
        routes=routes, middleware=[*checks, Middleware(BaseHTTPMiddleware, dispatch=guard)]
    )
    app.state.workspace, app.state.guard = workspace, guard
    return app


def _recent(workspace: Workspace) -> list[WebRun]:
    return sorted(workspace.runs.values(), key=lambda run: -run.started)[:10]


async def _events(request: Request, run: WebRun) -> AsyncIterator[str]:
    """Server-sent events: the run's state whenever it changes, until it ends."""
    seen = -1
    while True:
        if run.version != seen:
            seen = run.version
            snapshot = run.snapshot()
            yield f"event: progress\ndata: {json.dumps(snapshot)}\n\n"
            if snapshot["state"] in ("finished", "failed"):
                return
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.25)
