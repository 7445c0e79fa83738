"""The chain's entries as a node reads them, and the off-chain store checked against them.

:class:`EntryLog` reads the contract's ``Entry`` events incrementally (only blocks it
has not read), in bounded block ranges, and rereads from the start when a block it
read is no longer on the chain (a reorganisation): the list it returns is always the
chain's as of its last block. ``up_to`` leaves out the newest blocks (a follower's
confirmation depth).

:func:`common_prefix` and :func:`store_receipts` compare the store with that list:
how many entries they share, and where transactions the chain accepted landed in the
store.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import sqlite3
import threading
import zlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from carbonledger.adapters.evm.rpc import Rpc
from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.core.tx import SignedTx
from carbonledger.core.typed import chain_commitment
from carbonledger.crypto.keys import keccak256
from carbonledger.errors import IntegrityError
from carbonledger.ports.ledger import Receipt

if TYPE_CHECKING:
    from carbonledger.adapters.sqlstore import SqlLedger

__all__ = [
    "ENTRY_TOPIC",
    "EntryLog",
    "common_prefix",
    "store_count",
    "store_receipts",
    "writer_lock",
]

ENTRY_TOPIC = "0x" + keccak256(b"Entry(address,uint64,bytes32,bytes32)").hex()
#: Blocks read per eth_getLogs (public nodes refuse wide ranges).
LOG_RANGE = 10_000

Row = tuple[int, bytes, str, int]


class EntryLog:
    """The ``Entry`` events of the contract at ``address`` since ``start`` (its deploy block)."""

    def __init__(self, rpc: Rpc, address: str, start: int) -> None:
        self.rpc, self.address, self.start = rpc, address, start
        self._entries: list[dict[str, Any]] = []
        self._read_to = start - 1  # the last block read
        self._hashes: dict[int, str] = {}  # block -> hash, for the blocks that hold entries
        self._last_hash: str | None = None
        #: The block the last call read up to (``depth`` below the chain's latest then).
        self.block = start - 1
        # A server's follower and its writer share one log.
        self._lock = threading.Lock()

    def entries(self, *, depth: int = 0, upto: int | None = None) -> list[dict[str, Any]]:
        """Every entry in the blocks up to ``depth`` below the latest (or up to block
        ``upto``, one the caller knows is on the chain: its own transactions' block), in
        chain order."""
        with self._lock:
            return self._entries_to(depth, upto)

    def held(self, start: int, stop: int, upto: int | None) -> list[dict[str, Any]] | None:
        """Entries ``start`` to ``stop`` as last read, without a request, if that read
        reached block ``upto`` (None otherwise): for a caller that has just read them."""
        with self._lock:
            if upto is None or self._read_to < upto:
                return None
            return self._entries[start:stop]

    def _entries_to(self, depth: int, upto: int | None) -> list[dict[str, Any]]:
        # Round trips are what following costs: the blocks read before are checked (a
        # reorganisation), the latest asked for, and the new logs read, in one request
        # when the block to read to is known, else in two.
        checks = self._checks()
        calls: list[tuple[str, list[Any]]] = [
            ("eth_getBlockByNumber", [hex(n), False]) for n, _ in checks
        ]
        if upto is None:
            calls.append(("eth_blockNumber", []))
        elif self._read_to < upto <= self._read_to + LOG_RANGE:
            calls += self._log_calls(upto)
        answers = self.rpc.batch(calls)
        blocks, rest = answers[: len(checks)], answers[len(checks) :]
        target = int(rest.pop(), 16) - depth if upto is None else upto
        if any(
            b is None or b["hash"] != known for b, (_, known) in zip(blocks, checks, strict=True)
        ):
            self._entries, self._read_to, self._hashes = [], self.start - 1, {}
            rest = []  # read again from the start
        if rest and upto is not None:
            self._took(upto, *rest)
        while self._read_to < target:
            to = min(target, self._read_to + LOG_RANGE)
            self._took(to, *self.rpc.batch(self._log_calls(to)))
        self.block = max(target, self.start - 1)
        if self._read_to > target:  # asked for fewer confirmations than read before
            return [e for e in self._entries if e["block"] <= target]
        return list(self._entries)

    def _log_calls(self, to: int) -> list[tuple[str, list[Any]]]:
        """The calls that read the entries of the blocks after the last read, up to ``to``."""
        logs = {
            "address": self.address,
            "fromBlock": hex(self._read_to + 1),
            "toBlock": hex(to),
            "topics": [ENTRY_TOPIC],
        }
        return [("eth_getLogs", [logs]), ("eth_getBlockByNumber", [hex(to), False])]

    def _took(self, to: int, logs: list[dict[str, Any]], block: dict[str, Any] | None) -> None:
        """Keep the entries read from the blocks up to ``to`` and that block's hash."""
        for log in logs:
            self._entries.append(_entry(log))
            self._hashes[int(log["blockNumber"], 16)] = log["blockHash"]
        self._read_to = to
        self._last_hash = block["hash"] if block else None

    def _checks(self) -> list[tuple[int, str | None]]:
        """The blocks read before whose hashes must not have changed (a reorganisation):
        the last block read and the newest block holding entries."""
        if self._read_to < self.start:
            return []
        checks = [(self._read_to, self._last_hash)]
        if self._hashes:
            newest = max(self._hashes)
            checks.append((newest, self._hashes[newest]))
        return checks


def _entry(log: dict[str, Any]) -> dict[str, Any]:
    data = bytes.fromhex(log["data"][2:])
    return {
        "sender": "0x" + log["topics"][1][-40:],
        "nonce": int(log["topics"][2], 16),
        "tx_hash": data[:32].hex(),
        "items_root": data[32:64].hex(),
        "evm_tx": log["transactionHash"],
        "block": int(log["blockNumber"], 16),
    }


def common_prefix(rows: Sequence[Row], entries: Sequence[dict[str, Any]]) -> int:
    """How many entries the store (``rows``: seq, body, sender, nonce) and the chain share."""
    n = 0
    for (_, body, sender, nonce), entry in zip(rows, entries, strict=False):
        if (
            chain_commitment(body)[0] != entry["tx_hash"]
            or sender.lower() != entry["sender"]
            or nonce != entry["nonce"]
        ):
            break
        n += 1
    return n


def store_count(store: SqliteLedger | SqlLedger) -> int:
    """How many entries the store holds (its last sequence number)."""
    if isinstance(store, SqliteLedger):
        conn = sqlite3.connect(store.path)
        try:
            return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM tx").fetchone()[0])
        finally:
            conn.close()
    return store.tx_count()


def store_receipts(store: SqliteLedger | SqlLedger, txs: Sequence[SignedTx]) -> list[Receipt]:
    """Where ``txs`` landed in the store (an IntegrityError if one is not there)."""
    wanted = {tx.tx_hash.hex() for tx in txs}
    found: dict[str, Receipt] = {}
    for seq, entry_hash, when, body, first, count in _receipt_rows(store):
        digest = hashlib.sha256(body).hexdigest()
        if digest in wanted:
            found[digest] = Receipt(seq, digest, entry_hash.hex(), first, count, when)
    missing = [tx.tx_hash.hex() for tx in txs if tx.tx_hash.hex() not in found]
    if missing:
        raise IntegrityError(
            f"transaction {missing[0][:16]}... was accepted by the chain but is not in the"
            " store after reading the chain back; run sync"
        )
    return [found[tx.tx_hash.hex()] for tx in txs]


def _receipt_rows(store: SqliteLedger | SqlLedger) -> list[tuple[int, bytes, str, bytes, int, int]]:
    if not isinstance(store, SqliteLedger):
        return store.receipt_rows()
    conn = sqlite3.connect(store.path)
    try:
        return [
            (seq, bytes(h), when, bytes(body), first, count)
            for seq, h, when, body, first, count in conn.execute(
                "SELECT seq, entry_hash, ledger_time, body, first_leaf, n_leaves FROM tx"
                " ORDER BY seq"
            )
        ]
    finally:
        conn.close()


#: (id(ledger), thread) -> depth, for a lock taken again inside itself by the same thread
#: (another thread of the process, a server's follower beside its writer, waits on the
#: lock file or the advisory lock through its own handle, as another process does).
_HELD: dict[tuple[int, int], int] = {}
_THREADS = threading.Lock()


@contextlib.contextmanager
def writer_lock(ledger: Any) -> Iterator[None]:
    """One writer of ``ledger``'s store at a time, across processes and threads: a lock
    file beside a SQLite store, an advisory lock in PostgreSQL. Two imports from one home
    otherwise interleave their entries in the store and on chain in different orders."""
    key = (id(ledger), threading.get_ident())
    with _THREADS:
        depth = _HELD.get(key, 0)
        _HELD[key] = depth + 1
    try:
        if depth:
            yield
            return
        store = ledger.mirror
        if isinstance(store, SqliteLedger):
            with open(f"{store.path}.lock", "a+b") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
            return
        if store.engine.dialect.name != "postgresql":
            yield
            return
        lock_id = zlib.crc32(f"carbonledger:{ledger.address}".encode())
        with store.engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({lock_id})")
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({lock_id})")
                conn.commit()
    finally:
        with _THREADS:
            _HELD[key] -= 1
            if not _HELD[key]:
                del _HELD[key]
