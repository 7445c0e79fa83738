"""Bills from concurrent requests by one signer, recorded in one signed transaction.

A server holding a signer's key (a service account, a session that unlocked its
keystore) would otherwise sign one transaction, append one entry and commit once
per request. Here each request queues its bills and is handed a future; one
builder thread takes *every* request queued when it is free, and for each signer
runs that signer's requests through one
:class:`~carbonledger.services.importer.ImportSession` in arrival order (so a
bill is judged against the ledger and against the bills of the requests before
it, exactly as if the requests had come one after another), signs the batch once
and hands it to the group commit. It then builds the next batch while that one
commits. Each request gets its own :class:`ImportReport`, resolved only once its
batch is durable.

The requests wait on futures rather than threads: an ``async`` route awaits its
future on the event loop, so a thousand requests in flight cost no thread each.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field

from carbonledger.adapters.group_commit import GroupCommitLedger
from carbonledger.core.domain import Bill
from carbonledger.crypto.keys import PrivateKey
from carbonledger.factors import FactorCatalog
from carbonledger.ports.ledger import LedgerPort, Receipt
from carbonledger.services.channels import UnwrappedKey
from carbonledger.services.importer import ImportReport, ImportSession

__all__ = ["BillCoalescer"]


@dataclass
class _Request:
    key: PrivateKey
    bills: list[Bill]
    source: str | None
    # The items recorded are kept: a route answers with them rather than reading them back.
    report: ImportReport = field(default_factory=lambda: ImportReport(items={}))
    done: Future[ImportReport] = field(default_factory=Future)


class BillCoalescer:
    """Records the bills of concurrent requests by one signer in shared transactions."""

    def __init__(
        self,
        ledger: LedgerPort,
        catalog: FactorCatalog,
        write_lock: AbstractContextManager[object],
    ) -> None:
        self._ledger, self._catalog, self._write_lock = ledger, catalog, write_lock
        # Without group commit each batch is committed as it is submitted.
        self._group = ledger if isinstance(ledger, GroupCommitLedger) else None
        self._queued: list[_Request] = []
        self._changed = threading.Condition()
        # Channel keys unwrapped by earlier batches (an ECDH each), by the wrapped key's
        # digest the ledger names: a rotation or a new wrapping is unwrapped afresh.
        self._unwrapped: dict[UnwrappedKey, bytes] = {}
        self._builder: threading.Thread | None = None
        self._idle = False  # the builder waits for requests (else it takes them when done)

    def submit(
        self, key: PrivateKey, bills: list[Bill], source: str | None
    ) -> Future[ImportReport]:
        """Queue ``bills`` signed with ``key``; the future resolves once they are durable.

        It raises what recording the batch raised (every request of the batch then
        fails: nothing of it was committed).
        """
        mine = _Request(key, bills, source)
        with self._changed:
            self._queued.append(mine)
            if self._builder is None:
                self._builder = threading.Thread(
                    target=self._build_forever, name="bill-batches", daemon=True
                )
                self._builder.start()
            if self._idle:  # waking a busy builder would only cost a thread switch
                self._changed.notify()
        return mine.done

    def record(self, key: PrivateKey, bills: list[Bill], source: str | None) -> ImportReport:
        """Record ``bills`` signed with ``key``; returns once they are durable."""
        return self.submit(key, bills, source).result()

    async def record_async(
        self, key: PrivateKey, bills: list[Bill], source: str | None
    ) -> ImportReport:
        """:meth:`record` for an ``async`` route: the event loop serves others meanwhile."""
        return await asyncio.wrap_future(self.submit(key, bills, source))

    def _build_forever(self) -> None:
        while True:
            with self._changed:
                while not self._queued:
                    self._idle = True
                    self._changed.wait()
                    self._idle = False
                taken, self._queued = self._queued, []
            by_signer: dict[str, list[_Request]] = {}
            for request in taken:  # arrival order within each signer
                by_signer.setdefault(request.key.address, []).append(request)
            for batch in by_signer.values():
                self._build(batch)

    def _build(self, batch: list[_Request]) -> None:
        deferred = self._group.deferred() if self._group else nullcontext()
        # Other processes' commits are taken in once a batch, not at each lookup.
        current = self._group.current() if self._group else nullcontext()
        try:
            with self._write_lock, deferred, current:
                self._run(batch)
        except BaseException as exc:
            # What was queued before the failure still commits (a batch of more than
            # one commit's worth of items); the requests are told they failed.
            with suppress(Exception):
                self._wait()
            for request in batch:
                request.done.set_exception(exc)
            return
        if self._group is None:
            _resolve(batch, None)
            return
        # The next batch is built while this one commits.
        _when_all(self._group.pending(), lambda error: _resolve(batch, error))

    def _wait(self) -> None:
        if self._group is not None:
            self._group.wait()

    def _run(self, batch: list[_Request]) -> None:
        session = ImportSession(
            self._ledger,
            batch[0].key,
            self._catalog,
            store=self._ledger.channels,
            unwrapped=self._unwrapped,
        )
        for request in batch:
            # Each request's rows are counted in its own report and sealed with its
            # own source; duplicates and overlaps are judged against the ledger and
            # the requests before it in the batch, as if they had come one by one.
            session.report = request.report
            session.source = request.source
            session.add(request.bills)
        session.finish()


def _resolve(batch: list[_Request], error: BaseException | None) -> None:
    for request in batch:
        if error is None:
            request.done.set_result(request.report)
        else:
            request.done.set_exception(error)


def _when_all(futures: list[Future[Receipt]], then: Callable[[BaseException | None], None]) -> None:
    """Call ``then`` once every one of ``futures`` is done, with the first failure if any."""
    if not futures:
        then(None)
        return
    countdown = _Countdown(len(futures), then)
    for future in futures:
        future.add_done_callback(countdown.one_done)


class _Countdown:
    """What :func:`_when_all` waits with. It holds no future: a future keeps its callbacks
    once done, and a callback that held the futures made a cycle of every batch's futures
    and requests, freed only by the collector's full pass (a pause of many milliseconds)."""

    def __init__(self, left: int, then: Callable[[BaseException | None], None]) -> None:
        self._left, self._then = left, then
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    def one_done(self, future: Future[Receipt]) -> None:
        error = future.exception()
        with self._lock:
            if error is not None and self._error is None:
                self._error = error
            self._left -= 1
            last = self._left == 0
        if last:
            then, self._then = self._then, _nothing  # what it would answer, dropped once done
            then(self._error)


def _nothing(_: BaseException | None) -> None:
    return None
