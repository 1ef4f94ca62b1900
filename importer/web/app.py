"""The coordinators' page: routes over a :class:`~importer.web.workspace.Workspace`.

Pages are rendered on the server (Jinja2, autoescaped); ``static/app.js`` adds drag and
drop, live progress (server-sent events, polling when they fail) and nothing the page
cannot do without it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
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
from importer.jobs.runs import recorded_who
from importer.results.templates import template_name, write_template
from importer.sheet.corrections import Correction
from importer.vendors import get_vendor
from importer.web.access import Access, User
from importer.web.accounts import Account
from importer.web.hosts import HostCheck
from importer.web.oidc import OidcSignOn
from importer.web.oidc_provider import OidcProvider
from importer.web.password import PasswordLogin
from importer.web.proxy import ProxyUsers
from importer.web.security import CsrfError, Guard, Verdict, check_csrf
from importer.web.undo import undo_plan, undo_run
from importer.web.views import duration, field_choices, sheet_page, two_ways_line, when
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
    access: Access | None = None,
    oidc: OidcProvider | None = None,
) -> Starlette:
    """The ASGI app of the page, serving ``workspace``; with ``password``, signed in
    (``clock``: the one the wait after wrong passwords is measured on); with ``proxy``
    instead, the user is the sign-on proxy's header (:mod:`importer.web.proxy`); with
    ``allowed_hosts``, every request naming another ``Host`` is refused first (421:
    ``serve`` always gives them, see :mod:`importer.web.hosts`); ``access``: who may touch
    what (:mod:`importer.web.access`; by default the proxy's users may use every account,
    each seeing their own uploads, and without a proxy the one coordinator sees all); with
    ``oidc``, users sign in at the company's OpenID Connect provider (:mod:`importer.web.oidc`)."""
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.globals.update(duration=duration, when=when, suffixes=",".join(SUFFIXES))
    guard = Guard(
        PasswordLogin(password, clock) if password is not None else None,
        proxy=proxy,
        external=oidc is not None,
        secure=oidc is not None and oidc.settings.https,
    )
    signed_on = proxy is not None or oidc is not None  # the sign-on names the user
    named = password is not None or signed_on  # the user is known, not typed in
    signs_out = password is not None or oidc is not None
    rules = access if access is not None else Access(named=signed_on)

    def user_of(request: Request) -> User:
        session = request.state.session
        return User(session.who, session.groups)

    def usable(request: Request) -> list[Account]:
        """The accounts the request's user may use (all that the page shows them)."""
        user = user_of(request)
        return [a for a in workspace.accounts.values() if rules.may_use(user, a)]

    def recent(request: Request) -> list[WebRun]:
        user = user_of(request)
        runs = sorted(workspace.runs.values(), key=lambda run: -run.started)
        return [r for r in runs if rules.may_see_run(user, r.upload.account, r.who)][:10]

    async def history_of(request: Request) -> list[dict[str, Any]]:
        """The journals' runs the request's user may see (newest first), each with its
        ``owner`` and whether the user may undo it (``manage``)."""
        user = user_of(request)
        entries = await asyncio.to_thread(lambda: list(workspace.history()))
        seen = []
        for entry in entries:
            owner = recorded_who(entry)
            if rules.may_see_run(user, entry["account"], owner):
                manage = rules.may_manage(user, entry["account"], owner)
                seen.append({**entry, "owner": owner, "manage": manage})
        return seen

    def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        session = request.state.session
        context.update(
            csrf=session.csrf,
            who=session.who,
            login=named,
            signed_in=signs_out and session.authed,
            accounts=usable(request),
        )
        return templates.TemplateResponse(request, name, context, status_code=status)

    audit = workspace.audit
    sign_on = OidcSignOn(oidc, guard, audit) if oidc is not None else None

    def refused(request: Request, message: str, status: int = 400) -> Response:
        return page(request, "home.html", status, error=message, runs=recent(request))

    async def in_progress(request: Request) -> list[dict[str, Any]]:
        """The runs in progress on the accounts the user may use, every process's and
        host's: those the user may see detailed, the others (another's on a private_runs
        account) only counted."""
        user = user_of(request)
        found = await asyncio.to_thread(workspace.in_progress.by_account)
        shown = []
        for account in usable(request):
            runs = found.get(account.slug, [])
            seen = [r for r in runs if rules.may_see_run(user, account, r.who)]
            if runs:
                shown.append({"account": account, "runs": seen, "hidden": len(runs) - len(seen)})
        return shown

    async def home(request: Request) -> Response:
        return page(request, "home.html", runs=recent(request), active=await in_progress(request))

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
        open_to_user = usable(request)
        slug = str(form.get("account") or "")
        chosen = next((a for a in open_to_user if a.slug == slug), None)
        if slug and chosen is None:  # another's account is as unknown as a made-up one
            await sheet.close()
            return refused(request, "No such account on this server.", 404)
        try:
            path = await asyncio.to_thread(workspace.save, sheet.filename, sheet.file)
            made = await asyncio.to_thread(
                workspace.check, path, chosen, session.who, None, open_to_user
            )
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
            rows=report.row_count if report else len(made.table.frame) if made.table else 0,
            invalid=report.invalid_count if report else None,
            columns_missing=report is None,
        )
        if report is None:  # columns to choose before anything can be checked
            return RedirectResponse(f"/uploads/{made.id}/columns", status_code=303)
        return RedirectResponse(f"/uploads/{made.id}", status_code=303)

    def find_upload(request: Request) -> Upload | None:
        """The upload named in the path, if the request's user may see it."""
        made = workspace.uploads.get(request.path_params["upload"])
        if made is None or not rules.may_see_upload(user_of(request), made.account, made.who):
            return None
        return made

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
        if made.report is None:
            return RedirectResponse(f"/uploads/{made.id}/columns", status_code=303)
        try:
            number = int(request.query_params.get("page", "1"))
        except ValueError:
            number = 1
        problems = request.query_params.get("problems") == "1"
        sheet = sheet_page(made, number, problems)
        emails = email_fields(made.account.plugin)
        lookup = any(field in made.report.columns.fields for field, _, _ in emails)
        others = await others_rows(request, made)
        return page(
            request,
            "upload.html",
            upload=made,
            sheet=sheet,
            problems=problems,
            email_lookup=lookup,
            two_ways=two_ways_line(made),
            others={"count": len(others), "names": rules.others(user_of(request), others)},
        )

    async def marked(request: Request) -> Response:
        from importer.results.write import write_report

        made = find_upload(request)
        if made is None or made.report is None:
            return PlainTextResponse("no such upload", status_code=404)
        stem = Path(made.name).stem
        target = made.path.parent / f"{stem}.checked.xlsx"
        await asyncio.to_thread(write_report, made.report, target, made.known)
        return FileResponse(target, media_type=_XLSX, filename=target.name)

    async def as_typed(request: Request) -> Response:
        """The sheet in its owner's layout, the corrections made on the page in it."""
        from importer.results.write import write_sheet_as_typed

        made = find_upload(request)
        if made is None or made.report is None:
            return PlainTextResponse("no such upload", status_code=404)
        stem = Path(made.name).stem
        suffix = ".csv" if made.report.table.delimiter else ".xlsx"
        target = made.path.parent / f"{stem}.corrected{suffix}"
        await asyncio.to_thread(write_sheet_as_typed, made.report.table, target)
        kind = "text/csv" if suffix == ".csv" else _XLSX
        return FileResponse(target, media_type=kind, filename=target.name)

    async def columns(request: Request) -> Response:
        """The mapping step: which of the sheet's columns holds each of the vendor's fields."""
        form = None
        if request.method == "POST":  # the token first, as every form
            posted = await upload_form(request)
            if isinstance(posted, Response):
                return posted
            form, _ = posted
        made = find_upload(request)
        if made is None or made.table is None:
            return refused(request, "That upload is no longer on the server: upload it again.", 404)
        error = ""
        if form is not None:
            headers = {str(h) for h in made.table.frame.columns}
            chosen: dict[str, str | None] = {}
            for spec in made.account.plugin.schema.fields:
                given = str(form.get(f"field-{spec.name}") or "")
                chosen[spec.name] = given if given in headers else None
            try:
                await asyncio.to_thread(workspace.choose_columns, made, chosen)
            except ImporterError as failure:
                error = failure.on_page
            else:
                if made.report is not None:
                    audit.record("columns", user_of(request).name, **made.facts,
                                 chosen={k: v for k, v in chosen.items() if v})  # fmt: skip
                    return RedirectResponse(f"/uploads/{made.id}", status_code=303)
        choices, samples = field_choices(made)
        status = 400 if error or (request.method == "POST" and made.report is None) else 200
        return page(
            request,
            "columns.html",
            status,
            upload=made,
            choices=choices,
            samples=samples,
            error=error or made.missing,
        )

    def wants_json(request: Request) -> bool:
        return "application/json" in request.headers.get("accept", "")

    async def corrected_answer(
        request: Request, made: Upload, said: str, status: int = 200, anchor: str = ""
    ) -> Response:
        """After a correction: JSON for the page's script (the counts, the row's state),
        else back to the sheet (a page without scripts)."""
        if wants_json(request):
            report = made.report
            body = {
                "ok": status == 200,
                "said": said,
                "invalid": report.invalid_count if report else None,
                "rows": report.row_count if report else None,
            }
            return JSONResponse(body, status_code=status)
        if status != 200:
            return refused(request, said, status)
        return RedirectResponse(f"/uploads/{made.id}{anchor}", status_code=303)

    async def cells(request: Request) -> Response:
        """Correct one cell (``row``, ``column``, ``value``): the sheet checked again."""
        posted = await upload_form(request)
        if isinstance(posted, Response):
            return posted
        form, made = posted
        row, column = str(form.get("row") or ""), str(form.get("column") or "")
        value = str(form.get("value") or "")
        if made.report is None or not row.isdigit():
            return await corrected_answer(request, made, "No such cell.", 400)
        number = int(row)
        frame = made.report.table.frame
        if number not in frame.index or column not in frame.columns:
            return await corrected_answer(request, made, "No such cell.", 400)
        old = str(frame.at[number, column])
        if value == old:
            return await corrected_answer(request, made, "unchanged", anchor=f"#row-{number}")
        who = user_of(request).name
        change = Correction(number, column, old, value, who, time.time())
        try:
            await asyncio.to_thread(workspace.correct, made, [change])
        except ImporterError as error:
            audit.record("refused", who, what="correction", **made.facts, row=number,
                         column=column, reason=error.on_page)  # fmt: skip
            return await corrected_answer(request, made, error.on_page, 409)
        audit.record("correction", who, **made.facts, row=number, column=column, cells=1)
        return await corrected_answer(request, made, "corrected", anchor=f"#row-{number}")

    async def replace_all(request: Request) -> Response:
        """Correct a whole column: every cell of ``column`` holding ``old`` becomes ``new``;
        without ``apply``, the preview of what would change (and how many)."""
        posted = await upload_form(request)
        if isinstance(posted, Response):
            return posted
        form, made = posted
        if made.report is None:
            return RedirectResponse(f"/uploads/{made.id}/columns", status_code=303)
        column, old = str(form.get("column") or ""), str(form.get("old") or "")
        new = str(form.get("new") or "")
        frame = made.report.table.frame
        if column not in frame.columns:
            return refused(request, "No such column in this sheet.", 400)
        rows = [int(r) for r in frame.index[frame[column].astype(str) == old]]
        if not rows or new == old:
            return RedirectResponse(f"/uploads/{made.id}", status_code=303)
        if form.get("apply") != "1" or str(form.get("count") or "") != str(len(rows)):
            preview = {"column": column, "old": old, "new": new, "rows": rows}
            return page(request, "replace.html", upload=made, preview=preview)
        who = user_of(request).name
        now = time.time()
        changes = [Correction(row, column, old, new, who, now) for row in rows]
        try:
            await asyncio.to_thread(workspace.correct, made, changes)
        except ImporterError as error:
            audit.record("refused", who, what="correction", **made.facts, column=column,
                         reason=error.on_page)  # fmt: skip
            return refused(request, error.on_page, 409)
        audit.record("correction", who, **made.facts, column=column, cells=len(changes))
        return RedirectResponse(f"/uploads/{made.id}", status_code=303)

    async def others_rows(request: Request, made: Upload) -> list[str | None]:
        """The owners, a row each, of the rows an update of ``made`` would change that
        runs of someone else created (none where the account has no key to update by)."""
        if not made.account.key or not rules.named:
            return []
        user = user_of(request)
        owners = await asyncio.to_thread(workspace.change_owners, made)
        return [owner for owner in owners if not user.is_(owner)]

    async def refuse_update(request: Request, made: Upload, form: FormData) -> Response | None:
        """An update that would change rows of others' runs: refused unless the user may
        manage those runs and typed their count; ``None``: it may go on."""
        others = await others_rows(request, made)
        if not others:
            return None
        user = user_of(request)
        names = ", ".join(rules.others(user, others))
        counted = f"{len(others)} of the rows to change were created by runs of {names}"
        if not all(rules.may_manage(user, made.account, owner) for owner in others):
            said = f"{counted}: only they, a manager of {made.account.name} or an admin may."
            status = 403
        elif str(form.get("others") or "").strip() != str(len(others)):
            said = f"{counted}: type {len(others)} in “Others' rows” to change them too."
            status = 409
        else:
            return None
        audit.record("refused", user.name, what="update", **made.facts, reason=said)
        return refused(request, said, status)

    async def start(request: Request) -> Response:
        posted = await upload_form(request)
        if isinstance(posted, Response):
            return posted
        form, made = posted
        if form.get("mode") == "update" and (refusal := await refuse_update(request, made, form)):
            return refusal
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
        # An update changes what exists at the vendor: an event of its own in the log.
        audit.record(
            "update" if run.mode == "update" else "run",
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
            again = await asyncio.to_thread(workspace.reread, made, order)
        except ImporterError as error:
            return refused(request, str(error))
        return RedirectResponse(f"/uploads/{again.id}", status_code=303)

    def find_run(request: Request) -> WebRun | None:
        """The run named in the path, if the request's user may see it."""
        run = workspace.runs.get(request.path_params["run"])
        if run is None or not rules.may_see_run(user_of(request), run.upload.account, run.who):
            return None
        return run

    async def state_of(run: WebRun) -> dict[str, Any]:
        """A run's status: its snapshot and what it shares its account with."""
        return {**run.snapshot(), "sharing": await asyncio.to_thread(workspace.sharing, run)}

    async def show_run(request: Request) -> Response:
        run = find_run(request)
        if run is None:
            return refused(request, "No such run on this server (see History).", 404)
        return page(request, "run.html", run=run, state=await state_of(run))

    async def status(request: Request) -> Response:
        run = find_run(request)
        if run is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        return JSONResponse(await state_of(run))

    async def events(request: Request) -> Response:
        run = find_run(request)
        if run is None:
            return PlainTextResponse("no such run", status_code=404)
        return StreamingResponse(
            _events(request, run, state_of),
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
        if not rules.may_manage(user_of(request), run.upload.account, run.who):
            said = f"This run is {run.who}'s: ask them, a manager of the account or an admin."
            return refused(request, said, 403)
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
        return page(request, "history.html", entries=await history_of(request))

    async def find_entry(request: Request) -> dict[str, Any] | None:
        """The journal's run named in the path, if the request's user may see it."""
        wanted = (request.path_params["account"], int(request.path_params["number"]))
        for entry in await history_of(request):
            if (entry["account"].slug, entry["id"]) == wanted:
                return entry
        return None

    async def old_result(request: Request) -> Response:
        entry = await find_entry(request)
        if entry is not None:
            path = workspace.result_file(str(entry["summary"].get("result", "")))
            if path is not None:
                return FileResponse(path, media_type=_XLSX, filename=path.name)
        return PlainTextResponse("no result sheet for that run", status_code=404)

    async def undo(request: Request) -> Response:
        form = None
        if request.method == "POST":  # the token first, as every form: nothing told without
            try:
                form = await check_csrf(request)
            except CsrfError:
                return PlainTextResponse("the form expired: reload the page", status_code=403)
        entry = await find_entry(request)
        if entry is None:  # no such account or run, or not this user's to see: alike
            return refused(request, "No such run on this server (see History).", 404)
        account, number = entry["account"], int(request.path_params["number"])
        owner = entry["owner"] or "someone else"
        if not entry["manage"]:
            said = (
                f"Run {number} of {account.name} is {owner}'s: only they, a manager of the "
                "account or an admin may undo it."
            )
            return refused(request, said, 403)
        # Someone else's run: undone only by typing the count, whatever the guard's limit.
        others = bool(rules.others(user_of(request), [entry["owner"]]))
        if form is None:  # GET: the confirm step: what would go, and the count
            try:
                plan = await asyncio.to_thread(undo_plan, workspace, account, number)
            except ImporterError as error:
                return refused(request, error.on_page, 400)
            if not plan.live:
                said = f"Run {plan.run_id} of {account.name} has nothing left to delete."
                entries = await history_of(request)
                return page(request, "history.html", 409, entries=entries, notice=said)
            if others:
                plan = replace(plan, typed=True)
            return page(
                request, "undo.html", account=account, plan=plan, owner=owner if others else None
            )
        confirm = str(form.get("confirm") or "").strip()
        expect = str(form.get("expect") or "").strip()
        facts = {"account": account.name, "run": number}
        who = request.state.session.who
        if others and (not confirm.isdigit() or confirm != expect):
            said = (
                f"Run {number} is {owner}'s: type the number of sessions to delete "
                f"({expect or 'shown on the confirm page'}) to undo it."
            )
            audit.record("refused", who, what="undo", **facts, owner=owner, reason=said)
            return refused(request, said, 409)
        try:
            said = await asyncio.to_thread(
                undo_run,
                workspace,
                account,
                number,
                int(confirm) if confirm.isdigit() else None,
                form.get("dry") == "1",
                int(expect) if expect.isdigit() else None,
                who,
            )
        except ImporterError as error:  # in the page's words (the guard's "Confirm count")
            audit.record("refused", who, what="undo", **facts, reason=error.on_page)
            return refused(request, error.on_page, 409 if error.exit_code == 4 else 400)
        audit.record(
            "undo",
            who,
            **facts,
            owner=entry["owner"],
            dry_run=form.get("dry") == "1",
            said=said,
        )
        return page(request, "history.html", entries=await history_of(request), notice=said)

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
        Route("/uploads/{upload}/columns", columns, methods=["GET", "POST"]),
        Route("/uploads/{upload}/cells", cells, methods=["POST"]),
        Route("/uploads/{upload}/replace", replace_all, methods=["POST"]),
        Route("/uploads/{upload}/corrected", as_typed),
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


async def _events(
    request: Request, run: WebRun, state_of: Callable[[WebRun], Awaitable[dict[str, Any]]]
) -> AsyncIterator[str]:
    """Server-sent events: the run's state whenever it changes (its rows, or what it shares
    its account with: looked at every second), until it ends."""
    seen: tuple[int, Any] = (-1, None)
    ticks = 0
    sharing: Any = None
    while True:
        if ticks % 4 == 0 or run.version != seen[0]:
            snapshot = await state_of(run)
            sharing = snapshot["sharing"]
            if (run.version, sharing) != seen:
                seen = (run.version, sharing)
                yield f"event: progress\ndata: {json.dumps(snapshot)}\n\n"
                if snapshot["state"] in ("finished", "failed"):
                    return
        ticks += 1
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.25)
