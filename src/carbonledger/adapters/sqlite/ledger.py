"""Embedded ledger backend: one SQLite file, WAL, one atomic commit per batch."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from carbonledger.adapters.checkpoint_rows import latest_checkpoint, latest_checkpoints
from carbonledger.adapters.ledger_log import Head, LedgerLog, tx_evidence
from carbonledger.adapters.sqlite.channels import SqliteChannelStore
from carbonledger.adapters.sqlite.schema import NODE_MIN_LEVEL, connect
from carbonledger.adapters.state_tail import (
    load_snapshot,
    replay_tail,
    snapshot_due,
    snapshot_entry,
)
from carbonledger.adapters.tlog_store import (
    batch_notes,
    ledger_consistency,
    prune_blobs,
    read_meta_text,
    read_remembered,
    remember_checkpoint,
    remembered_problem,
    replace_rows,
    void_seq,
)
from carbonledger.core.canonical import canonical
from carbonledger.core.checkpoint import checkpoint_digest
from carbonledger.core.merkle import (
    MerkleAccumulator,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
)
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import GENESIS_PREV, SignedTx, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import Conflict, IntegrityError, NotFound
from carbonledger.ports.ledger import (
    Checkpoint,
    InclusionProof,
    ItemQuery,
    PeriodKey,
    Receipt,
    StoredItem,
    VerifyReport,
)

__all__ = ["SqliteLedger", "checkpoint_digest"]


class SqliteLedger(LedgerLog):
    """The embedded ledger: implements :class:`carbonledger.ports.ledger.LedgerPort`.

    ``operator`` signs checkpoints; it must be the ledger admin's key (it is
    required only to write). Reads and ``verify`` need no key.
    """

    def __init__(
        self,
        path: str | Path,
        operator: PrivateKey | None = None,
        *,
        checkpoint_signer: str | None = None,
        follows_chain: bool = False,
    ) -> None:
        self.path = str(path)
        self._operator = operator
        self.checkpoint_signer = checkpoint_signer
        self.follows_chain = follows_chain
        try:
            self._conn = connect(self.path)  # the writer's: used under self._lock
        except sqlite3.DatabaseError as exc:  # a truncated or foreign file
            raise IntegrityError(
                f"{self.path}: the ledger file is damaged or not a ledger ({exc})"
            ) from exc
        self._data_version = -1
        # Leaves committed after the stored state snapshot, and the snapshot's length
        # (see carbonledger.adapters.state_tail).
        self._tail = self._snapshot_bytes = 0
        self._seq, self._prev = 0, GENESIS_PREV
        #: How many times this handle caught up with other processes' commits.
        self.reloads = 0
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        #: Sealed channel data and wrapped keys, in the same file.
        self.channels = SqliteChannelStore(self._reader)
        self._lock = threading.Lock()
        self._open("the ledger file")

    # -- opening ----------------------------------------------------------
    def _load(self) -> Head:
        """State from the last snapshot and the entries after it (``verify`` re-derives it).

        The head row, the snapshot, the entries after it and the leaf count are read in
        one read transaction: read apart, a commit by another process between them
        looks like a snapshot that disagrees with the file.
        """
        conn = self._conn
        if conn.in_transaction:  # a writer catching up: already one snapshot
            return self._read_head(conn)
        try:
            conn.execute("BEGIN")
            return self._read_head(conn)
        except sqlite3.DatabaseError as exc:
            raise IntegrityError(f"it cannot be read: {exc}") from exc
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def _read_head(self, conn: sqlite3.Connection) -> Head:
        self._data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        row = conn.execute("SELECT seq, entry_hash FROM tx ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row[0], bytes(row[1])) if row else (0, GENESIS_PREV)
        size = conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM leaf").fetchone()[0]
        if self._head_holds(conn):
            # Another process's commits after our own head: only they are replayed.
            state, after = self._state.copy(), self._seq
            tail, snapshot_bytes = self._tail, self._snapshot_bytes
        else:
            snap = conn.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()
            if snap is None:
                if row is not None:
                    raise IntegrityError("the state snapshot is missing")
                self._tail, self._snapshot_bytes = 0, 0
                return LedgerState(), MerkleAccumulator(), prev, seq
            state, snapshot_bytes = load_snapshot(bytes(snap[0]))
            after, tail = self._entry_ending_at(conn, state.size, size), 0
        start = state.size
        replay_tail(
            state,
            conn.execute(
                "SELECT seq, ledger_time, body, first_leaf, n_leaves FROM tx WHERE seq > ?"
                " ORDER BY seq",
                (after,),
            ),
            conn.execute("SELECT idx, data FROM leaf WHERE idx >= ? ORDER BY idx", (start,)),
            size=size,
            follows_chain=self.follows_chain,
        )
        self._tail, self._snapshot_bytes = tail + size - start, snapshot_bytes
        acc = MerkleAccumulator.from_frontier(size, self._frontier(size))
        return state, acc, prev, seq

    def _head_holds(self, conn: sqlite3.Connection) -> bool:
        """Whether the head held in memory is still the file's entry at its place (only
        later entries were added): catching up then replays those, not the snapshot's."""
        if self._damage is not None or self._seq == 0:
            return False
        row = conn.execute("SELECT entry_hash FROM tx WHERE seq = ?", (self._seq,)).fetchone()
        return row is not None and bytes(row[0]) == self._prev

    @staticmethod
    def _entry_ending_at(conn: sqlite3.Connection, snapshot: int, size: int) -> int:
        """The entry after which the snapshot of ``snapshot`` leaves was taken."""
        row = conn.execute(
            "SELECT tx.seq, tx.first_leaf + tx.n_leaves FROM leaf JOIN tx ON tx.seq = leaf.seq"
            " WHERE leaf.idx = ?",
            (snapshot - 1,),
        ).fetchone()
        return snapshot_entry(row, snapshot, size)

    def _frontier(self, size: int) -> list[bytes]:
        """Hashes of the perfect subtrees that make up a tree of ``size`` leaves, left first."""
        out: list[bytes] = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                out.append(self._node(level, start >> level))
                start += 1 << level
        return out

    def voids(self) -> dict[int, str]:
        """Why each void entry is void, by sequence number (a chain node's store: see
        ``follows_chain``; such entries are rare, a lost race between two nodes)."""
        rows = self._reader().execute("SELECT key, value FROM meta WHERE key LIKE 'void:%'")
        return {void_seq(key): bytes(value).decode() for key, value in rows}

    def _reader(self) -> sqlite3.Connection:
        """This thread's connection for reads (WAL: readers never block the writer)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
            self._readers.append(conn)
        return conn

    def _node(self, level: int, idx: int) -> bytes:
        if level >= NODE_MIN_LEVEL:
            row = (
                self._reader()
                .execute("SELECT hash FROM node WHERE level = ? AND idx = ?", (level, idx))
                .fetchone()
            )
            if row is None:
                raise IntegrityError(f"Merkle node ({level}, {idx}) is missing", entry=None)
            return bytes(row[0])
        lo, hi = idx << level, (idx + 1) << level
        hashes = [
            leaf_hash(d)
            for (d,) in self._reader().execute(
                "SELECT data FROM leaf WHERE idx >= ? AND idx < ? ORDER BY idx", (lo, hi)
            )
        ]
        if len(hashes) != hi - lo:
            raise IntegrityError(f"leaves {lo}..{hi - 1} are incomplete", entry=None)
        return root_from_leaf_hashes(hashes)

    # -- other processes --------------------------------------------------
    def refresh(self, *, blocking: bool = True) -> bool:
        """Catch up with commits made by other processes; True if the head moved.

        Cheap when nothing changed (SQLite's ``data_version`` counts commits by
        other connections). ``blocking=False`` gives up at once if this process
        is committing (the commit catches up itself).
        """
        if not self._lock.acquire(blocking=blocking):
            return False
        try:
            return self._refresh()
        finally:
            self._lock.release()

    def _refresh(self) -> bool:
        conn = self._conn
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return False
        self._data_version = version
        row = conn.execute("SELECT seq, entry_hash FROM tx ORDER BY seq DESC LIMIT 1").fetchone()
        head = (row[0], bytes(row[1])) if row else (0, GENESIS_PREV)
        if head == (self._seq, self._prev) and self._damage is None:
            return False  # e.g. sealed blobs written by another connection
        self._open("the ledger file")
        self.reloads += 1
        return True

    def state(self) -> LedgerState:
        """The committed state, including commits made by other processes."""
        self.refresh()
        return super().state()

    # -- writing ----------------------------------------------------------
    def submit(
        self, txs: Sequence[SignedTx], *, checked: bool = False, now: str | None = None
    ) -> list[Receipt]:
        """Check and append ``txs`` in one SQLite transaction with one checkpoint.

        ``checked=True`` is for a backend that mirrors transactions it has already
        checked (signatures recovered, rules applied): the signatures are not
        recovered again; the rules still run, as they must to advance the state.
        ``now``: the ledger time they were checked at (a mirror's), else this clock's.
        """
        if not txs:
            return []
        self._writable()
        with self._lock:
            return self._submit(txs, checked=checked, now=now)

    def _submit(
        self, txs: Sequence[SignedTx], *, checked: bool = False, now: str | None = None
    ) -> list[Receipt]:
        now = now or utc_now()
        self._refresh()
        batch = self._append(txs, now, checked=checked)
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Checked outside the write lock; another process may have committed
            # since: catch up and check again, now that nobody else can commit.
            if self._refresh():
                self._writable()
                batch = self._append(txs, now, checked=checked)
            conn.executemany("INSERT INTO tx VALUES (?,?,?,?,?,?,?,?,?,?)", batch.tx_rows)
            conn.executemany("INSERT INTO leaf VALUES (?,?,?,?,?,?,?,?,?,?)", batch.leaf_rows)
            conn.executemany("INSERT INTO node VALUES (?,?,?)", batch.node_rows)
            conn.execute("INSERT INTO checkpoint VALUES (?,?,?,?,?,?)", batch.checkpoint)
            if batch.blob_rows:
                # In the same commit as the entries that name them: a killed import
                # leaves neither the entries nor their blobs.
                conn.executemany("INSERT OR IGNORE INTO blob VALUES (?,?,?,?)", batch.blob_rows)
            tail = self._tail + batch.head[1].size - self._acc.size
            snapshot = b""
            if snapshot_due(tail, self._snapshot_bytes):
                snapshot = canonical(batch.head[0].to_json(), checked=True)
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('state', ?)", (snapshot,))
            conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", batch_notes(batch))
            conn.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            conn.execute("ROLLBACK")
            if "tx.seq" in str(exc) or "checkpoint.size" in str(exc):
                raise Conflict(
                    "the ledger moved on (another writer committed first): reopen it and retry"
                ) from exc
            raise Conflict(f"already recorded (same account and period): {exc}") from exc
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        remember_checkpoint(self.remembered_file, batch.note)
        if snapshot:
            self._tail, self._snapshot_bytes = 0, len(snapshot)
        else:
            self._tail = tail
        return self._advance(batch)

    def replace_with(self, source: SqliteLedger, keep: Path | None = None) -> None:
        """Replace everything this file holds (entries, checkpoints, channel keys, blobs)
        by what the ledger file ``source`` holds, in one commit, a copy kept at ``keep``
        first: for an off-chain store rebuilt beside it from its chain. Readers see the
        old content or the new one, never a store half filled. The rows are copied into
        this file rather than the file renamed over it: other processes' connections and
        the write-ahead log are tied to the path."""
        with self._lock:
            conn = self._conn
            if keep is not None:
                copy = sqlite3.connect(keep)
                try:
                    conn.backup(copy)
                finally:
                    copy.close()
            conn.execute("ATTACH DATABASE ? AS source", (source.path,))
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    replace_rows(
                        conn.execute,
                        lambda table: [
                            r[1] for r in conn.execute(f"PRAGMA main.table_info({table})")
                        ],
                        "source",
                    )
                    # The checkpoint remembered beside the file is the old history's: gone
                    # before the new history commits, the new one's put in its place after.
                    self.remembered_file.unlink(missing_ok=True)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            finally:
                conn.execute("DETACH DATABASE source")
            if source.remembered_file.exists():
                shutil.copyfile(source.remembered_file, self.remembered_file)
            self._seq = 0  # loaded from the new snapshot, not caught up from the old head
            self._open("the ledger file")

    # -- reading ----------------------------------------------------------
    def items(self, query: ItemQuery) -> Iterator[StoredItem]:
        for idx, seq, data in self._select(query, seq=True):
            yield StoredItem(idx, seq, bytes(data), orjson.loads(data))

    def item_rows(self, query: ItemQuery) -> Iterator[tuple[int, bytes]]:
        """:meth:`items` as (leaf index, stored bytes), not decoded: for a reader that
        needs only the bytes of most of them (the API's listing of records)."""
        return self._select(query, seq=False)

    def _select(self, query: ItemQuery, *, seq: bool) -> Iterator[Any]:
        sql = ["SELECT idx, seq, data" if seq else "SELECT idx, data", "FROM leaf WHERE 1=1"]
        args: list[Any] = []
        for column, value in (
            ("kind", query.kind),
            ("rid", query.id),
            ("site", query.site),
            ("org", query.org),
        ):
            if value is not None:
                sql.append(f"AND {column} = ?")
                args.append(value)
        if query.id_prefix is not None:
            # A range on the indexed column rather than LIKE, whose wildcards a prefix may hold.
            sql.append("AND rid >= ? AND rid < ?")
            args += [query.id_prefix, query.id_prefix + "\U0010ffff"]
        if query.since is not None:
            sql.append("AND pend >= ?")
            args.append(query.since)
        if query.until is not None:
            sql.append("AND pstart <= ?")
            args.append(query.until)
        if query.after is not None:
            sql.append("AND idx > ?")
            args.append(query.after)
        sql.append("ORDER BY idx LIMIT ? OFFSET ?")
        args += [-1 if query.limit is None else query.limit, query.offset]
        return self._reader().execute(" ".join(sql), args)

    def periods(self, accounts: Sequence[str]) -> list[PeriodKey]:
        out: list[PeriodKey] = []
        for account in accounts:
            # By the account's site too: a file's records are indexed by site (and, in
            # files made before leaf_record, by account), not by account alone. A record's
            # account is its site, "/" and a reference in hex.
            for acct, start, end, rid, data in self._reader().execute(
                "SELECT account, pstart, pend, rid, data FROM leaf"
                " WHERE site = ? AND kind = 'emissions_record' AND account = ?",
                (account.rpartition("/")[0], account),
            ):
                item = orjson.loads(data)
                out.append(
                    PeriodKey(acct, start, end, rid, item.get("amount"), item.get("unit"), item)
                )
        return out

    def entries(self, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Recent entries, newest first: seq, type, sender, time, leaf range (for explorers)."""
        rows = self._reader().execute(
            "SELECT seq, type, sender, nonce, ledger_time, first_leaf, n_leaves, entry_hash"
            " FROM tx ORDER BY seq DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [
            {
                "seq": r[0],
                "type": r[1],
                "sender": r[2],
                "nonce": r[3],
                "ledger_time": r[4],
                "first_leaf": r[5],
                "count": r[6],
                "entry_hash": bytes(r[7]).hex(),
            }
            for r in rows
        ]

    def checkpoints(self, *, limit: int = 20) -> list[Checkpoint]:
        """The latest signed checkpoints, newest first."""
        return latest_checkpoints(self._reader().execute, self._state.ledger_id, limit)

    def latest_checkpoint(self) -> Checkpoint:
        return latest_checkpoint(self._reader().execute, self._state.ledger_id)

    def proof(self, leaf_index: int, *, with_tx: bool = True) -> InclusionProof:
        """Inclusion proof of leaf ``leaf_index`` against the latest checkpoint.

        With ``with_tx`` the proof also carries the signed transaction and the
        item's path to its ``items_root``, so a checker sees who signed the item
        (this reads the transaction's items: a few hundred microseconds more).
        """
        head = self.latest_checkpoint()
        if not 0 <= leaf_index < head.size:
            raise NotFound(f"leaf {leaf_index} is not in the ledger (size {head.size})")
        data, seq = (
            self._reader()
            .execute("SELECT data, seq FROM leaf WHERE idx = ?", (leaf_index,))
            .fetchone()
        )
        path = inclusion_proof(leaf_index, head.size, self._node)
        tx = self._tx_evidence(seq, leaf_index) if with_tx else {}
        return InclusionProof(
            leaf_index, head.size, bytes(data), tuple(h.hex() for h in path), head, tx
        )

    def _tx_evidence(self, seq: int, leaf_index: int) -> dict[str, Any]:
        row = (
            self._reader()
            .execute(
                "SELECT body, signature, first_leaf, n_leaves, entry_hash, ledger_time FROM tx"
                " WHERE seq = ?",
                (seq,),
            )
            .fetchone()
        )
        first, count = row[2], row[3]
        leaves = self._reader().execute(
            "SELECT data FROM leaf WHERE idx >= ? AND idx < ? ORDER BY idx",
            (first, first + count),
        )
        return tx_evidence(seq, leaf_index, row, (d for (d,) in leaves))

    def _history_problem(self, size: int) -> str | None:
        def current_size() -> int:
            row = self._reader().execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM leaf").fetchone()
            return int(row[0])

        return remembered_problem(
            read_remembered(self.remembered_file), size, current_size, self._node
        )

    @property
    def remembered_file(self) -> Path:
        """Where the last checkpoint this ledger committed is kept, outside the SQLite file."""
        return Path(f"{self.path}.checkpoint")

    def latest_note(self) -> str:
        """The latest checkpoint as a C2SP signed note (``NotFound`` before the first commit
        that wrote one)."""
        return read_meta_text(self._reader(), "note", "the ledger has no signed note yet")

    def log_vkey(self) -> str:
        """The verifier key (C2SP vkey) of the checkpoint notes."""
        return read_meta_text(self._reader(), "log_vkey", "the ledger has no note key yet")

    def consistency(self, first: int, second: int) -> list[bytes]:
        """RFC 6962 consistency proof from the tree of ``first`` leaves to ``second``."""
        return ledger_consistency(self.latest_checkpoint().size, first, second, self._node)

    def prune_blobs(self, *, delete: bool = False) -> list[str]:
        """Sealed blobs no entry names (left by imports that never committed); ``delete``
        removes them. Run it while no import is between storing its blobs and committing."""
        with self._lock:
            return prune_blobs(self._conn, delete=delete)

    def verify(self, *, max_errors: int = 100) -> VerifyReport:
        from carbonledger.adapters.sqlite.verify import verify_connection

        remembered = read_remembered(self.remembered_file)
        with self._lock:
            return verify_connection(
                self._conn,
                max_errors=max_errors,
                remembered=remembered,
                signer=self.checkpoint_signer,
                follows_chain=self.follows_chain,
            )

    def settle(self) -> None:
        """Nothing to wait for: ``submit`` returns once its transactions are committed."""

    def close(self) -> None:
        for conn in self._readers:
            conn.close()
        self._conn.close()
