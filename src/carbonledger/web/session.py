"""Browser sessions: the bearer token in a cookie, CSRF tokens, and the two ways to sign in.

The browser holds no key. A user either

* lets the server unlock *their own* keystore held in the ledger home
  (``keys/ORG/NAME.json``, or the admin's): the server signs the sign-in
  challenge with it and opens an opt-in key session, exactly as
  ``POST /api/v1/auth/login`` does with a passphrase; or
* signs the challenge message elsewhere (a wallet's ``personal_sign``) and
  pastes the signature: a read-only session, since the server holds no key.

Either way the result is the API's bearer token, kept in an HttpOnly,
SameSite=Strict cookie. Every form carries a CSRF token: an HMAC, under the
server's secret, of the session token (or, before sign-in, of a random
anonymous cookie), so it is per session and needs no server-side store.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from carbonledger.api.context import AppContext
from carbonledger.core.identities import is_active
from carbonledger.crypto.keys import PrivateKey
from carbonledger.crypto.recipes import sign_personal_message
from carbonledger.errors import CarbonLedgerError, InvalidInput, PermissionDenied
from carbonledger.services.signin import TOKEN_SECONDS, Actor

__all__ = [
    "ANON_COOKIE",
    "SESSION_COOKIE",
    "WebUser",
    "clear_session",
    "csrf_ok",
    "csrf_token",
    "current_user",
    "ensure_anon",
    "keystore_signin",
    "resolve_account",
    "set_session",
    "signature_signin",
    "signin_challenge",
]

SESSION_COOKIE = "cl_session"
ANON_COOKIE = "cl_anon"
SIGNIN_URI = "/signin"


@dataclass(frozen=True)
class WebUser:
    """The signed-in browser user: the API's actor and the token in their cookie."""

    actor: Actor
    token: str

    @property
    def address(self) -> str:
        return self.actor.address

    @property
    def org(self) -> str | None:
        org = self.actor.identity.get("org")
        return None if org is None else str(org)

    @property
    def name(self) -> str:
        return str(self.actor.identity.get("name") or self.address)

    @property
    def roles(self) -> list[str]:
        return [str(r) for r in self.actor.identity.get("roles", ())]

    @property
    def key(self) -> PrivateKey | None:
        """The key unlocked for this session, if the user opted in."""
        return self.actor.key


def current_user(ctx: AppContext, request: Request) -> WebUser | None:
    """The user of the session cookie, or None (absent, expired, forged or revoked)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        actor = ctx.signin.actor_for_token(token)  # the API's own check: one code path
    except (CarbonLedgerError, ValueError, KeyError):
        return None
    return WebUser(actor, token)


def _mac(ctx: AppContext, purpose: str, value: str) -> str:
    return hmac.new(ctx.signin.secret, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def csrf_token(ctx: AppContext, request: Request, user: WebUser | None) -> str:
    """The CSRF token forms of this session carry ("" before the anonymous cookie is set)."""
    if user is not None:
        return _mac(ctx, "csrf-session", user.token)
    anon = request.cookies.get(ANON_COOKIE) or getattr(request.state, "anon", "")
    return _mac(ctx, "csrf-anon", anon) if anon else ""


def csrf_ok(ctx: AppContext, request: Request, user: WebUser | None, sent: str) -> bool:
    expected = csrf_token(ctx, request, user)
    return bool(expected) and hmac.compare_digest(expected, sent or "")


def ensure_anon(request: Request) -> str | None:
    """A new anonymous id when the browser has none (set on the response by the renderer)."""
    if request.cookies.get(ANON_COOKIE):
        return None
    anon = secrets.token_hex(16)
    request.state.anon = anon
    return anon


def _cookie_args(request: Request) -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
        "path": "/",
    }


def set_session(request: Request, response: Response, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=TOKEN_SECONDS, **_cookie_args(request))


def clear_session(ctx: AppContext, request: Request, response: Response) -> None:
    """Forget the cookie and lock the keystore unlocked for this session."""
    user = current_user(ctx, request)
    if user is not None:
        ctx.signin.logout(user.token)
    response.delete_cookie(SESSION_COOKIE, **_cookie_args(request))


def resolve_account(ctx: AppContext, who: str) -> tuple[str, str | None, str]:
    """``admin`` or ``ORG/NAME`` -> (address, org, name) of an active identity."""
    who = who.strip()
    state = ctx.ledger.state()
    if who.lower() in ("admin", "network admin"):
        return str(state.admin), None, "admin"
    org, sep, name = who.partition("/")
    if not sep or not org or not name:
        raise InvalidInput("account: write ORG/NAME (for example northwind/alice), or admin")
    for ident in state.identities.values():
        if ident.get("org") == org and ident.get("name") == name:
            if not is_active(ident):
                raise PermissionDenied(f"account: {who} is {ident.get('status')}, not active")
            return str(ident["address"]), org, name
    raise InvalidInput(f"account: no identity {who!r} on this ledger")


def signin_challenge(ctx: AppContext, address: str) -> dict[str, str]:
    return ctx.signin.challenge(address.strip(), domain="carbonledger", uri=SIGNIN_URI)


def keystore_signin(ctx: AppContext, who: str, passphrase: str) -> dict[str, Any]:
    """Unlock the user's keystore held here, sign the challenge with it, open a key session."""
    if not passphrase:
        raise InvalidInput("passphrase: required to unlock your keystore")
    address, org, name = resolve_account(ctx, who)
    try:
        key = ctx.home.key(passphrase) if org is None else ctx.home.user_key(org, name, passphrase)
    except CarbonLedgerError as exc:
        raise PermissionDenied(
            f"passphrase: could not unlock the keystore of {who.strip()} ({exc})"
        ) from exc
    if key.address != address:
        raise PermissionDenied("account: the keystore held here is for another key")
    issued = signin_challenge(ctx, address)
    signature = sign_personal_message(key, issued["message"]).hex()
    return ctx.signin.login(issued["message"], signature, passphrase)


def signature_signin(ctx: AppContext, message: str, signature: str) -> dict[str, Any]:
    """Check a challenge signed elsewhere: a session without a key (read-only)."""
    if not signature.strip():
        raise InvalidInput("signature: paste the signature of the message (hex)")
    # Browsers send textarea line breaks as CRLF; the challenge was issued with LF.
    return ctx.signin.login(message.replace("\r\n", "\n"), signature.strip())
