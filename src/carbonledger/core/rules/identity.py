"""Register, enroll and revoke identities.

* ``register_identity`` (an organisation admin): a name, roles and the SHA-256 of
  a salted one-time secret, valid until ``expires``. The network admin registers an
  organisation's first admin (and, until then, its people); once one of the
  organisation's own admins has enrolled (:func:`has_own_admin`), only its own admins
  register its identities, so nobody outside it adds people who could then be given
  its channel or run it;
* ``enroll`` (the user, signing with the key made on the user's side): the secret
  and the X.509 certificate the organisation's CA issued for that key; the
  certificate must chain to the organisation CA and the network CA, name the
  signer's address and exactly the registered roles;
* ``revoke_identity`` (an organisation admin): the key's later transactions are
  refused; its earlier entries stay valid. Every channel the identity belonged to
  starts a new epoch in the same transaction: the item's ``channels`` maps each
  channel whose organisation the signer administers to the SHA-256 of the new
  key wrapped for each remaining member; any other channel advances *keyless*
  until its own admin sends ``channel_rotate`` (see
  :mod:`carbonledger.core.rules.channels`). Either way nothing sealed under an
  epoch the revoked key could open is accepted afterwards.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from carbonledger.core.item_parts import TxBody
from carbonledger.core.rules.channels import is_channel_admin, rotated_channel
from carbonledger.core.rules.common import (
    GRANTABLE_ROLES,
    check_id,
    expect_kind,
    parse_time,
    require_org_admin,
)
from carbonledger.core.state import LedgerState
from carbonledger.errors import (
    CarbonLedgerError,
    Conflict,
    DuplicateEntity,
    InvalidInput,
    NotFound,
    PermissionDenied,
)

__all__ = ["enroll", "has_own_admin", "register_identity", "revoke_identity", "secret_hash"]


def secret_hash(salt_hex: str, secret: str) -> str:
    """SHA-256 of salt and secret: what the ledger keeps of an enrolment secret."""
    return hashlib.sha256(bytes.fromhex(salt_hex) + secret.encode()).hexdigest()


def has_own_admin(state: LedgerState, org: str) -> bool:
    """Whether an identity of ``org`` with the org_admin role has enrolled (revoked since
    or not: revoking its admins does not hand the organisation back). From then on only
    its own admins register its identities. The contract checks the same: such an
    admin's enrolment sets its ``ownAdmin``."""
    return any(
        ident.get("org") == org and "org_admin" in ident.get("roles", ())
        for ident in state.identities.values()
    )


