"""The ledger log on SQLAlchemy (PostgreSQL, or SQLite): the EVM adapter's off-chain mirror.

The same rows, Merkle nodes, signed checkpoints and state snapshot (written now and
then, the entries after it replayed on opening) as the
embedded file (:class:`carbonledger.adapters.sqlite.ledger.SqliteLedger`), so
queries, inclusion proofs and ``verify`` behave the same; ``verify`` is the
embedded ledger's own checker, run over this database's connection.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, func, select
from sqlalchemy import exc as sa_exc

from carbonledger.adapters.checkpoint_rows import latest_checkpoint, latest_checkpoints
from carbonledger.adapters.ledger_log import LedgerLog, tx_evidence
from carbonledger.adapters.sqlite.schema import NODE_MIN_LEVEL
from carbonledger.adapters.sqlstore import schema as t
from carbonledger.adapters.sqlstore.channels import SqlChannelStore, insert_ignore
from carbonledger.adapters.sqlstore.migrate import upgrade
from carbonledger.adapters.state_tail import (
    load_snapshot,
    replay_tail,
    snapshot_due,
    snapshot_entry,
)
from carbonledger.adapters.tlog_store import batch_notes, replace_rows, void_seq
from carbonledger.core.canonical import canonical
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

__all__ = ["SqlLedger", "make_engine"]

_TX_COLS = [c.name for c in t.tx.columns]
_LEAF_COLS = [c.name for c in t.leaf.columns]
_CP_COLS = [c.name for c in t.checkpoint.columns]


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (``postgresql+psycopg://...`` or ``sqlite:///path``)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True)


class _DriverConnection:
    """What the embedded verifier calls (``execute(sql, params)``), on a SQLAlchemy connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._pg = conn.dialect.name == "postgresql"

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if sql in ("BEGIN", "COMMIT"):  # the caller's transaction spans the whole check
            return None
        if self._pg:
            sql = sql.replace("?", "%s")
        return self._conn.exec_driver_sql(sql, tuple(params))


