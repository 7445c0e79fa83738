"""Large CSV imports on several cores.

The main process reads the file and routes each row, by its site and account,
to one of ``workers`` processes, so every account is checked (duplicates,
overlaps) by exactly one worker, which keeps its own accepted periods. Workers
validate, resolve, calculate, seal the private details and return the items of
each batch with its sealed blobs; the main process alone numbers, signs and
commits transactions, in order, so crash safety and idempotence are those of
:func:`carbonledger.services.importer.import_bills`: a killed import loses at most
uncommitted batches, which a re-run records once.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from carbonledger.core.state import LedgerState
from carbonledger.core.tx import SignedTx, build_tx_from_encoded, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError, RowError
from carbonledger.factors import FactorCatalog
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
from carbonledger.services.backends import reopener
from carbonledger.services.bills_csv import DECODE_ERRORS, RowParser, read_header, read_rows
from carbonledger.services.importer import (
    ImportReport,
    ImportSession,
    lost_row,
    rotate_stale,
    tx_items_limit,
)
from carbonledger.services.resubmit import Lost, commit_records

if TYPE_CHECKING:
    pass

__all__ = ["import_csv_parallel"]

CHUNK = 2000  # rows sent to a worker at a time
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_WATCH_SECONDS = 0.5


class _Sink:
    """The ledger as a worker sees it: a fixed state, periods from the store, no commits.
    ``follows_chain``: the importing process commits to a chain, where a record may be
    lost to another writer; each record's line and kg CO2e then go with its items."""

    def __init__(
        self, reader: LedgerPort, state: LedgerState, out: Any, *, follows_chain: bool = False
    ) -> None:
        self._reader = reader
        self._state = state
        self._out = out
        self._follows_chain = follows_chain
        self.channels = self._reader.channels
        #: The session's records batched, by id: (report, line, kg CO2e); kept on a chain.
        self.rows: dict[str, tuple[Any, int, Decimal]] | None = None

    def state(self) -> LedgerState:
        return self._state

    def periods(self, accounts: Sequence[str]) -> list[PeriodKey]:
        return self._reader.periods(accounts)

    def items(self, query: ItemQuery) -> Iterator[StoredItem]:
        return self._reader.items(query)

    def proof(self, leaf_index: int, *, with_tx: bool = True) -> InclusionProof:
        return self._reader.proof(leaf_index, with_tx=with_tx)

    def verify(self, *, max_errors: int = 100) -> VerifyReport:
        return self._reader.verify(max_errors=max_errors)

    def close(self) -> None:
        self._reader.close()

    @property
    def follows_chain(self) -> bool:
        """Whether the importing process commits to a chain (a worker commits nothing)."""
        return self._follows_chain

    def settle(self) -> None:
        """Nothing to wait for: the items went to the importing process."""

    def latest_checkpoint(self) -> Checkpoint:
        return self._reader.latest_checkpoint()

    def checkpoints(self, *, limit: int = 20) -> list[Checkpoint]:
        return self._reader.checkpoints(limit=limit)

    def submit(self, txs: Sequence[SignedTx]) -> list[Receipt]:
        for tx in txs:
            lines: dict[str, tuple[int, str]] = {}
            if self.rows is not None:  # handed over: the importing process keeps them
                for item in tx.decoded():
                    found = self.rows.pop(str(item.get("id")), None)
                    if found is not None:
                        lines[str(item["id"])] = (found[1], str(found[2]))
            self._out.put(("items", (list(tx.items), list(tx.blobs), lines)))
        return []


