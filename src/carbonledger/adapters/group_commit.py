"""Group commit: many concurrent writers, one append (one commit, one fsync) per batch.

A server handling many small writes (one bill per request) would otherwise pay
one commit per request: an fsync on the embedded ledger, a database commit on
the SQL store, a mined EVM transaction on a chain. :class:`GroupCommitLedger`
wraps any :class:`~carbonledger.ports.ledger.LedgerPort` and is one itself: ``submit``
checks each transaction against a *speculative* state (the committed state plus
everything accepted but not yet committed), queues it and returns at once; a
writer thread commits whatever is queued as one batch. ``wait()`` blocks the
calling thread until its own transactions are committed (raising if the commit
failed), so a request answers only once its data is durable.

Reads see committed data; ``state()`` and ``periods()`` also see what is queued,
so nonces, calculation bases and duplicate checks stay consistent for the next
writer.

Other processes may write to the same file (a CLI command while the server
runs): whenever nothing is queued or being committed, ``state()`` and
``submit`` first catch up with their commits (on a backend that offers
``refresh``, as the embedded one does), and each commit re-checks its batch
against the ledger's latest head, so the server keeps accepting writes. Within
:meth:`GroupCommitLedger.current` (a request, a batch) that is done once, at its
start, not at each of the many lookups it makes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from carbonledger.core.authority import apply
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import SignedTx, check_tx, utc_now
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import (
    Checkpoint,
    InclusionProof,
    ItemQuery,
    LedgerPort,
    PeriodKey,
    Receipt,
    StoredItem,
    VerifyReport,
)

__all__ = ["GroupCommitLedger"]

T = TypeVar("T")

#: The ledger whose other processes' commits this context (a request, a batch) has
#: already taken in, within :meth:`GroupCommitLedger.current`.
_CAUGHT_UP: ContextVar[GroupCommitLedger | None] = ContextVar("caught_up", default=None)


class _QueuedBlobs:
    """The channel store, plus the sealed blobs of transactions queued but not committed
    (an import checking a duplicate opens the details of a bill still in the queue)."""

    def __init__(self, inner: ChannelStore) -> None:
        self.inner = inner
        self.queued: dict[str, bytes] = {}

    def put_keys(self, channel: str, epoch: int, wrapped: Mapping[str, bytes]) -> None:
        self.inner.put_keys(channel, epoch, wrapped)

    def wrapped_key(self, channel: str, epoch: int, member: str, digest: str) -> bytes:
        return self.inner.wrapped_key(channel, epoch, member, digest)

    def put_blob(self, blob_id: str, channel: str, epoch: int, data: bytes) -> None:
        self.inner.put_blob(blob_id, channel, epoch, data)

    def blob(self, blob_id: str) -> bytes:
        data = self.queued.get(blob_id)
        return data if data is not None else self.inner.blob(blob_id)

    def blob_ids(self) -> Iterator[tuple[str, bytes]]:
        return self.inner.blob_ids()


class GroupCommitLedger:
    """Implements :class:`carbonledger.ports.ledger.LedgerPort` over any other implementation."""

    def __init__(self, ledger: LedgerPort, *, max_batch: int = 1000) -> None:
        self.inner = ledger
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue: list[tuple[SignedTx, Future[Receipt]]] = []
        self._spec = ledger.state()
        self._pending_periods: dict[str, list[PeriodKey]] = {}
        self._blobs = _QueuedBlobs(ledger.channels)
        self._mine = threading.local()
        self._inflight = False  # a batch taken off the queue is being committed
        self._reloads = getattr(ledger, "reloads", 0)  # catch-ups seen (other processes)
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    @property
    def max_tx_items(self) -> int | None:
        """How many items one signed transaction may hold on the wrapped backend (a chain
        bounds an EVM transaction's calldata and gas), or None where it sets no bound:
        an import through the group commit signs transactions that each fit."""
        limit = getattr(self.inner, "max_tx_items", None)
        return limit if isinstance(limit, int) else None

    @property
    def channels(self) -> ChannelStore:
        """The channel store; reads also see the blobs of queued transactions."""
        return self._blobs

    def latest_checkpoint(self) -> Checkpoint:
        return self.inner.latest_checkpoint()

    def checkpoints(self, *, limit: int = 20) -> list[Checkpoint]:
        return self.inner.checkpoints(limit=limit)

    # -- writes -------------------------------------------------------------
    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Within this block, ``submit`` queues and returns at once; call :meth:`wait` after."""
        self._mine.deferred = True
        try:
            yield
        finally:
            self._mine.deferred = False

    def submit(self, txs: Sequence[SignedTx]) -> list[Receipt]:
        """Check and queue ``txs`` (all or none) and wait for their commit.

        Inside :meth:`deferred` it returns no receipts at once instead: call :meth:`wait`.
        """
        self._enqueue(txs)
        if getattr(self._mine, "deferred", False):
            return []
        return self.wait()

    def _catch_up(self) -> None:
        """Take in commits made by other processes, unless our own are pending.

        Called with ``self._lock`` held. While transactions are queued or being
        committed the speculative state stays as it is: their commit catches up
        with the file and re-checks them (the writer thread then resets it).
        """
        refresh = getattr(self.inner, "refresh", None)
        if refresh is None or self._queue or self._inflight or _CAUGHT_UP.get() is self:
            return
        if refresh(blocking=False) or getattr(self.inner, "reloads", 0) != self._reloads:
            self._reloads = getattr(self.inner, "reloads", 0)
            self._spec = self.inner.state()
            self._pending_periods.clear()

    @contextmanager
    def current(self) -> Iterator[None]:
        """Take in other processes' commits now, and not again within this block.

        A request (or a batch of them) looks the state up several times (who the
        caller is, the site, the channel, its key); asking the file whether another
        process committed costs a query each time. Within the block every lookup
        sees the state as it was at its start plus this process's own writes; the
        next block (the next request) sees whatever was committed before it began.
        The block is this context's (a task's or a thread's) and ends with it.
        """
        with self._lock:
            self._catch_up()
        token = _CAUGHT_UP.set(self)
        try:
            yield
        finally:
            _CAUGHT_UP.reset(token)

    def _enqueue(self, txs: Sequence[SignedTx]) -> None:
        with self._lock:
            self._catch_up()
            spec = self._spec.copy()
            now = utc_now()
            checked = []
            for raw in txs:
                tx = check_tx(raw)
                items = tx.decoded()
                apply(spec, tx.body, items, now=now, blobs=tx.blob_map())
                checked.append((tx, items))
            self._spec = spec
            futures = getattr(self._mine, "futures", None)
            if futures is None:
                futures = self._mine.futures = []
            for tx, items in checked:
                self._blobs.queued.update(tx.blob_map())
                future: Future[Receipt] = Future()
                self._queue.append((tx, future))
                futures.append(future)
                for item in items:
                    if item.get("kind") == "emissions_record":
                        account = f"{item['site']}/{item['account']}"
                        self._pending_periods.setdefault(account, []).append(
                            PeriodKey(
                                account,
                                item["period"]["start"],
                                item["period"]["end"],
                                item["id"],
                                None,
                                None,
                                item,
                            )
                        )
            self._ready.notify()

    def wait(self) -> list[Receipt]:
        """Block until this thread's queued transactions are committed; their receipts."""
        return [f.result() for f in self.pending()]

    def pending(self) -> list[Future[Receipt]]:
        """This thread's queued transactions, as futures of their receipts, without waiting.

        The thread may queue more at once (a builder of batches goes on building the
        next one while this one commits); the futures are no longer this thread's to wait.
        """
        futures: list[Future[Receipt]] = getattr(self._mine, "futures", None) or []
        self._mine.futures = []
        return futures

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopped:
                    self._ready.wait()
                if self._stopped and not self._queue:
                    return
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                self._inflight = True
            try:
                receipts = self.inner.submit([tx for tx, _ in batch])
            except BaseException as exc:  # handed to every waiting writer
                with self._lock:
                    self._inflight = False
                    self._spec = self.inner.state()  # forget what was not committed
                    for _, future in self._queue:
                        future.set_exception(exc)
                    self._queue.clear()
                    self._pending_periods.clear()
                    self._blobs.queued.clear()
                for _, future in batch:
                    future.set_exception(exc)
                continue
            with self._lock:
                self._inflight = False
                if not self._queue:
                    self._pending_periods.clear()
                    self._blobs.queued.clear()
                    # Start again from what was committed: the backend stamped its own
                    # ledger time (the speculative state used the time of queueing), and
                    # the commit may have taken in other processes' commits.
                    self._reloads = getattr(self.inner, "reloads", 0)
                    self._spec = self.inner.state()
            for (_, future), receipt in zip(batch, receipts, strict=True):
                future.set_result(receipt)

    @property
    def follows_chain(self) -> bool:
        """Whether the wrapped ledger's entries are ordered by a chain (see the port)."""
        return self.inner.follows_chain

    def settle(self) -> None:
        """Wait until this thread's queued transactions are committed (:meth:`wait`)."""
        self.wait()

    def close(self) -> None:
        with self._lock:
            self._stopped = True
            self._ready.notify()
        self._thread.join()
        self.inner.close()

    # -- reads --------------------------------------------------------------
    def state(self) -> LedgerState:
        with self._lock:
            self._catch_up()
            return self._spec.copy()

    def peek(self, look: Callable[[LedgerState], T]) -> T:
        """``look`` at the state ``state()`` returns, without copying it (``look`` must not
        change it): one identity or site per request costs a lookup, not a copy of the
        whole state (its periods grow with the accounts on the ledger)."""
        with self._lock:
            self._catch_up()
            return look(self._spec)

    def items(self, query: ItemQuery) -> Iterator[StoredItem]:
        return self.inner.items(query)

    def item_rows(self, query: ItemQuery) -> Iterator[tuple[int, bytes]]:
        """:meth:`items` as (leaf index, stored bytes), not decoded where the wrapped
        backend offers that (the embedded one does)."""
        rows: Callable[[ItemQuery], Iterator[tuple[int, bytes]]] | None = getattr(
            self.inner, "item_rows", None
        )
        if rows is not None:
            return rows(query)
        return ((s.leaf_index, s.data) for s in self.inner.items(query))

    def periods(self, accounts: Sequence[str]) -> list[PeriodKey]:
        found = self.inner.periods(accounts)
        with self._lock:
            for account in accounts:
                found.extend(self._pending_periods.get(account, ()))
        return found

    def proof(self, leaf_index: int, *, with_tx: bool = True) -> InclusionProof:
        return self.inner.proof(leaf_index, with_tx=with_tx)

    def verify(self, *, max_errors: int = 100) -> VerifyReport:
        return self.inner.verify(max_errors=max_errors)
