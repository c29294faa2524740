"""The labeling web app: reviewers compare answers side by side; admins watch progress and export.

Run it with ``posttrain label serve --db URL`` (accounts from ``posttrain label add-user``). Pages are
rendered on the server (Jinja2); ``static/app.js`` only adds keyboard shortcuts. Security:

- passwords are Argon2id hashes (the store). At most ``LoginPolicy.max_concurrent_checks`` (2)
  hashes are verified at once, since each takes Argon2's memory (64 MiB by default); a login that
  finds no free slot within ``queue_seconds`` gets a 503 and is not counted as a failure;
- login throttling: every attempt is counted in the database *before* its password is checked,
  in one transaction, so a burst of concurrent guesses gets no more checks than the policy allows.
  Counted per account name *and client address*: the first 3 failures are free, then each further
  attempt waits 1 s, 2 s, 4 s, ... up to 5 minutes after the previous one (429 until then). A
  success clears the account's counter for that address. Because the key includes the address,
  an attacker elsewhere slows down only their own guesses, never the real user's login; there is
  no lockout, and the right password works once the wait is over. Per address across all names,
  30 free failures, then the same doubling, limits guessing many accounts from one place. A key
  untouched for an hour starts afresh;
- the client address is the socket's peer; ``X-Forwarded-For`` is read only when the peer is one
  of ``trusted_proxies`` (``--trusted-proxy``), and then from the right, skipping trusted proxies;
- the session is a signed cookie (HttpOnly, SameSite=Lax, Secure unless ``secure_cookies=False``),
  renewed at login; every form carries a per-session CSRF token checked on every POST. The cookie
  names the account's session epoch, checked on every request: logout and a password reset
  raise the epoch, which ends every session of that account (every browser, and any copy of a
  cookie made before);
- model output is untrusted: markdown is rendered with raw HTML off and images off, everything else
  is escaped by Jinja2, and a Content-Security-Policy allows scripts from this server's files only.

Every judgement is committed before the response (a 303 to the next item) is sent, so what a
reviewer saw acknowledged survives a restart; a re-sent form (same ``submission_id``) is stored once.
Mistakes in a request get a 4xx page saying what was wrong.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import math
import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from posttrain.errors import UserError
from posttrain.feedback.store import (
    ASPECTS,
    EXPORT_FORMATS,
    FeedbackStore,
    LoginBackoff,
    NewJudgement,
    NotAssignedError,
    NotFoundError,
    ReviewerAccount,
    export_jsonl,
)

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# Raw HTML off: a model answer's "<script>" or "<img onerror>" is shown as text. Images off: an
# answer must not make the reviewer's browser fetch URLs. Link targets are checked by markdown-it
# (javascript:, vbscript:, file: and data: URLs are refused).
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).disable("image")


def render_markdown(text: str) -> Markup:
    """Safe HTML for untrusted markdown (see ``_MARKDOWN``)."""
    return Markup(_MARKDOWN.render(text))


@dataclass(frozen=True)
class LoginPolicy:
    """Login throttling and the bound on concurrent password checks (see the module docstring)."""

    per_account: LoginBackoff = LoginBackoff()  # one account name from one client address
    per_address: LoginBackoff = LoginBackoff(free_failures=30)  # every name from one client address
    max_concurrent_checks: int = 2  # Argon2 verifications at once (each takes the hash's memory cost)
    queue_seconds: float = 5.0  # how long a login waits for a free check before a 503
    clock: Callable[[], float] = field(default=time.time, compare=False)  # seconds since the epoch (UTC)

    def limits(self, name: str, address: str) -> dict[str, LoginBackoff]:
        """The throttle keys of an attempt, account key first. Hashed: typed-in names are not kept."""
        return {_throttle_key("account", name, address): self.per_account,
                _throttle_key("address", address): self.per_address}

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC).replace(tzinfo=None)


def _throttle_key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


class LoginBusy(Exception):
    """Every password-check slot stayed taken for the policy's ``queue_seconds``."""


def parse_trusted_proxies(values: Sequence[str]) -> list[str]:
    """Proxy addresses or networks (``10.0.0.1``, ``10.0.0.0/8``, ``::1``), checked; UserError names a bad one."""
    checked = []
    for value in values:
        try:
            network = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise UserError(f"--trusted-proxy {value!r} is not an IP address or network "
                            "(e.g. 127.0.0.1 or 10.0.0.0/8)") from None
        checked.append(str(network.network_address) if network.num_addresses == 1 else str(network))
    return checked


class LoginRequired(Exception):
    pass


