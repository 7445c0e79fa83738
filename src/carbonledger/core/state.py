"""The ledger's state: what the rules need to know about the ledger so far.

The rules (:mod:`carbonledger.core.rules`, one module per area, and the DAO's in
:mod:`carbonledger.core.dao.rules`) and the one function that applies them
(:func:`carbonledger.core.authority.apply`) import this module; it imports none of
them, so the state is a leaf of the core's import graph.

Rules follow one convention that keeps batches atomic: nested values in the
state are never modified in place, only replaced (``state.channels[c] = {**old,
...}``), so a shallow :meth:`LedgerState.copy` is a safe working copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from carbonledger.core.ids import ID_PATTERN

__all__ = ["ID_PATTERN", "LedgerState"]


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
