"""Sign-in without handing over keys (EIP-4361 style) and bearer tokens, for the API and the web UI.

A user asks for a challenge naming their address, the ledger, a nonce and an
expiry, signs it with their own key (``personal_sign``) and gets a bearer token
valid 15 minutes. A user whose encrypted keystore the home keeps may opt in to
unlock it for the session by sending its passphrase, so a browser can write
without holding a key. The API (``/api/v1/auth/...``) and the web UI's sign-in
page both go through :class:`SignIn`, so the two cannot drift apart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from carbonledger.core.identities import is_active
from carbonledger.crypto.keys import PrivateKey
from carbonledger.crypto.recipes import recover_personal_message
from carbonledger.errors import CarbonLedgerError, InvalidInput, PermissionDenied, SignatureInvalid
from carbonledger.ports.ledger import LedgerPort
from carbonledger.services.home import Home

__all__ = ["CHALLENGE_SECONDS", "TOKEN_SECONDS", "Actor", "SignIn"]

TOKEN_SECONDS = 15 * 60
CHALLENGE_SECONDS = 5 * 60
_CHECKED_MAX = 10_000  # tokens whose signature check is remembered


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


def _field(message: str, name: str) -> str:
    for line in message.splitlines():
        if line.startswith(f"{name}: "):
            return line[len(name) + 2 :]
    raise InvalidInput(f"message: no {name} line")


@dataclass
class SignIn:
    """Challenges, bearer tokens and opt-in key sessions of one server, on any ledger backend.

    ``secret`` signs the tokens (HMAC-SHA256); it lives as long as the server.
    """

    home: Home
    ledger: LedgerPort
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    challenges: dict[str, tuple[str, float]] = field(default_factory=dict)
    sessions: dict[str, tuple[PrivateKey, float]] = field(default_factory=dict)
    #: How to look one identity up (a server passes one that does not copy the state).
    identity: Callable[[str], dict[str, Any] | None] | None = None
    #: Tokens already checked: their address, session and expiry. Only the signature
    #: check is saved; expiry and the identity's status are checked at every request.
    _checked: dict[str, tuple[str, str | None, float]] = field(default_factory=dict)

    def challenge(self, address: str, *, domain: str, uri: str) -> dict[str, str]:
        """The message ``address`` signs to sign in, and its single-use nonce."""
        if not address.startswith("0x") or len(address) != 42:
            raise InvalidInput(f"address: {address!r} is not an Ethereum address")
        nonce = secrets.token_hex(8)
        now = time.time()
        self.challenges[nonce] = (address, now + CHALLENGE_SECONDS)
        ledger_id = self.ledger.state().ledger_id
        message = (
            f"{domain} wants you to sign in with your Ethereum account:\n{address}\n\n"
            f"Sign in to carbonledger ledger {ledger_id}.\n\n"
            f"URI: {uri}\nVersion: 1\nChain ID: 1\nNonce: {nonce}\n"
            f"Issued At: {_iso(now)}\nExpiration Time: {_iso(now + CHALLENGE_SECONDS)}"
        )
        return {"message": message, "nonce": nonce}

    def _token(self, address: str, expires: float, sid: str | None) -> str:
        claims = {"sub": address, "exp": int(expires), "sid": sid}
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        mac = hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()
        return f"{payload}.{mac}"

    def login(self, message: str, signature: str, passphrase: str | None = None) -> dict[str, Any]:
        """Check a signed challenge; a bearer token (and, with ``passphrase``, a key session)."""
        nonce = _field(message, "Nonce")
        pending = self.challenges.pop(nonce, None)
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
        ident = self.ledger.state().identities.get(address)
        if ident is None or not is_active(ident):
            raise PermissionDenied(f"{address} is not an active identity on this ledger")
        expires_at = time.time() + TOKEN_SECONDS
        sid: str | None = None
        if passphrase:
            org, name = ident.get("org"), ident.get("name")
            key = (
                self.home.key(passphrase)
                if org is None
                else self.home.user_key(str(org), str(name), passphrase)
            )
            if key.address != address:
                raise PermissionDenied("the keystore held here is for another key")
            sid = secrets.token_hex(16)
            self.sessions[sid] = (key, expires_at)
        return {
            "token": self._token(address, expires_at, sid),
            "address": address,
            "roles": ident["roles"],
            "org": ident.get("org"),
            "expires": _iso(expires_at),
            "session_key": sid is not None,
        }

    def _bearer(self, token: str) -> tuple[str, str | None]:
        checked = self._checked.get(token)
        if checked is None:
            payload, _, mac = token.partition(".")
            good = hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()
            if not mac or not hmac.compare_digest(mac, good):
                raise SignatureInvalid("the bearer token is not valid")
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            checked = (str(data["sub"]), data.get("sid"), float(data["exp"]))
            if len(self._checked) >= _CHECKED_MAX:
                self._checked.clear()  # expired tokens go too; live ones are checked again
            self._checked[token] = checked
        address, sid, expires = checked
        if time.time() > expires:
            self._checked.pop(token, None)
            raise SignatureInvalid("the bearer token expired; sign in again")
        return address, sid

    def _identity(self, address: str) -> dict[str, Any] | None:
        if self.identity is not None:
            return self.identity(address)
        return self.ledger.state().identities.get(address)

    def actor_for_token(self, token: str) -> Actor:
        """The signed-in caller of a bearer token (and the key unlocked for its session, if any)."""
        address, sid = self._bearer(token)
        ident = self._identity(address)
        if ident is None or not is_active(ident):
            raise PermissionDenied(f"{address} is no longer an active identity")
        session = self.sessions.get(sid) if sid else None
        key = session[0] if session and session[1] > time.time() else None
        return Actor(address, ident, key)

    def logout(self, token: str) -> None:
        """Lock the keystore unlocked for this token's session (the token itself just expires)."""
        try:
            _, sid = self._bearer(token)
        except CarbonLedgerError:
            return
        if sid:
            self.sessions.pop(sid, None)
