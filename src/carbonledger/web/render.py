"""Templates, the page context every page gets, and errors shown as pages.

Web routes use :class:`WebRoute`: a carbonledger error or a request that fails
validation becomes an HTML page with the API's status code (never a 500, and
never the API's problem+json in a browser); a page that needs a session sends
the browser to the sign-in page and back.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from carbonledger import __version__
from carbonledger.api.context import AppContext
from carbonledger.api.problems import STATUS
from carbonledger.errors import CarbonLedgerError, PermissionDenied
from carbonledger.web.charts import fmt
from carbonledger.web.session import (
    ANON_COOKIE,
    WebUser,
    csrf_ok,
    csrf_token,
    current_user,
    ensure_anon,
)

T = TypeVar("T")

__all__ = [
    "CsrfFailed",
    "SignInRequired",
    "WebRoute",
    "check_csrf",
    "context",
    "render",
    "require_user",
    "write",
]

env = Environment(
    loader=PackageLoader("carbonledger.web", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _t(value: Decimal | str | None, places: int = 3) -> str:
    return "" if value is None else fmt(Decimal(value), places)


def _kg_to_t(value: Decimal | str | None, places: int = 3) -> str:
    return "" if value is None else fmt(Decimal(value) / 1000, places)


def _short(address: str | None) -> str:
    a = str(address or "")
    return a if len(a) < 14 else f"{a[:6]}…{a[-4:]}"


env.filters["t"] = _t
env.filters["kg_to_t"] = _kg_to_t
env.filters["short"] = _short


class SignInRequired(PermissionDenied):
    """The page needs a signed-in user; the browser is sent to the sign-in page."""


class CsrfFailed(PermissionDenied):
    """A form came without this session's CSRF token."""


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def require_user(request: Request) -> WebUser:
    user = current_user(context(request), request)
    if user is None:
        raise SignInRequired("sign in to see this page")
    return user


def check_csrf(request: Request, sent: str) -> None:
    """Refuse a form without the CSRF token of the current session (or anonymous cookie)."""
    ctx = context(request)
    if not csrf_ok(ctx, request, current_user(ctx, request), sent):
        raise CsrfFailed(
            "this form is out of date or came from another site (CSRF check failed):"
            " reload the page and try again"
        )


def write(ctx: AppContext, work: Callable[[], T], *, group: bool = False) -> T:
    """Run a writing service call as the API does: one writer at a time.

    ``group=True`` (imports, which need no receipt until the end) goes through
    ``AppContext.write``, which shares the commit with other requests when the ledger
    is behind group commit; other writes read their receipts at once, so they run
    under the lock and commit on their own.
    """
    if group:
        return ctx.write(work)
    with ctx.lock:
        return work()


def render(request: Request, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    """Render ``template`` with the page context: user, CSRF token, ledger and navigation."""
    ctx = context(request)
    user = values.pop("user", None) or current_user(ctx, request)
    anon = None if user is not None else ensure_anon(request)
    state = ctx.ledger.state()
    html = env.get_template(template).render(
        request=request,
        path=request.url.path,
        user=user,
        csrf=csrf_token(ctx, request, user),
        ledger_id=state.ledger_id,
        version=__version__,
        orgs=sorted(state.orgs),
        **values,
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
        " frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if anon:
        response.set_cookie(
            ANON_COOKIE, anon, httponly=True, samesite="strict", path="/", max_age=86400
        )
    return response


def _status(exc: CarbonLedgerError) -> int:
    for kind, status, _title in STATUS:
        if isinstance(exc, kind):
            return status
    return 400


def error_page(request: Request, exc: Exception) -> Response:
    if isinstance(exc, SignInRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)
    if isinstance(exc, RequestValidationError):
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
        )
        return render(request, "error.html", status=422, title="Bad request", detail=detail)
    status = _status(exc) if isinstance(exc, CarbonLedgerError) else 400
    titles = {401: "Not signed in", 403: "Not allowed", 404: "Not found", 409: "Conflict"}
    return render(
        request,
        "error.html",
        status=status,
        title=titles.get(status, "Could not do that"),
        detail=str(exc),
    )


class WebRoute(APIRoute):
    """An API route whose errors are pages (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except (CarbonLedgerError, RequestValidationError) as exc:
                return error_page(request, exc)

        return handle
