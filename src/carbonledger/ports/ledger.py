"""The ledger port: what every ledger backend offers the services.

Every backend implements it: the embedded SQLite ledger, the SQL store
(PostgreSQL) and the EVM-chain ledger (a contract and an off-chain store); group
commit wraps any of them and is one more implementation. Services, the API and
the web UI are typed against :class:`LedgerPort`, never a concrete backend, and
open one through :func:`carbonledger.services.backends.open_ledger`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from carbonledger.core.proofdoc import proof_document
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import SignedTx
from carbonledger.ports.channels import ChannelStore

__all__ = [
    "Checkpoint",
    "InclusionProof",
    "ItemQuery",
    "LedgerPort",
    "PeriodKey",
    "Receipt",
    "StoredItem",
    "VerifyReport",
]


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where an accepted transaction landed."""

    seq: int
    tx_hash: str
    entry_hash: str
    first_leaf: int
    count: int
    ledger_time: str


@dataclass(frozen=True, slots=True)
class StoredItem:
    """One leaf of the ledger: an item as stored, with its position."""

    leaf_index: int
    seq: int
    data: bytes
    item: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ItemQuery:
    """Filter for :meth:`LedgerPort.items`; dates are ISO ``YYYY-MM-DD``."""

    kind: str | None = None
    id: str | None = None
    id_prefix: str | None = None  # ids starting with this (for ids given by a prefix)
    site: str | None = None
    org: str | None = None
    since: str | None = None  # period end on or after
    until: str | None = None  # period start on or before
    offset: int = 0
    limit: int | None = None
    # Only items after this leaf index: the next page starts where the last one ended
    # (an index seek, where an offset walks every item before it).
    after: int | None = None


@dataclass(frozen=True, slots=True)
class PeriodKey:
    """An accepted bill period for an account (what duplicate and overlap checks need)."""

    account: str
    start: str
    end: str
    record_id: str
    amount: str | None  # None when sealed in a channel (see ``item``)
    unit: str | None
    item: dict[str, Any]  # the record's public item


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed tree head: the ledger's size and Merkle root at a point in time."""

    ledger_id: str
    size: int
    prev_size: int
    root: str
    time: str
    signer: str
    signature: str

    def body(self) -> dict[str, Any]:
        return {
            "ledger": self.ledger_id,
            "size": self.size,
            "prev_size": self.prev_size,
            "root": self.root,
            "time": self.time,
            "signer": self.signer,
        }


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Everything a third party needs to check one item without the database."""

    leaf_index: int
    tree_size: int
    item: bytes
    path: tuple[str, ...]
    checkpoint: Checkpoint
    tx: dict[str, Any]  # body, signature and the item's path inside the transaction

    def document(self) -> dict[str, Any]:
        """The JSON proof document that :func:`carbonledger.core.proofdoc.check_proof` checks."""
        cp = self.checkpoint
        return proof_document(
            leaf_index=self.leaf_index,
            tree_size=self.tree_size,
            item=self.item,
            path=list(self.path),
            checkpoint={**cp.body(), "signature": cp.signature},
            tx=self.tx,
        )


@dataclass
class VerifyReport:
    """Result of a full verification.

    ``errors`` lists every failure found (``entry``, ``leaf``, ``error``), in ledger
    order, up to the limit the check was given (``truncated`` then says more may
    follow); ``error``, ``entry`` and ``leaf`` repeat the first one. ``blobs`` is the
    number of sealed blobs named by items and checked; ``unreferenced`` the number
    stored but named by none (``unreferenced_blobs`` lists the first of them).
    ``remembered_size`` is the size of the checkpoint remembered beside the ledger
    that the ledger was found to extend.
    """

    ok: bool
    entries: int = 0
    leaves: int = 0
    checkpoints: int = 0
    root: str = ""
    error: str | None = None
    entry: int | None = None
    leaf: int | None = None
    notes: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False
    blobs: int = 0
    unreferenced: int = 0
    unreferenced_blobs: list[str] = field(default_factory=list)
    remembered_size: int | None = None


class LedgerPort(Protocol):
    """A tamper-evident, append-only log of signed transactions, with its channel store."""

    @property
    def channels(self) -> ChannelStore:
        """The store of sealed channel data and wrapped keys beside the ledger."""
        ...

    def submit(self, txs: Sequence[SignedTx]) -> list[Receipt]:
        """Check and append ``txs`` atomically: all are accepted or none."""
        ...

    def state(self) -> LedgerState:
        """The rules' view of the ledger now (a copy the caller may keep)."""
        ...

    def items(self, query: ItemQuery) -> Iterator[StoredItem]:
        """Items in ledger order, filtered and paginated."""
        ...

    def periods(self, accounts: Sequence[str]) -> list[PeriodKey]:
        """Bill periods already recorded for these accounts."""
        ...

    def proof(self, leaf_index: int, *, with_tx: bool = True) -> InclusionProof:
        """Inclusion proof of one item against the latest signed checkpoint.

        ``with_tx`` adds the signed transaction that carried the item.
        """
        ...

    def latest_checkpoint(self) -> Checkpoint:
        """The latest signed tree head (NotFound on a ledger without entries)."""
        ...

    def checkpoints(self, *, limit: int = 20) -> list[Checkpoint]:
        """The latest ``limit`` signed tree heads, newest first."""
        ...

    def verify(self, *, max_errors: int = 100) -> VerifyReport:
        """Recompute every hash, signature, rule and the tree; list up to ``max_errors``
        failures, the first one named in the report's ``error``."""
        ...

    @property
    def follows_chain(self) -> bool:
        """Whether a chain that other nodes write to orders this ledger's entries, so an
        entry taken may come back void (a record another node recorded first; see
        :func:`~carbonledger.core.authority.apply_followed`)."""
        ...

    def settle(self) -> None:
        """Return once every transaction this thread submitted is in the ledger (a group
        commit's queue, after deferred submissions), raising a refusal of them; at once
        on a ledger whose ``submit`` returns only then."""
        ...

    def close(self) -> None:
        """Release connections; the ledger is not used after."""
        ...