class SqlLedger(LedgerLog):
    """Implements :class:`carbonledger.ports.ledger.LedgerPort` on a SQLAlchemy database.

    ``operator`` signs checkpoints (the ledger admin's key; needed only to write).
    The schema is created or upgraded by the alembic scripts on opening.
    """

    def __init__(
        self,
        url: str | Engine,
        operator: PrivateKey | None = None,
        *,
        checkpoint_signer: str | None = None,
        follows_chain: bool = False,
    ) -> None:
        self.checkpoint_signer = checkpoint_signer
        self.follows_chain = follows_chain
        self.engine = make_engine(url) if isinstance(url, str) else url
        self._owns_engine = isinstance(url, str)
        self.url = self.engine.url.render_as_string(hide_password=True)
        upgrade(self.engine)
        self._operator = operator
        self.channels = SqlChannelStore(self.engine)
        self._lock = threading.Lock()
        # Leaves committed after the stored state snapshot, and the snapshot's length.
        self._tail = self._snapshot_bytes = 0
        self._open("the off-chain store")

    # -- opening ----------------------------------------------------------
    def _load(self) -> tuple[LedgerState, MerkleAccumulator, bytes, int]:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.tx.c.seq, t.tx.c.entry_hash).order_by(t.tx.c.seq.desc()).limit(1)
            ).first()
            seq, prev = (row[0], bytes(row[1])) if row else (0, GENESIS_PREV)
            snap = conn.execute(select(t.meta.c.value).where(t.meta.c.key == "state")).scalar()
            if snap is None:
                if row is not None:
                    raise IntegrityError("the state snapshot is missing")
                self._tail = self._snapshot_bytes = 0
                return LedgerState(), MerkleAccumulator(), prev, seq
            state, snapshot_bytes = load_snapshot(bytes(snap))
            size = int(
                conn.execute(select(func.coalesce(func.max(t.leaf.c.idx) + 1, 0))).scalar_one()
            )
            snapshot_at = state.size
            self._replay(conn, state, size)
            self._tail, self._snapshot_bytes = size - snapshot_at, snapshot_bytes
            out: list[bytes] = []
            start = 0
            for level in range(size.bit_length() - 1, -1, -1):
                if size >> level & 1:
                    out.append(self._node(conn, level, start >> level))
                    start += 1 << level
        return state, MerkleAccumulator.from_frontier(size, out), prev, seq

    def _replay(self, conn: Connection, state: LedgerState, size: int) -> None:
        """Advance ``state`` (a snapshot) over the entries stored after it, to ``size`` leaves
        (see :mod:`carbonledger.adapters.state_tail`)."""
        tx, leaf = t.tx.c, t.leaf.c
        ends = conn.execute(
            select(tx.seq, tx.first_leaf + tx.n_leaves)
            .join(t.leaf, leaf.seq == tx.seq)
            .where(leaf.idx == state.size - 1)
        ).first()
        after = snapshot_entry(ends, state.size, size)
        entries = conn.execute(
            select(tx.seq, tx.ledger_time, tx.body, tx.first_leaf, tx.n_leaves)
            .where(tx.seq > after)
            .order_by(tx.seq)
        ).all()
        leaves = conn.execute(
            select(leaf.idx, leaf.data).where(leaf.idx >= state.size).order_by(leaf.idx)
        )
        replay_tail(state, entries, leaves, size=size, follows_chain=self.follows_chain)

    @staticmethod
    def _node(conn: Connection, level: int, idx: int) -> bytes:
        if level >= NODE_MIN_LEVEL:
            found = conn.execute(
                select(t.node.c.hash).where(t.node.c.level == level, t.node.c.idx == idx)
            ).scalar()
            if found is None:
                raise IntegrityError(f"Merkle node ({level}, {idx}) is missing", entry=None)
            return bytes(found)
        lo, hi = idx << level, (idx + 1) << level
        hashes = [
            leaf_hash(bytes(d))
            for (d,) in conn.execute(
                select(t.leaf.c.data)
                .where(t.leaf.c.idx >= lo, t.leaf.c.idx < hi)
                .order_by(t.leaf.c.idx)
            )
        ]
        if len(hashes) != hi - lo:
            raise IntegrityError(f"leaves {lo}..{hi - 1} are incomplete", entry=None)
        return root_from_leaf_hashes(hashes)

    # -- writing ----------------------------------------------------------
    def submit(
        self, txs: Sequence[SignedTx], *, now: str | None = None, checked: bool = False
    ) -> list[Receipt]:
        """Check and append ``txs`` in one database transaction with one checkpoint.

        ``now``: the ledger time to record; ``checked``: the signatures were already
        recovered by :func:`check_tx` in this process (the EVM adapter passes both for
        what the chain accepted; the state machine still runs, ``verify`` re-checks all).
        """
        if not txs:
            return []
        self._writable()
        with self._lock:
            return self._submit(txs, now or utc_now(), checked)

    def _submit(self, txs: Sequence[SignedTx], now: str, checked: bool) -> list[Receipt]:
        batch = self._append(txs, now, checked=checked)
        tx_rows = [dict(zip(_TX_COLS, row, strict=True)) for row in batch.tx_rows]
        leaf_rows = [dict(zip(_LEAF_COLS, row, strict=True)) for row in batch.leaf_rows]
        node_rows = [{"level": lv, "idx": i, "hash": h} for lv, i, h in batch.node_rows]
        cp = dict(zip(_CP_COLS, batch.checkpoint, strict=True))
        tail = self._tail + batch.head[1].size - self._acc.size
        due = snapshot_due(tail, self._snapshot_bytes)
        snapshot = canonical(batch.head[0].to_json(), checked=True) if due else b""
        try:
            with self.engine.begin() as conn:
                conn.execute(t.tx.insert(), tx_rows)
                conn.execute(t.leaf.insert(), leaf_rows)
                if node_rows:
                    conn.execute(t.node.insert(), node_rows)
                conn.execute(t.checkpoint.insert(), [cp])
                if batch.blob_rows:
                    # In the same commit as the entries that name them (no orphan blobs).
                    conn.execute(
                        insert_ignore(self.engine, t.blob),  # type: ignore[call-overload]
                        [
                            {"id": b, "channel": c, "epoch": e, "data": d}
                            for b, c, e, d in batch.blob_rows
                        ],
                    )
                if due:
                    updated = conn.execute(
                        t.meta.update().where(t.meta.c.key == "state").values(value=snapshot)
                    )
                    if updated.rowcount == 0:
                        conn.execute(t.meta.insert(), [{"key": "state", "value": snapshot}])
                for key, value in batch_notes(batch):  # the checkpoint as a signed note
                    conn.execute(t.meta.delete().where(t.meta.c.key == key))
                    conn.execute(t.meta.insert(), [{"key": key, "value": value}])
        except sa_exc.IntegrityError as exc:
            text = str(exc.orig)
            if "leaf_period" in text:
                raise Conflict(f"already recorded (same account and period): {text}") from exc
            raise Conflict(
                "the ledger moved on (another writer committed first): reopen it and retry"
            ) from exc
        self._tail, self._snapshot_bytes = (
            (0, len(snapshot)) if due else (tail, self._snapshot_bytes)
        )
        return self._advance(batch)

    # -- reading ----------------------------------------------------------
    def items(self, query: ItemQuery) -> Iterator[StoredItem]:
        c = t.leaf.c
        sel = select(c.idx, c.seq, c.data)
        for column, value in (
            (c.kind, query.kind),
            (c.rid, query.id),
            (c.site, query.site),
            (c.org, query.org),
        ):
            if value is not None:
                sel = sel.where(column == value)
        if query.id_prefix is not None:
            sel = sel.where(c.rid.startswith(query.id_prefix, autoescape=True))
        if query.since is not None:
            sel = sel.where(c.pend >= query.since)
        if query.until is not None:
            sel = sel.where(c.pstart <= query.until)
        if query.after is not None:
            sel = sel.where(c.idx > query.after)
        sel = sel.order_by(c.idx).offset(query.offset)
        if query.limit is not None:
            sel = sel.limit(query.limit)
        with self.engine.connect() as conn:
            rows = conn.execute(sel).all()
        for idx, seq, data in rows:
            yield StoredItem(idx, seq, bytes(data), orjson.loads(data))

    def periods(self, accounts: Sequence[str]) -> list[PeriodKey]:
        if not accounts:
            return []
        c = t.leaf.c
        sel = select(c.account, c.pstart, c.pend, c.rid, c.data).where(
            c.kind == "emissions_record", c.account.in_(list(accounts))
        )
        out: list[PeriodKey] = []
        with self.engine.connect() as conn:
            for acct, start, end, rid, data in conn.execute(sel):
                item = orjson.loads(data)
                out.append(
                    PeriodKey(acct, start, end, rid, item.get("amount"), item.get("unit"), item)
                )
        return out

    def tx_rows(self, since: int = 1) -> list[tuple[int, bytes, str, int]]:
        """(seq, body, sender, nonce) of every entry from ``since`` on, in order (for checks
        against a chain)."""
        c = t.tx.c
        sel = select(c.seq, c.body, c.sender, c.nonce).where(c.seq >= since)
        with self.engine.connect() as conn:
            rows = conn.execute(sel.order_by(c.seq)).all()
        return [(seq, bytes(body), sender, nonce) for seq, body, sender, nonce in rows]

    def voids(self) -> dict[int, str]:
        """Why each void entry is void, by sequence number (a chain node's store: see
        ``follows_chain``; such entries are rare, a lost race between two nodes)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.meta.c.key, t.meta.c.value).where(t.meta.c.key.like("void:%"))
            )
            return {void_seq(key): bytes(value).decode() for key, value in rows}

    def tx_count(self) -> int:
        """How many entries the store holds."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(t.tx.c.seq), 0))).scalar_one())

    def receipt_rows(self) -> list[tuple[int, bytes, str, bytes, int, int]]:
        """(seq, entry hash, ledger time, body, first leaf, leaves) of every entry, in order."""
        c = t.tx.c
        sel = select(c.seq, c.entry_hash, c.ledger_time, c.body, c.first_leaf, c.n_leaves)
        with self.engine.connect() as conn:
            rows = conn.execute(sel.order_by(c.seq)).all()
        return [(s, bytes(h), w, bytes(b), f, n) for s, h, w, b, f, n in rows]

    def replace_with(self, source: str) -> None:
        """Replace everything this store holds (entries, checkpoints, channel keys, blobs)
        by what the same tables in ``source`` hold, in one transaction: for an off-chain
        store rebuilt beside it from its chain (``source``: the PostgreSQL schema it was
        filled in, or the path of its SQLite file). Readers see the old content or the
        new one, never a store half filled."""
        tables = {table.name: [c.name for c in table.columns] for table in t.METADATA.sorted_tables}
        with self._lock, self.engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:  # outside any transaction, as SQLite requires
                conn.exec_driver_sql("ATTACH DATABASE ? AS source", (source,))
                conn.commit()
            try:
                with conn.begin():
                    replace_rows(
                        conn.exec_driver_sql,
                        tables.__getitem__,
                        "source" if sqlite else f'"{source}"',
                    )
            finally:
                if sqlite:
                    conn.exec_driver_sql("DETACH DATABASE source")
                    conn.commit()
        self._open("the off-chain store")

    def entries(self, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Recent entries, newest first (for explorers)."""
        c = t.tx.c
        sel = (
            select(c.seq, c.type, c.sender, c.nonce, c.ledger_time, c.first_leaf, c.n_leaves)
            .add_columns(c.entry_hash)
            .order_by(c.seq.desc())
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(sel).all()
        keys = ("seq", "type", "sender", "nonce", "ledger_time", "first_leaf", "count")
        return [
            {**dict(zip(keys, r[:7], strict=True)), "entry_hash": bytes(r[7]).hex()} for r in rows
        ]

    def checkpoints(self, *, limit: int = 20) -> list[Checkpoint]:
        """The latest signed checkpoints, newest first."""
        with self.engine.connect() as conn:
            return latest_checkpoints(_DriverConnection(conn).execute, self._state.ledger_id, limit)

    def latest_checkpoint(self) -> Checkpoint:
        with self.engine.connect() as conn:
            return latest_checkpoint(_DriverConnection(conn).execute, self._state.ledger_id)

    def proof(self, leaf_index: int, *, with_tx: bool = True) -> InclusionProof:
        """Inclusion proof of leaf ``leaf_index`` against the latest checkpoint."""
        head = self.latest_checkpoint()
        if not 0 <= leaf_index < head.size:
            raise NotFound(f"leaf {leaf_index} is not in the ledger (size {head.size})")
        with self.engine.connect() as conn:
            data, seq = conn.execute(
                select(t.leaf.c.data, t.leaf.c.seq).where(t.leaf.c.idx == leaf_index)
            ).one()
            path = inclusion_proof(leaf_index, head.size, lambda lv, i: self._node(conn, lv, i))
            tx = self._tx_evidence(conn, seq, leaf_index) if with_tx else {}
        return InclusionProof(
            leaf_index, head.size, bytes(data), tuple(h.hex() for h in path), head, tx
        )

    @staticmethod
    def _tx_evidence(conn: Connection, seq: int, leaf_index: int) -> dict[str, Any]:
        c = t.tx.c
        row = conn.execute(
            select(
                c.body, c.signature, c.first_leaf, c.n_leaves, c.entry_hash, c.ledger_time
            ).where(c.seq == seq)
        ).one()
        first, count = row[2], row[3]
        leaves = conn.execute(
            select(t.leaf.c.data)
            .where(t.leaf.c.idx >= first, t.leaf.c.idx < first + count)
            .order_by(t.leaf.c.idx)
        )
        return tx_evidence(seq, leaf_index, row, (d for (d,) in leaves))

    def verify(self, *, max_errors: int = 100) -> VerifyReport:
        """The embedded ledger's full check (chain, tree, checkpoints, state, channel data),
        naming up to ``max_errors`` failures."""
        from carbonledger.adapters.sqlite.verify import verify_connection

        with self._lock:
            try:
                with self.engine.connect() as conn, conn.begin():
                    if conn.dialect.name == "postgresql":
                        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    return verify_connection(
                        _DriverConnection(conn),  # type: ignore[arg-type]
                        max_errors=max_errors,
                        signer=self.checkpoint_signer,
                        follows_chain=self.follows_chain,
                    )
            except sa_exc.DBAPIError as exc:
                return VerifyReport(False, error=f"the off-chain store is not readable: {exc}")

    def settle(self) -> None:
        """Nothing to wait for: ``submit`` returns once its transactions are committed."""

    def close(self) -> None:
        self.engine.dispose()

    def __del__(self) -> None:
        # Read-only callers (CLI commands) may drop the ledger without closing it: give
        # the pooled connections back to the server rather than leave them to the GC.
        if getattr(self, "_owns_engine", False):
            with contextlib.suppress(Exception):  # nothing to report at interpreter exit
                self.engine.dispose()
