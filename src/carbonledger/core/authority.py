"""The ledger's state machine: the table of rules and the one function that applies them.

``apply`` checks a transaction against the state reached so far and, if it
holds, advances the state. The embedded backend calls it when a transaction is
submitted and again, from an empty state, when the ledger is verified, so a
stored entry that was never allowed (wrong signer, a revoked key, a replayed
nonce, a record for another organisation's site) is caught even if its bytes are
intact. Every backend (embedded, PostgreSQL, the mirror of a chain) applies
transactions through this module and no other.

Each rule is ``rule(state, body, items) -> None``: it raises a
:class:`~carbonledger.errors.CarbonLedgerError` if the transaction does not hold
and otherwise advances ``state`` (replacing nested values, never mutating them).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any

from carbonledger.core.blobs import check_carried
from carbonledger.core.dao import rules as dao_rules
from carbonledger.core.item_parts import TxBody
from carbonledger.core.rules import devices, tokens
from carbonledger.core.rules.channels import (
    channel_grant,
    channel_read,
    channel_revoke,
    channel_rotate,
)
from carbonledger.core.rules.common import Rule, require_active_signer
from carbonledger.core.rules.disclosures import disclose
from carbonledger.core.rules.identity import enroll, register_identity, revoke_identity
from carbonledger.core.rules.nodes import announce_node
from carbonledger.core.rules.records import audit_report, period_taken, record_emissions
from carbonledger.core.rules.registry import genesis, register_org, register_site
from carbonledger.core.state import LedgerState
from carbonledger.errors import CarbonLedgerError, Conflict, InvalidInput

__all__ = ["CHAIN_KEEPS_NONCE_ONLY", "RULES", "apply", "apply_followed"]

#: Every transaction type and its rule (read-only: the table is the authority).
RULES: Mapping[str, Rule] = MappingProxyType(
    {
        "genesis": genesis,
        "register_org": register_org,
        "register_site": register_site,
        "register_identity": register_identity,
        "enroll": enroll,
        "revoke_identity": revoke_identity,
        "channel_grant": channel_grant,
        "channel_revoke": channel_revoke,
        "channel_read": channel_read,
        "channel_rotate": channel_rotate,
        "record_emissions": record_emissions,
        "audit_report": audit_report,
        "disclose": disclose,
        "announce_node": announce_node,
        **tokens.RULES,
        **devices.RULES,
        **dao_rules.RULES,
    }
)


#: Transaction types of which the contract keeps nothing but the signer's nonce: it
#: checks their signature, nonce and active signer and nothing else (CarbonLedger.sol),
#: so no later state of the chain depends on them. A type no rule knows is one too.
CHAIN_KEEPS_NONCE_ONLY = frozenset(
    {
        "anchor_credentials",
        "announce_node",
        "audit_report",
        "audit_result",
        "channel_read",
        "device_status",
        "disclose",
        "publish_status_list",
        "register_device",
        "register_offset_directory",
        "register_utility",
    }
)


def apply(
    state: LedgerState,
    body: TxBody,
    items: list[dict[str, Any]],
    *,
    now: str,
    blobs: Collection[str] | None = None,
    shaped: bool = False,
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
    ``shaped``: each emissions record of the entry was found well formed, as it is, by
    :func:`carbonledger.core.rules.records.compact_shape` (``verify`` checks that in its
    worker process, on the packed form it checks anyway); the record rule then makes
    only the checks that depend on the state. Nothing else passes it.
    """
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
    if shaped and rule is record_emissions:
        record_emissions(state, body, items, shaped=True)
    else:
        rule(state, body, items)
    named = {} if blobs is None else check_carried(items, blobs)
    state.nonces[sender] = expected + 1
    state.size += len(items)
    return named


def apply_followed(
    state: LedgerState,
    body: TxBody,
    items: list[dict[str, Any]],
    *,
    now: str,
    blobs: Collection[str] | None = None,
) -> tuple[dict[str, tuple[str, int]], str | None]:
    """Apply an entry of a chain, whose order the chain fixed: as :func:`apply` (the same
    arguments and result), with the reason the entry is void, or None.

    One conflict the chain cannot see within its gas is not refused: emissions records
    whose account and period an earlier entry recorded first (two nodes recording the
    same bill at once). Such an entry, if nothing else is wrong with it, is void: the
    signer's nonce is taken (the chain took it) and its leaves counted (they are in the
    chain's log), but nothing of it is recorded. Every node, and ``verify``, judges it
    alike: first in chain order wins. Anything else wrong is raised, as :func:`apply`
    raises it. An embedded ledger, which orders its own entries, refuses the conflict
    (:func:`apply`).

    An entry of a type the contract keeps nothing of but the nonce
    (:data:`CHAIN_KEEPS_NONCE_ONLY`, or a type no rule knows) that breaks a rule is void
    too, with that rule's refusal as its reason, once its nonce and signer hold (the
    chain checked those): the chain's state and this one stay alike, so no enrolled
    signer stops every node with one such entry. So is an issuance of audited-emissions
    tokens only (:func:`~carbonledger.core.rules.tokens.audited_only`: the contract
    keeps nothing of it that a later entry can use). Anything else the chain accepted and
    the core refuses changed the chain's state (roles, balances, organisations): it is
    raised, and the node stops at it, naming it.
    """
    kind = body["type"]
    if kind in CHAIN_KEEPS_NONCE_ONLY or kind not in RULES:
        return _apply_or_void(state, body, items, now=now, blobs=blobs)
    if kind == "issue_token" and tokens.audited_only(items):  # nothing later uses it
        return _apply_or_void(state, body, items, now=now, blobs=blobs)
    taken = period_taken(state, items) if kind == "record_emissions" else None
    if taken is None:
        return apply(state, body, items, now=now, blobs=blobs), None
    # Every other rule, against the state without the periods recorded so far.
    trial = state.copy()
    trial.periods = {}
    named = apply(trial, body, items, now=now, blobs=blobs)
    state.now = now
    state.nonces[body["sender"]] = trial.nonces[body["sender"]]
    state.size = trial.size
    return named, taken


def _apply_or_void(
    state: LedgerState,
    body: TxBody,
    items: list[dict[str, Any]],
    *,
    now: str,
    blobs: Collection[str] | None,
) -> tuple[dict[str, tuple[str, int]], str | None]:
    # Applied to a copy: a rule that raises may have advanced part of the state.
    trial = state.copy()
    try:
        named = apply(trial, body, items, now=now, blobs=blobs)
    except CarbonLedgerError as exc:
        sender = body["sender"]
        if body["nonce"] != state.nonces.get(sender, 0) or body["ledger"] != state.ledger_id:
            raise
        require_active_signer(state, sender)
        state.now = now
        state.nonces[sender] = body["nonce"] + 1
        state.size += len(items)
        return {}, str(exc)
    state.__dict__.update(trial.__dict__)
    return named, None