def _die_with_parent(parent: int) -> None:
    """Make this worker exit when the importing process dies (e.g. is killed with SIGKILL).

    A worker may be blocked anywhere (on a full queue, in SQLite), so waiting
    for a message is not enough. On Linux the kernel sends SIGKILL when the
    parent dies (``PR_SET_PDEATHSIG``); everywhere, a watchdog thread checks that
    the parent is still ours. Nothing a worker holds is lost: only the parent
    commits, and a re-run records what it had not.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl here: the watchdog still works
            pass
    if os.getppid() != parent:  # the parent died before we could ask
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_WATCH_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _next_chunk(inbox: Any, parent: int) -> Any:
    """The next chunk; exits quietly if the importing process has died (e.g. was killed)."""
    while True:
        try:
            return inbox.get(timeout=1)
        except queue.Empty:
            if os.getppid() != parent:
                os._exit(0)


def _worker(
    reopen: Callable[[], LedgerPort],
    state: LedgerState,
    key: bytes,
    *,
    catalog_home: str | None,
    header: list[str],
    site: str | None,
    source: str | None,
    inbox: Any,
    out: Any,
    parent: int,
    batch: int,
    follows_chain: bool,
) -> None:
    _die_with_parent(parent)
    try:
        sink = _Sink(reopen(), state, out, follows_chain=follows_chain)
        session = ImportSession(
            sink,
            PrivateKey.from_bytes(key),
            FactorCatalog(home=Path(catalog_home) if catalog_home else None),
            store=sink.channels,
            source=source,
            sizes=(batch, 1),
            rotate=False,
        )
        sink.rows = session.rows
        parser = RowParser(header, site=site)
        while (chunk := _next_chunk(inbox, parent)) is not None:
            bills = []
            for line, row in chunk:
                parsed = parser.parse(line, row)
                if isinstance(parsed, RowError):
                    session.report.rows += 1
                    session.report.rejected.append(parsed)
                elif parsed is not None:
                    bills.append(parsed)
            session.add(bills)
            session.out.flush(final=True)
        report = session.finish()
        out.put(("report", report))
    except BaseException as exc:  # reported to the main process, which raises it
        out.put(("error", f"{type(exc).__name__}: {exc}"))


class _Signer:
    """Numbers, signs and commits the workers' items: one transaction per worker batch
    (at most 1,000 items), so each carries the sealed blobs its records name."""

    def __init__(
        self,
        ledger: LedgerPort,
        key: PrivateKey,
        state: LedgerState,
        *,
        batch: int,
        commit_every: int,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.ledger, self.key, self.batch, self.commit_every = ledger, key, batch, commit_every
        self.ledger_id = str(state.ledger_id)
        self.nonce = state.next_nonce(key.address)
        self.bases = set(state.bases)
        self.items: list[bytes] = []
        self.pending: list[SignedTx] = []
        self.progress = progress
        self.procs: list[Any] = []
        # On a chain: records another writer recorded first (see commit_records), each
        # record's (line, kg CO2e) until committed, and what was lost, as rejected rows.
        self.lost: list[Lost] | None = [] if ledger.follows_chain else None
        self.lines: dict[str, tuple[int, str]] = {}
        self.rejected: list[RowError] = []
        self.lost_ids: set[str] = set()
        self.lost_kg = Decimal(0)

    def add(
        self, items: list[bytes], blobs: list[bytes], lines: dict[str, tuple[int, str]]
    ) -> None:
        """One worker's transaction: signed as one, so its sealed blobs travel with the
        records that name them (workers batch at most ``batch`` items); ``lines``: each
        record's line and kg CO2e, on a chain."""
        self.lines.update(lines)
        for data in items:
            if data.startswith(b'{"basis":'):  # canonical JSON: keys sorted
                bid = orjson.loads(data)["id"]
                if bid in self.bases:
                    continue  # another worker already sent this calculation basis
                self.bases.add(bid)
            self.items.append(data)
        self._seal_tx(blobs)

    def _seal_tx(self, blobs: list[bytes]) -> None:
        if not self.items:
            return
        tx = build_tx_from_encoded(
            self.key,
            tx_type="record_emissions",
            ledger_id=self.ledger_id,
            nonce=self.nonce,
            created=utc_now(),
            items=self.items,
            blobs=blobs,
        )
        self.pending.append(tx)
        self.nonce += 1
        self.items = []
        if len(self.pending) >= self.commit_every:
            self.commit()

    def commit(self) -> None:
        if self.pending:
            # Signed again if another writer (this signer on another node) took the nonces.
            self.nonce = commit_records(self.ledger, self.key, self.pending, lost=self.lost)
            if self.progress is not None:
                self.progress(sum(tx.body["count"] for tx in self.pending))
            self.pending = []
            for item, why in self.lost or ():
                rid = str(item["id"])
                line, kg = self.lines.get(rid, (0, "0"))
                self.lost_ids.add(rid)
                self.lost_kg += Decimal(kg)
                self.rejected.append(lost_row(line, why))
            if self.lost:
                self.lost.clear()
            self.lines.clear()  # every item added is in what was just committed

    def finish(self) -> None:
        self.commit()


