"""The ledger's state machine: the rules of every transaction, written once.

``apply`` checks a transaction against the state reached so far and, if it
holds, advances the state. The embedded backend calls it when a transaction is
submitted and again, from an empty state, when the ledger is verified, so a
stored entry that was never allowed (wrong signer, a revoked key, a replayed
nonce, a record for another organisation's site) is caught even if its bytes are
intact.

Rules live in :mod:`carbonledger.core.rules`, one module per area. They follow
one convention that keeps batches atomic: nested values in the state are never
modified in place, only replaced (``state.channels[c] = {**old, ...}``), so a
shallow :meth:`LedgerState.copy` is a safe working copy.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from carbonledger.core.blobs import check_carried
from carbonledger.errors import Conflict, InvalidInput

__all__ = ["ID_PATTERN", "LedgerState", "apply"]

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class LedgerState:
    """What the rules need to know about the ledger so far (records live in the store)."""

    ledger_id: str | None = None
    admin: str | None = None
    root_ca: str | None = None  # PEM of the network CA, from the genesis entry
    nonces: dict[str, int] = field(default_factory=dict)
    orgs: dict[str, dict[str, Any]] = field(default_factory=dict)
    sites: dict[str, dict[str, Any]] = field(default_factory=dict)
    size: int = 0  # number of leaves (items) so far
    bases: set[str] = field(default_factory=set)  # calculation bases recorded so far
    identities: dict[str, dict[str, Any]] = field(default_factory=dict)  # by address
    registrations: dict[str, dict[str, Any]] = field(default_factory=dict)  # "org/user"
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    now: str = ""  # ledger time of the entry being applied
    #: Token network: token types/ids -> token, "address/token" -> balances.
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    balances: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Devices, meters and utilities registered with their DIDs.
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Governance: token, proposals, parameters.
    dao: dict[str, Any] = field(default_factory=dict)
    #: Recorded bill periods per account ("site/account reference"): a flat tuple of
    #: ISO dates (start, end, start, end, ...), disjoint, contiguous ones merged, so a
    #: year of monthly bills costs one pair (see :mod:`carbonledger.core.intervals`).
    periods: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Period totals published by organisations, by disclosure id.
    disclosures: dict[str, dict[str, Any]] = field(default_factory=dict)

    def copy(self) -> LedgerState:
        return LedgerState(
            self.ledger_id,
            self.admin,
            self.root_ca,
            dict(self.nonces),
            dict(self.orgs),
            dict(self.sites),
            self.size,
            set(self.bases),
            dict(self.identities),
            dict(self.registrations),
            dict(self.channels),
            self.now,
            dict(self.tokens),
            dict(self.balances),
            dict(self.devices),
            dict(self.dao),
            dict(self.periods),
            dict(self.disclosures),
        )

    def next_nonce(self, address: str) -> int:
        return self.nonces.get(address, 0)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able snapshot (sets as sorted lists)."""
        return {
            "ledger_id": self.ledger_id,
            "admin": self.admin,
            "root_ca": self.root_ca,
            "nonces": self.nonces,
            "orgs": self.orgs,
            "sites": self.sites,
            "size": self.size,
            "bases": sorted(self.bases),
            "identities": self.identities,
            "registrations": self.registrations,
            "channels": self.channels,
            "now": self.now,
            "tokens": self.tokens,
            "balances": self.balances,
            "devices": self.devices,
            "dao": self.dao,
            "periods": self.periods,
            "disclosures": self.disclosures,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LedgerState:
        periods = {a: tuple(p) for a, p in data.get("periods", {}).items()}
        return cls(**{**data, "bases": set(data["bases"]), "periods": periods})


def apply(
    state: LedgerState,
    body: dict[str, Any],
    items: list[dict[str, Any]],
    *,
    now: str,
    blobs: Collection[str] | None = None,
) -> dict[str, tuple[str, int]]:
    """Check ``body`` (already signature-checked) and its decoded ``items``; advance ``state``.

    ``now`` is the ledger time of the entry (validity periods are judged by it).
    ``blobs``: SHA-256 (hex) of the sealed blobs the transaction carries; every blob
    an item names must be among them (see :func:`carbonledger.core.blobs.check_carried`).
    ``None`` only when replaying entries whose blobs were stored when they were
    accepted (``verify``, a mirror of a chain). Returns each carried blob's
    (channel, epoch).
    Callers apply batches to :meth:`LedgerState.copy` and keep the copy only when
    the whole batch is accepted.
    """
    from carbonledger.core.rules import RULES, require_active_signer

    rule = RULES.get(body["type"])
    if rule is None:
        raise InvalidInput(f"unknown transaction type {body['type']!r}")
    if state.ledger_id is not None and body["ledger"] != state.ledger_id:
        raise Conflict(f"transaction is for ledger {body['ledger']!r}, this is {state.ledger_id!r}")
    sender = body["sender"]
    expected = state.nonces.get(sender, 0)
    if body["nonce"] != expected:
        raise Conflict(
            f"nonce {body['nonce']} from {sender} rejected: expected {expected}"
            " (replayed or out-of-order transaction)"
        )
    state.now = now
    if body["type"] not in ("genesis", "enroll"):
        require_active_signer(state, sender)
    rule(state, body, items)
    named = {} if blobs is None else check_carried(items, blobs)
    state.nonces[sender] = expected + 1
    state.size += len(items)
    return named
