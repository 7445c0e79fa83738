"""Genesis, organisations (each with its certificate authority and data channel), sites."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from carbonledger.core.item_parts import TxBody
from carbonledger.core.rules.common import (
    check_id,
    expect_kind,
    parse_time,
    require_network_admin,
    require_org_admin,
)
from carbonledger.core.state import LedgerState
from carbonledger.crypto.keys import PublicKey
from carbonledger.errors import CarbonLedgerError, Conflict, DuplicateEntity, InvalidInput

__all__ = ["check_org_ca", "genesis", "public_key_for", "register_org", "register_site"]


def public_key_for(address: str, public_key_hex: object, what: str) -> str:
    """Check that ``public_key_hex`` (uncompressed, hex) belongs to ``address``."""
    try:
        key = PublicKey.from_bytes(bytes.fromhex(str(public_key_hex)))
    except (ValueError, CarbonLedgerError) as exc:
        raise InvalidInput(f"{what}: public key is not a secp256k1 point") from exc
    if key.address != address:
        raise InvalidInput(f"{what}: public key is not the key of {address}")
    return key.to_bytes().hex()


def check_org_ca(ca_pem: object, root_pem: str | None, org_id: str, now: str) -> None:
    """The organisation's CA certificate must be issued by the network CA and valid now."""
    from cryptography import x509

    if root_pem is None:
        raise InvalidInput(f"organisation {org_id!r}: this ledger has no network CA")
    try:
        cert = x509.load_pem_x509_certificate(str(ca_pem).encode())
        root = x509.load_pem_x509_certificate(root_pem.encode())
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"organisation {org_id!r}: CA certificate is not issued by the network CA ({exc})"
        ) from exc
    at = parse_time(now, "ledger time")
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise InvalidInput(f"organisation {org_id!r}: CA certificate is not valid at {now}")


def genesis(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    if state.ledger_id is not None:
        raise Conflict("genesis: the ledger already has a genesis entry")
    expect_kind(items, "ledger")
    if len(items) != 1 or items[0].get("admin") != body["sender"]:
        raise InvalidInput("genesis: one ledger item whose admin is the sender is required")
    item = items[0]
    if item.get("id") != body["ledger"]:
        raise InvalidInput("genesis: ledger item id differs from the transaction's ledger id")
    sender = body["sender"]
    key = public_key_for(sender, item.get("admin_public_key"), "genesis")
    state.ledger_id = body["ledger"]
    state.admin = sender
    state.root_ca = item.get("root_ca")
    state.identities[sender] = {
        "address": sender,
        "name": item.get("admin_name") or "network admin",
        "org": None,
        "roles": ["network_admin"],
        "public_key": key,
        "fingerprint": None,
        "status": "active",
        "since": state.now,
    }


def register_org(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    """Only the network admin registers organisations; each gets a data channel."""
    require_network_admin(state, body["sender"], "register_org")
    expect_kind(items, "organisation")
    for item in items:
        org_id = check_id("organisation", item.get("id"))
        if org_id in state.orgs:
            raise DuplicateEntity(f"organisation {org_id!r} is already registered")
        if not isinstance(item.get("name"), str) or not item["name"].strip():
            raise InvalidInput(f"organisation {org_id!r}: name is required")
        if item.get("ca_cert") is not None:
            check_org_ca(item["ca_cert"], state.root_ca, org_id, state.now)
        admins = item.get("admins")
        if not isinstance(admins, list) or not admins:
            raise InvalidInput(f"organisation {org_id!r}: at least one admin address is required")
        keys = (item.get("channel") or {}).get("keys") or {}
        for admin in admins:
            if admin not in state.identities:
                raise InvalidInput(f"organisation {org_id!r}: admin {admin} is not enrolled")
            if admin not in keys:
                raise InvalidInput(
                    f"organisation {org_id!r}: no channel key is wrapped for admin {admin}"
                )
        state.orgs[org_id] = item
        state.channels[org_id] = {
            "id": org_id,
            "org": org_id,
            "epoch": 0,
            "members": {a: {"role": "admin", "until": None, "since": state.now} for a in admins},
            "keys": {"0": dict(keys)},
        }


def register_site(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    expect_kind(items, "site")
    for item in items:
        site_id = check_id("site", item.get("id"))
        if site_id in state.sites:
            raise DuplicateEntity(f"site {site_id!r} is already registered")
        require_org_admin(state, body["sender"], str(item.get("org")), f"site {site_id!r}")
        state.sites[site_id] = item
