"""Sign-in and sign-out pages (see :mod:`carbonledger.web.session` for how it works)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from carbonledger.core.identities import is_active
from carbonledger.errors import CarbonLedgerError
from carbonledger.web.render import WebRoute, check_csrf, context, render
from carbonledger.web.session import (
    clear_session,
    keystore_signin,
    set_session,
    signature_signin,
    signin_challenge,
)

__all__ = ["router"]

FormStr = Annotated[str, Form()]
router = APIRouter(route_class=WebRoute, include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no ``//host``) may be a redirect target."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""


def _landing(session: dict[str, Any], target: str) -> str:
    if target:
        return target
    return f"/orgs/{session['org']}" if session.get("org") else "/"


def _signin_page(request: Request, *, status: int = 200, **values: Any) -> Response:
    defaults: dict[str, Any] = {
        "example": _example_account(request),
        "title": "Sign in",
        "next": "",
        "who": "",
        "address": "",
        "message": "",
        "errors": {},
    }
    return render(request, "signin.html", status=status, **{**defaults, **values})


def _example_account(request: Request) -> str:
    """An account that can sign in here now: an active user whose keystore this home holds."""
    ctx = context(request)
    for ident in sorted(
        ctx.ledger.state().identities.values(), key=lambda i: (str(i.get("org")), str(i["name"]))
    ):
        org, name = ident.get("org"), ident.get("name")
        active = is_active(ident) and org and name
        if active and ctx.home.user_keystore(str(org), str(name)).exists():
            return f"{org}/{name}"
    return "admin"


def _error_field(exc: CarbonLedgerError, default: str) -> tuple[str, str]:
    field, sep, reason = str(exc).partition(": ")
    if sep and field.isidentifier():
        return field, reason
    return default, str(exc)


@router.get("/signin")
def signin(request: Request, next: str | None = None) -> Response:
    return _signin_page(request, next=safe_next(next))


@router.post("/signin/keystore")
def signin_keystore(
    request: Request,
    *,
    who: FormStr = "",
    passphrase: FormStr = "",
    csrf_token: FormStr = "",
    next: FormStr = "",
) -> Response:
    check_csrf(request, csrf_token)
    target = safe_next(next)
    try:
        session = keystore_signin(context(request), who, passphrase)
    except CarbonLedgerError as exc:
        field, reason = _error_field(exc, "who")
        return _signin_page(
            request, status=400, next=target, who=who, errors={f"ks_{field}": reason}
        )
    response = RedirectResponse(_landing(session, target), status_code=303)
    set_session(request, response, session["token"])
    return response


@router.post("/signin/challenge")
def signin_ask(
    request: Request,
    *,
    address: FormStr = "",
    csrf_token: FormStr = "",
    next: FormStr = "",
) -> Response:
    check_csrf(request, csrf_token)
    target = safe_next(next)
    try:
        issued = signin_challenge(context(request), address)
    except CarbonLedgerError as exc:
        return _signin_page(
            request, status=400, next=target, address=address, errors={"address": str(exc)}
        )
    return _signin_page(request, next=target, address=address, message=issued["message"])


@router.post("/signin/signature")
def signin_signed(
    request: Request,
    *,
    message: FormStr = "",
    signature: FormStr = "",
    address: FormStr = "",
    csrf_token: FormStr = "",
    next: FormStr = "",
) -> Response:
    check_csrf(request, csrf_token)
    target = safe_next(next)
    try:
        session = signature_signin(context(request), message, signature)
    except CarbonLedgerError as exc:
        return _signin_page(
            request,
            status=400,
            next=target,
            address=address,
            errors={"signature": f"{exc} (ask for a new message and sign it)"},
        )
    response = RedirectResponse(_landing(session, target), status_code=303)
    set_session(request, response, session["token"])
    return response


@router.post("/signout")
def signout(request: Request, csrf_token: FormStr = "") -> Response:
    ctx = context(request)
    check_csrf(request, csrf_token)
    response = RedirectResponse("/", status_code=303)
    clear_session(ctx, request, response)
    return response
