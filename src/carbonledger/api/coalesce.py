"""Bills from concurrent requests by one signer, recorded in one signed transaction.

A server holding a signer's key (a service account, a session that unlocked its
keystore) would otherwise sign one transaction, append one entry and commit once
per request. Here each request queues its bills and tries to become the writer;
the writer takes *every* request queued for that signer when it gets the write
lock, runs them through one :class:`~carbonledger.services.importer.ImportSession`
in arrival order (so a bill is judged against the ledger and against the bills
of the requests before it in the batch, exactly as if the requests had come one
after another), signs the batch once and hands it to the group commit. Each
request gets its own :class:`ImportReport` and is answered only once the batch
is durable.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field

from carbonledger.adapters.group_commit import GroupCommitLedger
from carbonledger.core.domain import Bill
from carbonledger.crypto.keys import PrivateKey
from carbonledger.factors import FactorCatalog
from carbonledger.ports.ledger import LedgerPort
from carbonledger.services.importer import ImportReport, ImportSession

__all__ = ["BillCoalescer"]


@dataclass
class _Request:
    bills: list[Bill]
    source: str | None
    report: ImportReport = field(default_factory=ImportReport)
    taken: bool = False  # by the request building its signer's batch
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
        self._queued: dict[str, list[_Request]] = {}
        self._building: set[str] = set()  # signers whose batch a request is building
        self._changed = threading.Condition()

    def record(self, key: PrivateKey, bills: list[Bill], source: str | None) -> ImportReport:
        """Record ``bills`` signed with ``key``; returns once they are durable.

        Raises what recording the batch raised (every request of the batch then fails:
        nothing of it was committed).
        """
        mine = _Request(bills, source)
        signer = key.address
        with self._changed:
            self._queued.setdefault(signer, []).append(mine)
            # One request at a time builds a signer's batch; the others wait until it
            # has taken them (then they only wait for the commit) or it is done.
            while signer in self._building and not mine.taken:
                self._changed.wait()
            batch = [] if mine.taken else self._queued.pop(signer)
            for request in batch:
                request.taken = True
            if batch:
                self._building.add(signer)
        if not batch:
            return mine.done.result()  # another request's batch holds it
        try:
            deferred = self._group.deferred() if self._group else nullcontext()
            with self._write_lock, deferred:
                self._run(key, batch)
        except BaseException as exc:
            # What was queued before the failure still commits (a batch of more than
            # one commit's worth of items); the requests are told they failed.
            with suppress(Exception):
                self._wait()
            for request in batch:
                request.done.set_exception(exc)
            batch = []
        finally:
            with self._changed:
                self._building.discard(signer)
                self._changed.notify_all()
        if batch:
            # The next batch is built while this one commits.
            try:
                self._wait()
            except BaseException as exc:
                for request in batch:
                    request.done.set_exception(exc)
            else:
                for request in batch:
                    request.done.set_result(request.report)
        return mine.done.result()

    def _wait(self) -> None:
        if self._group is not None:
            self._group.wait()

    def _run(self, key: PrivateKey, batch: list[_Request]) -> None:
        session = ImportSession(self._ledger, key, self._catalog, store=self._ledger.channels)
        for request in batch:
            # Each request's rows are counted in its own report and sealed with its
            # own source; duplicates and overlaps are judged against the ledger and
            # the requests before it in the batch, as if they had come one by one.
            session.report = request.report
            session.source = request.source
            session.add(request.bills)
        session.finish()
