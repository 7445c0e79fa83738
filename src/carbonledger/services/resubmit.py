"""Committing a signer's records when another writer takes the signer's nonces meanwhile.

One signer writing from two nodes of one chain at once (an organisation's user who
imports on both): each node signs the user's next transactions with the nonces its
store knows, and whichever reaches the chain second is refused, its nonces taken
(``Conflict``). The ledger has read the chain again by then (a node's store is
brought to the chain before a write and after a refusal), so the signer's next nonce
is known: the transactions not recorded are signed again with it and submitted again,
a bounded number of times. Nothing is recorded twice: a transaction counts as
recorded when each emissions record it carries is in the ledger (records have unique
ids) and each calculation basis is (a basis is named by its content).

Two writers on two nodes recording the same account and period at once: the chain
takes both entries and the later is void on every node (nothing of it recorded). The
records of a void entry that no earlier entry took are signed again and sent again;
those another writer recorded first are lost, each handed back with its reason (an
import reports them, one each, and counts only what it recorded).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from carbonledger.core.blobs import referenced_blobs
from carbonledger.core.rules.records import period_taken
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import SignedTx, build_tx_from_encoded, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import Conflict, DuplicateEntity
from carbonledger.ports.ledger import ItemQuery, LedgerPort

__all__ = ["NONCE_RETRIES", "Lost", "commit_records", "ordered_by_chain", "sign_again"]

#: How many times transactions whose nonces another writer took are signed again.
NONCE_RETRIES = 5

#: An emissions record another writer recorded first (its account and period), and why
#: it is not recorded: the item as signed, and the reason.
Lost = tuple[dict[str, Any], str]


def commit_records(
    ledger: LedgerPort,
    key: PrivateKey,
    txs: Sequence[SignedTx],
    *,
    retries: int = NONCE_RETRIES,
    lost: list[Lost] | None = None,
) -> int:
    """Submit ``txs`` (``record_emissions`` signed by ``key``, consecutive nonces), signing
    again with fresh nonces those refused because another writer took their nonces;
    returns the signer's next nonce. Any other refusal is raised as it is; so is a
    race still lost after ``retries`` new attempts, with a message saying so.

    ``lost``: where records another writer recorded first (a void entry of a chain,
    ``DuplicateEntity``) are added, each with its reason, while the other records of
    the void entries are signed again and sent; without it, ``DuplicateEntity`` is
    raised."""
    todo = list(txs)
    attempt = 0
    while True:
        try:
            receipts = ledger.submit(todo)
            if lost is not None and not receipts and ledger.follows_chain:
                # A group commit queued them (``deferred``): wait here, so that a void
                # entry is taken apart here rather than failing every waiter whole.
                ledger.settle()
            return todo[-1].nonce + 1
        except DuplicateEntity:
            # Another writer recorded the same account and period first (the record ids
            # are then the same, but the records are not ours): never counted as recorded.
            if lost is None:
                raise
            state = ledger.state()
            before = len(lost)
            todo = _not_lost(ledger, state, todo, lost)
            if len(lost) == before:
                raise  # void for a reason no record shows: never sent again blindly
            if not todo:
                return state.next_nonce(key.address)
            todo = sign_again(key, todo, state.next_nonce(key.address))
        except Conflict as exc:
            state = ledger.state()
            todo = [tx for tx in todo if not _recorded(ledger, tx)]
            if not todo:  # a refusal after all of them were recorded
                return state.next_nonce(key.address)
            nonce = state.next_nonce(key.address)
            if nonce == todo[0].nonce:
                raise  # the nonces are still the signer's: refused for another reason
            if attempt == retries:
                raise Conflict(
                    f"{exc}; the signer's nonces were taken by another writer"
                    f" {retries + 1} times in a row: try again"
                ) from exc
            attempt += 1
            todo = sign_again(key, todo, nonce)


def ordered_by_chain(ledger: LedgerPort) -> bool:
    """Whether ``ledger`` (or the ledger a group commit wraps) follows a chain that other
    nodes write to, where an entry may come back void (the port's ``follows_chain``)."""
    return ledger.follows_chain


def _not_lost(
    ledger: LedgerPort, state: LedgerState, txs: Sequence[SignedTx], lost: list[Lost]
) -> list[SignedTx]:
    """What of ``txs`` is still to be recorded after some were void: each transaction
    without its records on the ledger as ours and its bases on the ledger, the records
    whose account and period another entry recorded first added to ``lost`` (and left
    out). A transaction left with no record to send is dropped."""
    out: list[SignedTx] = []
    for tx in txs:
        keep: list[int] = []
        items = tx.decoded()
        for n, item in enumerate(items):
            if item.get("kind") == "calculation_basis":
                if item["id"] not in state.bases:
                    keep.append(n)
                continue
            query = ItemQuery(kind=str(item.get("kind")), id=str(item["id"]), limit=1)
            stored = next(iter(ledger.items(query)), None)
            if stored is not None and stored.item == item:
                continue  # ours, recorded
            taken = period_taken(state, [item])
            if taken is not None:
                lost.append((item, taken))
            elif stored is None:
                keep.append(n)
        if any(items[n].get("kind") != "calculation_basis" for n in keep):
            out.append(_only(tx, items, keep))
    return out


def _only(tx: SignedTx, items: list[dict[str, Any]], keep: list[int]) -> SignedTx:
    """``tx`` with only its items at ``keep`` and the blobs they name (signed again
    afterwards, with fresh nonces)."""
    named = {ref.blob for n in keep for ref in referenced_blobs(items[n])}
    blobs = [data for blob_id, data in tx.blob_map().items() if blob_id in named]
    return replace(
        tx,
        items=tuple(tx.items[n] for n in keep),
        item_hashes=tuple(tx.item_hashes[n] for n in keep),
        objects=tuple(items[n] for n in keep),
        blobs=tuple(blobs),
        packed=None,
    )


def sign_again(key: PrivateKey, txs: Sequence[SignedTx], nonce: int) -> list[SignedTx]:
    """``txs`` with the same items and blobs, signed again with consecutive nonces from
    ``nonce`` (transactions built before another writer took the signer's nonces)."""
    return [_signed_again(key, tx, nonce + n) for n, tx in enumerate(txs)]


def _recorded(ledger: LedgerPort, tx: SignedTx) -> bool:
    """Whether every item of ``tx`` is in ``ledger``: its records by id, its bases."""
    bases = None
    for item in tx.decoded():
        if item.get("kind") == "calculation_basis":
            bases = ledger.state().bases if bases is None else bases
            if item["id"] not in bases:
                return False
            continue
        query = ItemQuery(kind=str(item.get("kind")), id=str(item["id"]), limit=1)
        if next(iter(ledger.items(query)), None) is None:
            return False
    return True


def _signed_again(key: PrivateKey, tx: SignedTx, nonce: int) -> SignedTx:
    """``tx`` with the same items and blobs, signed with ``nonce``."""
    again = build_tx_from_encoded(
        key,
        tx_type=tx.type,
        ledger_id=str(tx.body["ledger"]),
        nonce=nonce,
        created=utc_now(),
        items=tx.items,
        payload=tx.body.get("payload"),
        blobs=tx.blobs,
    )
    return replace(again, objects=tx.objects)
