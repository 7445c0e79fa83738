"""The API's callers: bearer tokens from sign-in, and service accounts (ERP integrations).

Sign-in itself (``POST /api/v1/auth/challenge`` and ``/auth/login``, EIP-4361
style) is :class:`carbonledger.services.signin.SignIn`, shared with the web UI.
ERP integrations use an API token (``Authorization: Bearer clk_...``, or the
``vault_token`` / ``web_socket_key`` headers opentaps SEAS sends).
"""

from __future__ import annotations

from fastapi import Request

from carbonledger.api.context import AppContext
from carbonledger.core.identities import is_active
from carbonledger.errors import PermissionDenied, SignatureInvalid
from carbonledger.services.signin import TOKEN_SECONDS, Actor

__all__ = ["TOKEN_SECONDS", "Actor", "actor_of"]


def actor_of(ctx: AppContext, request: Request, *, user_id: str | None = None) -> Actor:
    """The authenticated caller (401 if none); ``user_id`` must match a service account's name."""
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    api_token = (
        token
        if token.startswith("clk_")
        else (request.headers.get("vault_token") or request.headers.get("web_socket_key") or "")
    )
    if api_token:
        account = ctx.service_account(api_token)
        if account is None:
            raise SignatureInvalid("unknown API token")
        if user_id is not None and user_id != account.name:
            raise PermissionDenied(f"userId {user_id!r} is not this token's account")
        ident = ctx.identity(account.address)  # at every request: a revocation holds at once
        if ident is None or not is_active(ident):
            raise PermissionDenied(f"service account {account.name!r} is not active")
        return Actor(account.address, ident, ctx.service_key(account))
    if not token:
        raise SignatureInvalid("sign in first: POST /api/v1/auth/challenge then /auth/login")
    return ctx.signin.actor_for_token(token)
