"""Whether an identity may act now: one test, used by every rule and every surface.

An identity on the ledger is ``active`` from its enrolment until it is revoked
(``revoked``); nothing else is ever written. The test is written positively, so
an identity in any other state (a status a later version adds, a damaged
snapshot) is refused, never let through: who may sign, receive tokens or DAO
tokens, be granted a channel, be a guardian, or sign in all ask :func:`is_active`.
"""

from __future__ import annotations

from collections.abc import Mapping

from carbonledger.errors import NotFound, PermissionDenied

__all__ = ["ACTIVE", "REVOKED", "is_active", "require_active"]

ACTIVE = "active"
REVOKED = "revoked"


def is_active(identity: Mapping[str, object] | None) -> bool:
    """True only for an enrolled identity whose status is ``active``."""
    return identity is not None and identity.get("status") == ACTIVE


def require_active(
    identities: Mapping[str, Mapping[str, object]], address: object, what: str
) -> str:
    """``address`` if it names an active identity; NotFound or PermissionDenied naming why."""
    identity = identities.get(str(address))
    if identity is None:
        raise NotFound(f"{what}: {address!r} is not an enrolled identity")
    if not is_active(identity):
        raise PermissionDenied(
            f"{what}: {address} ({identity.get('name')}) is {identity.get('status')}, not active"
        )
    return str(address)
