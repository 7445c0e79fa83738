"""The ledger's state machine: the rules of every transaction, written once.

``apply`` checks a transaction against the state reached so far and, if it
holds, advances the state. The embedded backend calls it when a transaction is
submitted and again, from an empty state, when the ledger is verified, so a
stored entry that was never allowed (wrong signer, replayed nonce, a record for
another organisation's site) is caught even if its bytes are intact.

Only what rules need is kept here (nonces, organisations, sites); records
themselves live in the store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from carbonledger.core.calculator import basis_id
from carbonledger.errors import Conflict, DuplicateEntity, InvalidInput, NotFound

__all__ = ["ID_PATTERN", "TX_TYPES", "LedgerState", "apply"]

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class LedgerState:
    """What the rules need to know about the ledger so far."""

    ledger_id: str | None = None
    admin: str | None = None
    nonces: dict[str, int] = field(default_factory=dict)
    orgs: dict[str, dict[str, Any]] = field(default_factory=dict)
    sites: dict[str, dict[str, Any]] = field(default_factory=dict)
    size: int = 0  # number of leaves (items) so far
    bases: set[str] = field(default_factory=set)  # calculation bases recorded so far

    def copy(self) -> LedgerState:
        return LedgerState(
            self.ledger_id,
            self.admin,
            dict(self.nonces),
            dict(self.orgs),
            dict(self.sites),
            self.size,
            set(self.bases),
        )

    def next_nonce(self, address: str) -> int:
        return self.nonces.get(address, 0)


def _check_id(kind: str, value: object) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise InvalidInput(
            f"{kind} id {value!r} is not valid: use 1-64 letters, digits, '.', '_' or '-'"
        )
    return value


def _expect_kind(items: Sequence[dict[str, Any]], kind: str) -> None:
    for n, item in enumerate(items):
        if item.get("kind") != kind:
            raise InvalidInput(f"item {n}: expected kind {kind!r}, got {item.get('kind')!r}")


def _require_admin(state: LedgerState, sender: str, action: str) -> None:
    if sender != state.admin:
        raise Conflict(f"{action}: sender {sender} is not the ledger admin")


def _genesis(state: LedgerState, body: dict[str, Any], items: Sequence[dict[str, Any]]) -> None:
    if state.ledger_id is not None:
        raise Conflict("genesis: the ledger already has a genesis entry")
    _expect_kind(items, "ledger")
    if len(items) != 1 or items[0].get("admin") != body["sender"]:
        raise InvalidInput("genesis: one ledger item whose admin is the sender is required")
    if items[0].get("id") != body["ledger"]:
        raise InvalidInput("genesis: ledger item id differs from the transaction's ledger id")
    state.ledger_id = body["ledger"]
    state.admin = body["sender"]


def _register_org(
    state: LedgerState, body: dict[str, Any], items: Sequence[dict[str, Any]]
) -> None:
    _require_admin(state, body["sender"], "register_org")
    _expect_kind(items, "organisation")
    for item in items:
        org_id = _check_id("organisation", item.get("id"))
        if org_id in state.orgs:
            raise DuplicateEntity(f"organisation {org_id!r} is already registered")
        if not isinstance(item.get("name"), str) or not item["name"].strip():
            raise InvalidInput(f"organisation {org_id!r}: name is required")
        state.orgs[org_id] = item


def _register_site(
    state: LedgerState, body: dict[str, Any], items: Sequence[dict[str, Any]]
) -> None:
    _require_admin(state, body["sender"], "register_site")
    _expect_kind(items, "site")
    for item in items:
        site_id = _check_id("site", item.get("id"))
        if site_id in state.sites:
            raise DuplicateEntity(f"site {site_id!r} is already registered")
        if item.get("org") not in state.orgs:
            raise NotFound(f"site {site_id!r}: organisation {item.get('org')!r} is not registered")
        state.sites[site_id] = item


def _record_emissions(
    state: LedgerState, body: dict[str, Any], items: Sequence[dict[str, Any]]
) -> None:
    """Emissions records, each preceded (here or in an earlier entry) by its calculation basis."""
    _require_admin(state, body["sender"], "record_emissions")
    sites, bases = state.sites, state.bases
    for n, item in enumerate(items):
        kind = item.get("kind")
        if kind == "calculation_basis":
            bid = item.get("id")
            if bid in bases:
                raise DuplicateEntity(f"item {n}: calculation basis {bid} is already recorded")
            if not isinstance(item.get("basis"), dict) or bid != basis_id(item["basis"]):
                raise InvalidInput(f"item {n}: calculation basis id is not the hash of its basis")
            bases.add(bid)
            continue
        if kind != "emissions_record":
            raise InvalidInput(f"item {n}: expected an emissions_record, got {kind!r}")
        site = sites.get(item.get("site"))  # type: ignore[arg-type]
        if site is None:
            raise NotFound(
                f"record {item.get('id')!r}: site {item.get('site')!r} is not registered"
            )
        if item.get("org") != site["org"]:
            raise Conflict(
                f"record {item.get('id')!r}: site {site['id']!r} belongs to {site['org']!r},"
                f" not {item.get('org')!r}"
            )
        trace = item.get("trace")
        if not isinstance(trace, dict) or trace.get("basis") not in bases:
            raise NotFound(f"record {item.get('id')!r}: its calculation basis is not recorded")


_Rule = Callable[[LedgerState, dict[str, Any], Sequence[dict[str, Any]]], None]
TX_TYPES: dict[str, _Rule] = {
    "genesis": _genesis,
    "register_org": _register_org,
    "register_site": _register_site,
    "record_emissions": _record_emissions,
}


def apply(state: LedgerState, body: dict[str, Any], items: Sequence[dict[str, Any]]) -> None:
    """Check ``body`` (already signature-checked) and its decoded ``items``; advance ``state``.

    Raises before changing anything the caller keeps if the transaction does not
    hold; callers apply batches to :meth:`LedgerState.copy` and keep the copy
    only when the whole batch is accepted.
    """
    rule = TX_TYPES.get(body["type"])
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
    rule(state, body, items)
    state.nonces[sender] = expected + 1
    state.size += len(items)
