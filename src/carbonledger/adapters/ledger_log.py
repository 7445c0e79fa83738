"""What the two SQL stores of the ledger share: opening, and the in-memory half of an append.

:class:`carbonledger.adapters.sqlite.ledger.SqliteLedger` (one SQLite file) and
:class:`carbonledger.adapters.sqlstore.ledger.SqlLedger` (SQLAlchemy) keep the same
rows, Merkle nodes, chained entries and signed checkpoints; they differ only in how
the rows are written. :meth:`LedgerLog._append` checks a batch against the rules and
builds those rows; each store writes them in one transaction and then calls
:meth:`LedgerLog._advance`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from carbonledger.adapters.sqlite.schema import NODE_MIN_LEVEL, VOID_COLUMNS, derived_columns
from carbonledger.core.authority import apply, apply_followed
from carbonledger.core.blobs import referenced_blobs
from carbonledger.core.checkpoint import log_key, sign_checkpoint, signed_checkpoint_note
from carbonledger.core.merkle import MerkleAccumulator, inclusion_proof, leaf_hash, node_hash
from carbonledger.core.note import NoteKey
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import GENESIS_PREV, SignedTx, check_tx, entry_hash
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import Conflict, IntegrityError
from carbonledger.ports.ledger import Receipt

__all__ = ["Append", "LedgerLog", "perfect_subtree", "tx_evidence"]

Head = tuple[LedgerState, MerkleAccumulator, bytes, int]


def perfect_subtree(levels: list[list[bytes]], level: int, idx: int) -> bytes:
    """Perfect-subtree hash from in-memory levels, built up on demand (level 0 given)."""
    while len(levels) <= level:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return levels[level][idx]


def tx_evidence(
    seq: int, leaf_index: int, tx_row: Sequence[Any], leaves: Iterable[bytes]
) -> dict[str, Any]:
    """The signed transaction behind leaf ``leaf_index`` and the item's path to its root.

    ``tx_row``: the transaction's (body, signature, first_leaf, n_leaves, entry_hash,
    ledger_time); ``leaves``: the data of its items in order.
    """
    body, sig, first, count, ehash, when = tx_row
    levels = [[leaf_hash(bytes(d)) for d in leaves]]
    tx_path = inclusion_proof(
        leaf_index - first, count, lambda lv, i: perfect_subtree(levels, lv, i)
    )
    return {
        "seq": seq,
        "body": bytes(body).decode(),
        "signature": bytes(sig).hex(),
        "entry_hash": bytes(ehash).hex(),
        "ledger_time": when,
        "index": leaf_index - first,
        "count": count,
        "path": [h.hex() for h in tx_path],
    }


@dataclass(frozen=True)
class Append:
    """One batch, checked and laid out as rows in the column order of the schema."""

    head: Head
    tx_rows: list[tuple[Any, ...]]
    leaf_rows: list[tuple[Any, ...]]
    node_rows: list[tuple[int, int, bytes]]
    checkpoint: tuple[int, int, bytes, str, str, bytes]
    receipts: list[Receipt]
    #: Sealed blobs the batch carries: (id, channel, epoch, data), stored in the same commit.
    blob_rows: list[tuple[str, str, int, bytes]]
    #: The same checkpoint as a C2SP signed note, and the vkey that checks it.
    note: str = ""
    vkey: str = ""
    #: The entries of the batch applied as void: (sequence number, why).
    voids: tuple[tuple[int, str], ...] = ()


def _blob_home(items: Sequence[dict[str, Any]], blob_id: str) -> tuple[str, int]:
    """The channel and epoch under which ``blob_id`` is named by ``items``."""
    for item in items:
        for ref in referenced_blobs(item):
            if ref.blob == blob_id:
                return ref.channel, ref.epoch
    raise IntegrityError(f"the transaction carries blob {blob_id[:16]}... that no item names")


class LedgerLog:
    """The head of the log held in memory (state, tree frontier, last entry) and its upkeep."""

    _operator: PrivateKey | None
    #: Who signs the checkpoints when not the ledger admin: a chain node's own key (the
    #: chain, not this store, is that ledger's authority).
    checkpoint_signer: str | None = None
    #: A chain node's store: the chain orders its entries, and an entry recording an
    #: account's period an earlier one recorded first is kept void, not refused
    #: (:func:`carbonledger.core.authority.apply_followed`).
    follows_chain: bool = False
    _state: LedgerState
    _acc: MerkleAccumulator
    _prev: bytes
    _seq: int
    _damage: IntegrityError | None

    def _load(self) -> Head:
        raise NotImplementedError

    def _open(self, what: str) -> None:
        """Load the head; a damaged store can still be opened and verified, not written."""
        self._damage = None
        try:
            head = self._load()
            problem = self._history_problem(head[1].size)
            if problem is not None:
                raise IntegrityError(problem)
        except (IntegrityError, KeyError, ValueError, TypeError) as exc:
            self._damage = IntegrityError(f"{what} is damaged ({exc}); run verify")
            head = (LedgerState(), MerkleAccumulator(), GENESIS_PREV, 0)
        self._state, self._acc, self._prev, self._seq = head

    def _history_problem(self, size: int) -> str | None:
        """Why a store of ``size`` leaves is not the history it is known to have had."""
        return None

    def _writable(self) -> None:
        if self._damage is not None:
            raise self._damage

    def state(self) -> LedgerState:
        self._writable()
        return self._state.copy()

    def _append(self, txs: Sequence[SignedTx], now: str, *, checked: bool) -> Append:
        """Apply ``txs`` to a copy of the head and build their rows and checkpoint.

        ``checked=True``: the signatures were already recovered by :func:`check_tx` in
        this process; the rules still run, as they must to advance the state.
        """
        state = self._state.copy()
        acc = MerkleAccumulator.from_frontier(self._acc.size, self._acc.frontier())
        prev, seq = self._prev, self._seq
        tx_rows: list[tuple[Any, ...]] = []
        leaf_rows: list[tuple[Any, ...]] = []
        node_rows: list[tuple[int, int, bytes]] = []
        receipts: list[Receipt] = []
        blob_rows: list[tuple[str, str, int, bytes]] = []
        voids: list[tuple[int, str]] = []
        for tx in txs:
            checked_tx = tx if checked else check_tx(tx)
            items = tx.decoded()
            carried = tx.blob_map()
            # A mirror replaying what a chain accepted may not hold every blob (they
            # travel off-chain); everything else must carry the blobs its items name.
            blobs = None if checked else carried
            void = None
            if self.follows_chain:
                named, void = apply_followed(state, checked_tx.body, items, now=now, blobs=blobs)
            else:
                named = apply(state, checked_tx.body, items, now=now, blobs=blobs)
            for blob_id, data in carried.items():
                channel, epoch = named.get(blob_id) or _blob_home(items, blob_id)
                blob_rows.append((blob_id, channel, epoch, data))
            seq += 1
            first = acc.size
            for n, (data, item) in enumerate(zip(checked_tx.items, items, strict=True)):
                columns = VOID_COLUMNS if void is not None else derived_columns(item)
                leaf_rows.append((first + n, seq, *columns, data))
            if void is not None:
                voids.append((seq, void))
            node_rows.extend(
                n for n in acc.extend(checked_tx.item_hashes) if n[0] >= NODE_MIN_LEVEL
            )
            tx_hash = checked_tx.tx_hash
            prev = entry_hash(prev, seq, now, tx_hash, checked_tx.signature)
            body = checked_tx.body
            tx_rows.append(
                (
                    seq,
                    prev,
                    now,
                    body["type"],
                    body["sender"],
                    body["nonce"],
                    checked_tx.body_bytes,
                    checked_tx.signature,
                    first,
                    len(items),
                )
            )
            receipts.append(Receipt(seq, tx_hash.hex(), prev.hex(), first, len(items), now))
        checkpoint = sign_checkpoint(
            self._operator,
            admin=self.checkpoint_signer or state.admin,
            ledger_id=state.ledger_id,
            size=acc.size,
            prev_size=self._acc.size,
            root=acc.root(),
            time=now,
        )
        key = self._log_key(state.ledger_id)
        note = signed_checkpoint_note(key, acc.size, checkpoint[2])
        return Append(
            (state, acc, prev, seq),
            tx_rows,
            leaf_rows,
            node_rows,
            checkpoint,
            receipts,
            blob_rows,
            note,
            key.verifier.vkey,
            tuple(voids),
        )

    def _log_key(self, ledger_id: str | None) -> NoteKey:
        # Derived once per ledger: HKDF and the Ed25519 key setup cost more than a signature.
        cached: tuple[str | None, NoteKey] | None = getattr(self, "_note_key", None)
        if cached is None or cached[0] != ledger_id:
            if self._operator is None:
                raise Conflict("writing needs the ledger admin's key to sign the checkpoint")
            cached = (ledger_id, log_key(self._operator, ledger_id))
            self._note_key = cached
        return cached[1]

    def _advance(self, done: Append) -> list[Receipt]:
        """The batch is committed: it becomes the head."""
        self._state, self._acc, self._prev, self._seq = done.head
        return done.receipts
