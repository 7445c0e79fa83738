"""Sign-in without handing over keys (EIP-4361 style), bearer tokens, service accounts.

* ``POST /api/v1/auth/challenge`` gives a message naming the address, the ledger,
  a nonce and an expiry; the user signs it (``personal_sign``) with their own key;
* ``POST /api/v1/auth/login`` checks the signature, the nonce and that the
  address is an active identity, and returns a bearer token valid 15 minutes;
  a user whose encrypted keystore this server keeps (enrolled here) may opt in
  to unlock it for the session by sending its passphrase, so the browser can
  write without holding a key;
* ERP integrations use an API token (``Authorization: Bearer clk_...``, or the
  ``vault_token`` / ``web_socket_key`` headers opentaps SEAS sends).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from carbonledger.api.context import AppContext
from carbonledger.core.identities import is_active
from carbonledger.crypto.keys import PrivateKey
from carbonledger.crypto.recipes import recover_personal_message
from carbonledger.errors import (
    CarbonLedgerError,
    InvalidInput,
    PermissionDenied,
    SignatureInvalid,
)

__all__ = ["TOKEN_SECONDS", "Actor", "actor_of", "challenge", "login"]

TOKEN_SECONDS = 15 * 60
CHALLENGE_SECONDS = 5 * 60


@dataclass(frozen=True)
class Actor:
    """Who is calling, and the key the server may sign with on their behalf (if any)."""

    address: str
    identity: dict[str, Any]
    key: PrivateKey | None

    def signing_key(self) -> PrivateKey:
        if self.key is None:
            raise PermissionDenied(
                "this server holds no key for you: sign the transaction yourself and POST it"
                " to /api/v1/transactions, or sign in with your keystore passphrase"
            )
        return self.key


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def challenge(ctx: AppContext, address: str, *, domain: str, uri: str) -> dict[str, str]:
    if not address.startswith("0x") or len(address) != 42:
        raise InvalidInput(f"address: {address!r} is not an Ethereum address")
    nonce = secrets.token_hex(8)
    now = time.time()
    ctx.challenges[nonce] = (address, now + CHALLENGE_SECONDS)
    ledger_id = ctx.ledger.state().ledger_id
    message = (
        f"{domain} wants you to sign in with your Ethereum account:\n{address}\n\n"
        f"Sign in to carbonledger ledger {ledger_id}.\n\n"
        f"URI: {uri}\nVersion: 1\nChain ID: 1\nNonce: {nonce}\n"
        f"Issued At: {_iso(now)}\nExpiration Time: {_iso(now + CHALLENGE_SECONDS)}"
    )
    return {"message": message, "nonce": nonce}


def _field(message: str, name: str) -> str:
    for line in message.splitlines():
        if line.startswith(f"{name}: "):
            return line[len(name) + 2 :]
    raise InvalidInput(f"message: no {name} line")


def _token(ctx: AppContext, address: str, expires: float, sid: str | None) -> str:
    claims = {"sub": address, "exp": int(expires), "sid": sid}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    mac = hmac.new(ctx.secret, payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{mac}"


def login(
    ctx: AppContext, message: str, signature: str, passphrase: str | None = None
) -> dict[str, Any]:
    nonce = _field(message, "Nonce")
    pending = ctx.challenges.pop(nonce, None)
    if pending is None:
        raise PermissionDenied("unknown or already used sign-in nonce")
    address, expires = pending
    if time.time() > expires:
        raise PermissionDenied("the sign-in challenge expired; ask for a new one")
    lines = message.splitlines()
    if len(lines) < 2 or lines[1] != address:
        raise PermissionDenied("the message names another address than the challenge")
    try:
        sig = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError as exc:
        raise InvalidInput("signature: not hex") from exc
    signer = recover_personal_message(message, sig)
    if signer != address:
        raise SignatureInvalid(f"the message is signed by {signer}, not {address}")
    ident = ctx.ledger.state().identities.get(address)
    if ident is None or not is_active(ident):
        raise PermissionDenied(f"{address} is not an active identity on this ledger")
    expires_at = time.time() + TOKEN_SECONDS
    sid: str | None = None
    if passphrase:
        org, name = ident.get("org"), ident.get("name")
        key = (
            ctx.home.key(passphrase)
            if org is None
            else ctx.home.user_key(str(org), str(name), passphrase)
        )
        if key.address != address:
            raise PermissionDenied("the keystore held here is for another key")
        sid = secrets.token_hex(16)
        ctx.sessions[sid] = (key, expires_at)
    return {
        "token": _token(ctx, address, expires_at, sid),
        "address": address,
        "roles": ident["roles"],
        "org": ident.get("org"),
        "expires": _iso(expires_at),
        "session_key": sid is not None,
    }


def _bearer(ctx: AppContext, token: str) -> tuple[str, str | None]:
    payload, _, mac = token.partition(".")
    good = hmac.new(ctx.secret, payload.encode(), hashlib.sha256).hexdigest()
    if not mac or not hmac.compare_digest(mac, good):
        raise SignatureInvalid("the bearer token is not valid")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if time.time() > data["exp"]:
        raise SignatureInvalid("the bearer token expired; sign in again")
    return str(data["sub"]), data.get("sid")


def actor_of(ctx: AppContext, request: Request, *, user_id: str | None = None) -> Actor:
    """The authenticated caller (401 if none); ``user_id`` must match a service account's name."""
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    api_token = (
        token
        if token.startswith("clk_")
        else (request.headers.get("vault_token") or request.headers.get("web_socket_key") or "")
    )
    state = ctx.ledger.state()
    if api_token:
        account = ctx.service_account(api_token)
        if account is None:
            raise SignatureInvalid("unknown API token")
        if user_id is not None and user_id != account.name:
            raise PermissionDenied(f"userId {user_id!r} is not this token's account")
        ident = state.identities.get(account.address)
        if ident is None or not is_active(ident):
            raise PermissionDenied(f"service account {account.name!r} is not active")
        return Actor(account.address, ident, ctx.service_key(account))
    if not token:
        raise SignatureInvalid("sign in first: POST /api/v1/auth/challenge then /auth/login")
    return actor_for_token(ctx, token)


def actor_for_token(ctx: AppContext, token: str) -> Actor:
    """The signed-in caller of a bearer token (and the key unlocked for its session, if any)."""
    address, sid = _bearer(ctx, token)
    ident = ctx.ledger.state().identities.get(address)
    if ident is None or not is_active(ident):
        raise PermissionDenied(f"{address} is no longer an active identity")
    session = ctx.sessions.get(sid) if sid else None
    key = session[0] if session and session[1] > time.time() else None
    return Actor(address, ident, key)


def logout(ctx: AppContext, token: str) -> None:
    """Lock the keystore unlocked for this token's session (the token itself just expires)."""
    try:
        _, sid = _bearer(ctx, token)
    except CarbonLedgerError:
        return
    if sid:
        ctx.sessions.pop(sid, None)
