"""Helpers shared by the rules: ids, kinds, roles and who may act for an organisation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from carbonledger.core.identities import REVOKED, is_active
from carbonledger.core.ids import ID_PATTERN
from carbonledger.core.item_parts import TxBody
from carbonledger.core.state import LedgerState
from carbonledger.errors import Conflict, InvalidInput, NotFound, PermissionDenied

__all__ = [
    "GRANTABLE_ROLES",
    "ROLES",
    "Rule",
    "check_id",
    "check_sealed",
    "expect_kind",
    "is_org_admin",
    "parse_time",
    "require_active_signer",
    "require_network_admin",
    "require_org_admin",
    "require_org_writer",
]

#: A transaction type's rule: raises a CarbonLedgerError or advances the state.
Rule = Callable[[LedgerState, TxBody, Sequence[dict[str, Any]]], None]

#: Every role an identity can hold. ``network_admin`` belongs to the genesis key only.
ROLES = (
    "network_admin",
    "org_admin",
    "member",
    "auditor",
    "rec_dealer",
    "offset_dealer",
    "consumer",
)
GRANTABLE_ROLES = frozenset(ROLES) - {"network_admin"}


def check_id(kind: str, value: object) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise InvalidInput(
            f"{kind} id {value!r} is not valid: use 1-64 letters, digits, '.', '_' or '-'"
        )
    return value


def check_sealed(state: LedgerState, item: dict[str, Any], org: str, what: str) -> None:
    """``item.sealed`` names a blob (SHA-256, hex) in ``org``'s channel under its current
    epoch (the rules also check the transaction carries it: core.blobs.check_carried)."""
    sealed = item.get("sealed")
    if not isinstance(sealed, dict) or sealed.get("channel") != org:
        raise InvalidInput(f"{what}: sealed must name channel {org!r}")
    epoch = state.channels[org]["epoch"] if org in state.channels else None
    if sealed.get("epoch") != epoch:
        raise Conflict(
            f"{what}: sealed under epoch {sealed.get('epoch')}, the channel is at epoch {epoch}"
        )
    blob = sealed.get("blob")
    if not isinstance(blob, str) or len(blob) != 64 or blob.strip("0123456789abcdef"):
        raise InvalidInput(f"{what}: sealed.blob must be a SHA-256 (hex)")


def expect_kind(items: Sequence[dict[str, Any]], kind: str) -> None:
    for n, item in enumerate(items):
        if item.get("kind") != kind:
            raise InvalidInput(f"item {n}: expected kind {kind!r}, got {item.get('kind')!r}")


def parse_time(value: object, what: str) -> datetime:
    """An ISO 8601 UTC time as stored on the ledger (``...Z``)."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what}: {value!r} is not a time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{what}: {value!r} is not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise InvalidInput(f"{what}: {value!r} has no time zone")
    return parsed


def require_active_signer(state: LedgerState, sender: str) -> dict[str, Any]:
    """The signer must be an enrolled, active identity (see :mod:`carbonledger.core.identities`)."""
    ident = state.identities.get(sender)
    if ident is None:
        raise PermissionDenied(f"signer {sender} is not an enrolled identity on this ledger")
    if ident.get("status") == REVOKED:
        raise PermissionDenied(
            f"signer {sender} ({ident.get('name')}) was revoked at {ident.get('revoked_at')};"
            " its earlier entries stay valid, new ones are refused"
        )
    if not is_active(ident):
        raise PermissionDenied(
            f"signer {sender} ({ident.get('name')}) is {ident.get('status')!r}, not active"
        )
    return ident


def require_network_admin(state: LedgerState, sender: str, action: str) -> None:
    if sender != state.admin:
        raise PermissionDenied(f"{action}: signer {sender} is not the network admin")


def is_org_admin(state: LedgerState, sender: str, org_id: str) -> bool:
    org = state.orgs.get(org_id)
    if org is None:
        return False
    if sender in org.get("admins", ()):
        return True
    ident = state.identities.get(sender, {})
    return ident.get("org") == org_id and "org_admin" in ident.get("roles", ())


def require_org_admin(state: LedgerState, sender: str, org_id: str, action: str) -> None:
    if org_id not in state.orgs:
        raise NotFound(f"{action}: organisation {org_id!r} is not registered")
    if sender != state.admin and not is_org_admin(state, sender, org_id):
        raise PermissionDenied(f"{action}: signer {sender} is not an admin of {org_id!r}")


def require_org_writer(state: LedgerState, sender: str, org_id: str, action: str) -> None:
    """An admin of the organisation or one of its members may write its records."""
    if is_org_admin(state, sender, org_id):
        return
    ident = state.identities.get(sender, {})
    if ident.get("org") == org_id and "member" in ident.get("roles", ()):
        return
    raise PermissionDenied(
        f"{action}: signer {sender} is not a member or admin of organisation {org_id!r}"
    )