def import_csv_parallel(
    ledger: LedgerPort,
    key: PrivateKey,
    path: Path,
    *,
    site: str | None = None,
    source: str | None = None,
    catalog_home: Path | None = None,
    workers: int = 2,
    batch_size: int = 1000,
    commit_every: int = 5,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a bills CSV file with ``workers`` processes; same results as ``import_bills``."""
    rotate_stale(ledger, ledger.channels, key)  # here, once: workers only seal
    state = ledger.state()
    batch_size = min(batch_size, tx_items_limit(ledger))
    ctx = mp.get_context("fork")
    inboxes = [ctx.Queue(maxsize=4) for _ in range(workers)]
    out = ctx.Queue(maxsize=64)
    unread: list[RowError] = []  # rows that could not be read as CSV: reported here
    with path.open(newline="", encoding="utf-8-sig", errors=DECODE_ERRORS) as fh:
        rows = read_rows(fh)
        header = read_header(rows)
        parser = RowParser(header, site=site)  # header errors are raised here, in the caller
        procs = [
            ctx.Process(
                target=_worker,
                daemon=True,
                args=(reopener(ledger), state, key.to_bytes()),
                kwargs={
                    "catalog_home": str(catalog_home) if catalog_home else None,
                    "header": header,
                    "site": site,
                    "source": source,
                    "inbox": inboxes[n],
                    "out": out,
                    "parent": os.getpid(),
                    "batch": batch_size,
                    "follows_chain": ledger.follows_chain,
                },
            )
            for n in range(workers)
        ]
        for p in procs:
            p.start()
        signer = _Signer(
            ledger, key, state, batch=batch_size, commit_every=commit_every, progress=progress
        )
        signer.procs = procs
        reports: list[ImportReport] = []
        try:
            chunks: list[list[tuple[int, list[str]]]] = [[] for _ in range(workers)]
            for line, row in rows:
                if isinstance(row, RowError):
                    unread.append(row)
                    continue
                n = zlib.crc32(parser.account_key(row).encode()) % workers
                chunks[n].append((line, row))
                if len(chunks[n]) >= CHUNK:
                    _put(inboxes[n], chunks[n], out, signer, reports)
                    chunks[n] = []
            for n in range(workers):
                if chunks[n]:
                    _put(inboxes[n], chunks[n], out, signer, reports)
                _put(inboxes[n], None, out, signer, reports)
            while len(reports) < workers:
                try:
                    _drain(out.get(timeout=1), signer, reports)
                except queue.Empty:
                    _check_alive(procs)
            signer.finish()
        finally:
            for p in procs:
                p.join(timeout=5)
                if p.is_alive():
                    p.kill()
    return _merge(reports, unread, signer)


def _check_alive(procs: list[Any]) -> None:
    dead = [p for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
    if dead:
        raise CarbonLedgerError(f"an import worker died (exit code {dead[0].exitcode})")


def _put(inbox: Any, chunk: Any, out: Any, signer: _Signer, reports: list[ImportReport]) -> None:
    """Hand a chunk to a worker, committing finished batches while its inbox is full."""
    while True:
        try:
            inbox.put(chunk, timeout=0.01)
            return
        except queue.Full:
            while not out.empty():
                _drain(out.get(), signer, reports)
            _check_alive(signer.procs)


def _drain(message: tuple[str, Any], signer: _Signer, reports: list[ImportReport]) -> None:
    kind, payload = message
    if kind == "items":
        signer.add(*payload)
    elif kind == "report":
        reports.append(payload)
    else:
        raise CarbonLedgerError(f"an import worker failed: {payload}")


def _merge(reports: list[ImportReport], unread: list[RowError], signer: _Signer) -> ImportReport:
    """The workers' reports as one, less the records another writer recorded first (each a
    rejected row), with the rows that could not be read."""
    total = ImportReport()
    total.rows += len(unread)
    total.rejected.extend(unread)
    total.rejected.extend(signer.rejected)
    total.recorded -= len(signer.lost_ids)
    total.kg_co2e -= signer.lost_kg
    for r in reports:
        total.rows += r.rows
        total.recorded += r.recorded
        total.duplicates += r.duplicates
        total.rejected.extend(r.rejected)
        total.kg_co2e += r.kg_co2e
        kept = [i for i in r.record_ids if i not in signer.lost_ids]
        total.record_ids.extend(kept[: max(0, 10_000 - len(total.record_ids))])
    total.rejected.sort(key=lambda e: e.line)
    return total