def create_app(store: FeedbackStore, *, secure_cookies: bool = True, session_hours: float = 12.0,
               login_policy: LoginPolicy | None = None, trusted_proxies: Sequence[str] = ()) -> FastAPI:
    """The app over ``store``. ``secure_cookies=False`` lets the session cookie travel over plain HTTP;
    ``trusted_proxies`` (addresses or networks) may set the client address with ``X-Forwarded-For``."""
    app = FastAPI(title="posttrain labeling", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["markdown"] = render_markdown
    policy = login_policy or LoginPolicy()
    check_slots = threading.BoundedSemaphore(policy.max_concurrent_checks)
    app.add_middleware(SessionMiddleware, secret_key=store.session_secret(), session_cookie="posttrain_label",
                       max_age=int(session_hours * 3600), same_site="lax", https_only=secure_cookies)
    trusted = parse_trusted_proxies(trusted_proxies)
    if trusted:  # added last, so it runs first: every later layer sees the real client address
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def page(request: Request, template: str, status_code: int = 200, headers: dict[str, str] | None = None,
             **context: Any) -> HTMLResponse:
        context.update(user=_user_or_none(request), csrf_token=_csrf_token(request))
        return templates.TemplateResponse(request, template, context, status_code=status_code, headers=headers)

    def error_page(request: Request, status_code: int, message: str,
                   headers: dict[str, str] | None = None) -> HTMLResponse:
        return page(request, "error.html", status_code=status_code, headers=headers, status=status_code,
                    message=message)

    def _user_or_none(request: Request) -> ReviewerAccount | None:
        name = request.session.get("reviewer")
        account = store.account(name) if name else None
        if account is None or request.session.get("epoch") != account.session_epoch:
            return None  # logged out, revoked (logout, password reset) or deleted
        return account

    def current_user(request: Request, *, admin: bool = False) -> ReviewerAccount:
        user = _user_or_none(request)
        if user is None:
            request.session.pop("reviewer", None)
            raise LoginRequired()
        if admin and not user.is_admin:
            raise HTTPException(403, "this page is for admins")
        return user

    # ---- errors: always a page that says what was wrong ----

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _error: LoginRequired):
        if request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        return error_page(request, 401,
                          "you are not logged in (or your session expired); log in and send the form again")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        message = error.detail if error.status_code != 404 or error.detail != "Not Found" else "no such page"
        return error_page(request, error.status_code, str(message))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError):
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error_page(request, 400, f"bad request: {where}: {first.get('msg', 'invalid value')}")

    @app.exception_handler(UserError)
    async def user_error(request: Request, error: UserError):
        status = 404 if isinstance(error, NotFoundError) else 403 if isinstance(error, NotAssignedError) else 400
        return error_page(request, status, str(error))

    # ---- pages ----

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)  # no icon, and no 404 in every browser console

    @app.get("/login")
    def login_form(request: Request):
        return page(request, "login.html")

    async def check_password(name: str, password: str) -> ReviewerAccount | None:
        """``store.authenticate`` in a worker thread, once one of the bounded check slots is free."""
        # Wait on the event loop, not in a worker thread: queued logins then hold no thread.
        deadline = time.monotonic() + policy.queue_seconds
        while not check_slots.acquire(blocking=False):
            if time.monotonic() >= deadline:
                raise LoginBusy()
            await asyncio.sleep(0.01)
        try:
            return await run_in_threadpool(store.authenticate, name, password)
        finally:
            check_slots.release()

    @app.post("/login")
    async def login(request: Request):
        form = await _form(request)
        _check_csrf(request, form)
        name, password = form.get("name", "").strip(), form.get("password", "")
        limits = policy.limits(name, request.client.host if request.client else "?")
        wait = await run_in_threadpool(store.count_login_attempt, limits, policy.now())
        if wait > 0:
            return error_page(request, 429, f"too many failed logins; try again in {math.ceil(wait)} seconds",
                              headers={"Retry-After": str(math.ceil(wait))})
        try:
            account = await check_password(name, password)
        except LoginBusy:
            await run_in_threadpool(store.uncount_login_attempt, list(limits))  # never checked: no failure
            return error_page(request, 503, "the server is busy checking other logins; try again in a few seconds",
                              headers={"Retry-After": "5"})
        if account is None:
            return page(request, "login.html", status_code=401, error="wrong name or password", name=name)
        account_key = next(iter(limits))
        await run_in_threadpool(store.uncount_login_attempt, list(limits), forget=(account_key,))
        request.session.clear()  # a fresh session (and CSRF token) at login: no fixation
        request.session.update(reviewer=account.name, epoch=account.session_epoch)
        return RedirectResponse("/", status_code=303)

    @app.post("/logout")
    async def logout(request: Request):
        _check_csrf(request, await _form(request))
        user = _user_or_none(request)
        if user is not None:  # a revoked cookie cannot log anyone out again
            await run_in_threadpool(store.end_sessions, user.name)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/")
    def home(request: Request):
        user = current_user(request)
        campaigns = [(name, *store.reviewer_progress(name, user.name)) for name in store.campaign_names()]
        return page(request, "home.html", campaigns=campaigns)

    @app.get("/c/{campaign}/next")
    def next_item(request: Request, campaign: str):
        user = current_user(request)
        item = store.next_item(campaign, user.name)
        if item is None:
            done, _left = store.reviewer_progress(campaign, user.name)
            return page(request, "done.html", campaign=campaign, done=done)
        return RedirectResponse(f"/c/{campaign}/items/{item.item_id}", status_code=303)

    @app.get("/c/{campaign}/items/{item_id}")
    def show_item(request: Request, campaign: str, item_id: str):
        user = current_user(request)
        item = store.item_for(campaign, item_id, user.name)
        done, left = store.reviewer_progress(campaign, user.name)
        return page(request, "item.html", item=item, aspects=ASPECTS, done=done, left=left,
                    shown_at=f"{time.time():.3f}", submission_id=secrets.token_hex(16),
                    letters="ABCDEFGHIJKLMNOPQRSTUVWXYZ")

    @app.post("/c/{campaign}/items/{item_id}")
    async def judge(request: Request, campaign: str, item_id: str):
        user = current_user(request)
        form = await _form(request)
        _check_csrf(request, form)
        judgement = _judgement_from_form(form, item_id, user.name)
        await run_in_threadpool(store.item_for, campaign, item_id, user.name)  # the item is theirs, in this campaign
        await run_in_threadpool(store.add_judgement, judgement)
        return RedirectResponse(f"/c/{campaign}/next", status_code=303)

    @app.get("/admin")
    def admin(request: Request):
        current_user(request, admin=True)
        campaigns = [(store.progress(name), store.agreement(name)) for name in store.campaign_names()]
        return page(request, "admin.html", campaigns=campaigns, formats=EXPORT_FORMATS)

    @app.get("/admin/c/{campaign}/export")
    def export(request: Request, campaign: str, format: str = "records"):
        current_user(request, admin=True)
        if format not in EXPORT_FORMATS:
            raise HTTPException(400, f"unknown export format {format!r}; choose one of: {', '.join(EXPORT_FORMATS)}")
        body = export_jsonl(store.export_records(campaign=campaign), format)
        return Response(body, media_type="application/x-ndjson",
                        headers={"Content-Disposition": f'attachment; filename="{campaign}-{format}.jsonl"'})

    return app