def register_identity(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    expect_kind(items, "registration")
    sender = body["sender"]
    for item in items:
        name = check_id("user", item.get("id"))
        org = str(item.get("org"))
        require_org_admin(state, sender, org, f"register {name!r}")
        if state.identities.get(sender, {}).get("org") != org and has_own_admin(state, org):
            raise PermissionDenied(
                f"register {name!r}: organisation {org!r} has its own admin; only its own"
                f" admins register its users, and signer {sender} is not one of them (the"
                " network admin registers an organisation's first admin only)"
            )
        key = f"{org}/{name}"
        if key in state.registrations:
            raise DuplicateEntity(f"user {name!r} is already registered in {org!r}")
        roles = item.get("roles")
        if not isinstance(roles, list) or not roles or not set(roles) <= GRANTABLE_ROLES:
            raise InvalidInput(
                f"user {name!r}: roles must be a non-empty subset of {sorted(GRANTABLE_ROLES)}"
            )
        parse_time(item.get("expires"), f"user {name!r}: expires")
        for field in ("salt", "secret_sha256"):
            if not isinstance(item.get(field), str):
                raise InvalidInput(f"user {name!r}: {field} is required")
        state.registrations[key] = {**item, "status": "pending", "registered_by": sender}


def enroll(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    from carbonledger.crypto.x509chain import verify_chain

    expect_kind(items, "identity")
    if len(items) != 1:
        raise InvalidInput("enroll: exactly one identity item is required")
    item = items[0]
    sender = body["sender"]
    name, org = str(item.get("id")), str(item.get("org"))
    reg = state.registrations.get(f"{org}/{name}")
    if reg is None:
        raise NotFound(f"enroll: user {name!r} is not registered in {org!r}")
    if reg["status"] != "pending":
        raise Conflict(f"enroll: user {name!r} in {org!r} has already enrolled")
    if sender in state.identities:
        raise DuplicateEntity(f"enroll: key {sender} is already enrolled")
    now = parse_time(state.now, "ledger time")
    if now > parse_time(reg["expires"], "expires"):
        raise PermissionDenied(
            f"enroll: the enrolment secret of {name!r} expired at {reg['expires']}"
        )
    given = secret_hash(reg["salt"], str(item.get("secret")))
    if not hmac.compare_digest(given, reg["secret_sha256"]):
        raise PermissionDenied(f"enroll: wrong enrolment secret for {name!r} in {org!r}")
    org_ca = state.orgs[org].get("ca_cert")
    if org_ca is None or state.root_ca is None:
        raise InvalidInput(f"enroll: organisation {org!r} has no certificate authority")
    try:
        info = verify_chain(
            str(item.get("certificate")).encode(), org_ca.encode(), state.root_ca.encode(), at=now
        )
    except CarbonLedgerError as exc:
        raise PermissionDenied(f"enroll: certificate refused: {exc}") from exc
    if info.address != sender:
        raise PermissionDenied(f"enroll: certificate is for {info.address}, signer is {sender}")
    if info.common_name != name or info.org_id != org:
        raise PermissionDenied(f"enroll: certificate names {info.common_name!r} of {info.org_id!r}")
    if sorted(info.roles) != sorted(reg["roles"]):
        raise PermissionDenied(
            f"enroll: certificate roles {sorted(info.roles)} differ from the registered"
            f" {sorted(reg['roles'])}"
        )
    state.registrations[f"{org}/{name}"] = {**reg, "status": "enrolled", "address": sender}
    state.identities[sender] = {
        "address": sender,
        "name": name,
        "org": org,
        "roles": sorted(reg["roles"]),
        "public_key": info.public_key.hex(),
        "fingerprint": info.fingerprint_sha256,
        "serial": info.serial,
        "status": "active",
        "since": state.now,
    }


def revoke_identity(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    expect_kind(items, "revocation")
    for item in items:
        address = str(item.get("address"))
        ident = state.identities.get(address)
        if ident is None:
            raise NotFound(f"revoke: {address} is not an enrolled identity")
        if ident.get("org") is None:
            raise PermissionDenied("revoke: the network admin's key cannot be revoked here")
        require_org_admin(state, body["sender"], ident["org"], f"revoke {ident['name']!r}")
        if ident["status"] == "revoked":
            raise Conflict(f"revoke: {ident['name']!r} is already revoked")
        rotations = item.get("channels") or {}
        if not isinstance(rotations, dict):
            raise InvalidInput("revoke: channels must map channel ids to new wrapped keys")
        held = [c for c in state.channels.values() if address in c["members"]]
        unknown = set(rotations) - {c["id"] for c in held}
        if unknown:
            raise InvalidInput(f"revoke: {ident['name']!r} is not a member of {sorted(unknown)}")
        for channel in held:
            keys = rotations.get(channel["id"])
            if keys is not None and not is_channel_admin(state, body["sender"], channel["id"]):
                raise PermissionDenied(
                    f"revoke: signer {body['sender']} is not an admin of channel"
                    f" {channel['id']!r} and may not make its new key (it advances keyless,"
                    " for its own admin to rotate)"
                )
            state.channels[channel["id"]] = rotated_channel(state, channel, address, keys)
        state.identities[address] = {
            **ident,
            "status": "revoked",
            "revoked_at": state.now,
            "reason": item.get("reason"),
        }
