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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from carbonledger.core.tx import SignedTx, build_tx_from_encoded, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError, Conflict, DuplicateEntity
from carbonledger.ports.ledger import ItemQuery, LedgerPort

__all__ = ["NONCE_RETRIES", "commit_records", "sign_again"]

#: How many times transactions whose nonces another writer took are signed again.
NONCE_RETRIES = 5


def commit_records(
    ledger: LedgerPort,
    key: PrivateKey,
    txs: Sequence[SignedTx],
    *,
    retries: int = NONCE_RETRIES,
) -> int:
    """Submit ``txs`` (``record_emissions`` signed by ``key``, consecutive nonces), signing
    again with fresh nonces those refused because another writer took their nonces;
    returns the signer's next nonce. Any other refusal is raised as it is (a record of
    an account and period another writer recorded first: ``DuplicateEntity``); so is a
    race still lost after ``retries`` new attempts, with a message saying so."""
    todo = list(txs)
    for attempt in range(retries + 1):
        try:
            ledger.submit(todo)
            return todo[-1].nonce + 1
        except DuplicateEntity:
            # Another writer recorded the same account and period first (the record ids
            # are then the same, but the records are not ours): never counted as recorded.
            raise
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
            todo = sign_again(key, todo, nonce)
    raise CarbonLedgerError("unreachable")  # pragma: no cover - the loop returns or raises


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