# ---- forms ---------------------------------------------------------------------------------


async def _form(request: Request) -> dict[str, str]:
    try:
        form = await request.form()
    except Exception:  # noqa: BLE001  (any parser failure here is a malformed body, the client's mistake)
        raise HTTPException(400, "the request body is not a readable form") from None
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _csrf_token(request: Request) -> str:
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(32)
    return request.session["csrf"]


def _check_csrf(request: Request, form: dict[str, str]) -> None:
    expected = request.session.get("csrf")
    if not expected or not secrets.compare_digest(form.get("csrf_token", ""), expected):
        raise HTTPException(403, "the form's security token is missing or stale; reload the page and send it again")


def _judgement_from_form(form: dict[str, str], item_id: str, reviewer: str) -> NewJudgement:
    """A judgement from the item form's fields; UserError names the first bad field."""
    choice = form.get("preferred", "")
    if choice == "":
        raise UserError("choose the better answer (or tie) before sending")
    preferred = None if choice == "tie" else _integer(choice, "preferred")
    ratings: dict[int, dict[str, int]] = defaultdict(dict)
    for key, value in form.items():
        if key.startswith("rating-") and value != "":
            _, position, aspect = (key.split("-", 2) + ["", ""])[:3]
            ratings[_integer(position, key)][aspect] = _integer(value, key)
    seconds = None
    if form.get("shown_at"):
        try:
            seconds = min(max(time.time() - float(form["shown_at"]), 0.0), 86_400.0)
        except ValueError:
            raise UserError(f"shown_at must be a number, got {form['shown_at']!r}") from None
    return NewJudgement(item_id=item_id, reviewer=reviewer, preferred=preferred, ratings=dict(ratings),
                        harmful=form.get("harmful") in ("on", "true", "1"),
                        better_answer=form.get("better_answer") or None, seconds=seconds,
                        submission_id=form.get("submission_id", "")[:64] or None)


def _integer(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UserError(f"{field} must be a whole number, got {value!r}") from None
