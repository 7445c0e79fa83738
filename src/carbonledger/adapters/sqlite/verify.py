"""Full verification of an embedded ledger file, streamed (memory flat in its size).

Recomputes, in one pass in ledger order: each transaction's signature and
``items_root`` over its stored items, the hash chain, every rule of the state
machine (signer, nonce, references), the query columns derived from each item,
every sealed blob an item names, every stored Merkle node, and every signed
checkpoint; then the signed checkpoint note and the checkpoint remembered beside
the file. A failure is recorded and the pass goes on (re-synchronised on the
stored hash chain and nonces), so every entry that does not hold is named, up to
``max_errors``.
"""

from __future__ import annotations

import contextlib
import gc
import sqlite3
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from carbonledger.adapters.checkpoint_rows import CHECKPOINTS_IN_ORDER
from carbonledger.adapters.sqlite.schema import NODE_MIN_LEVEL, VOID_COLUMNS, derived_columns
from carbonledger.adapters.sqlite.verify_checks import (
    BlobCheck,
    Findings,
    NodeStreams,
    Stop,
    check_checkpoint,
    check_notes,
    check_remembered,
    check_wrapped_keys,
    stored_snapshot,
)
from carbonledger.adapters.sqlite.verify_parallel import verify_with_worker, wants_worker
from carbonledger.adapters.state_tail import snapshot_leaves, snapshot_problem
from carbonledger.adapters.tlog_store import Remembered, void_seq
from carbonledger.core.authority import apply, apply_followed
from carbonledger.core.canonical import canonical
from carbonledger.core.merkle import EMPTY_ROOT, MerkleAccumulator, leaf_hash
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import GENESIS_PREV, entry_hash, tx_from_parts
from carbonledger.errors import CarbonLedgerError
from carbonledger.ports.ledger import VerifyReport

__all__ = ["verify_connection"]

_TX_TYPES = (int, bytes, str, str, str, int, bytes, bytes, int, int)
_LEAF_SQL = (
    "SELECT idx, seq, kind, rid, org, site, account, pstart, pend, data FROM leaf ORDER BY idx"
)
_TX_SQL = (
    "SELECT seq, entry_hash, ledger_time, type, sender, nonce, body, signature, first_leaf,"
    " n_leaves FROM tx ORDER BY seq"
)


class _Pass:
    """One verification pass: the recomputed head and the cursors it is compared with."""

    def __init__(self, conn: sqlite3.Connection, report: VerifyReport, limit: int) -> None:
        self.conn = conn
        self.report = report
        self.found = Findings(report, limit)
        self.state = LedgerState()
        self.acc = MerkleAccumulator()
        self.prev = GENESIS_PREV
        self.nodes = NodeStreams(conn, self.found)
        self.blobs = BlobCheck(conn, self.found)
        self.leaf_cursor = conn.execute(_LEAF_SQL)
        self.leaves = iter(self.leaf_cursor)
        #: Leaves read but not yet taken by an entry (read ahead, or put back).
        self.pending: deque[tuple[Any, ...]] = deque()
        self.checkpoints = iter(conn.execute(CHECKPOINTS_IN_ORDER))
        self.next_cp = next(self.checkpoints, None)
        self.prev_cp = 0
        self.signer: str | None = None
        #: A chain node's store: entries the chain ordered may be void
        #: (:func:`carbonledger.core.authority.apply_followed`), judged again here.
        self.follows_chain = False
        #: How many leaves of the entry being checked are stored with the void columns.
        self.stored_void = 0
        self.reasons = _VoidReasons(conn, self.found)
        #: The tree is recomputed from what is stored; once leaves are missing or
        #: misplaced its nodes and checkpoints cannot be compared any more.
        self.tree_ok = True
        self.root_at: dict[int, bytes] = {0: EMPTY_ROOT}
        self.watch: int | None = None
        #: The stored state snapshot, the size it names, and the state replayed to that size.
        self.snapshot = stored_snapshot(conn)
        self.snapshot_at = snapshot_leaves(self.snapshot)
        self.at_snapshot: bytes | None = None

    def _leaf(self) -> tuple[Any, ...] | None:
        if self.pending:
            return self.pending.popleft()
        return next(self.leaves, None)

    def _entry_leaves(self, seq: int, first: int, count: int) -> list[tuple[Any, ...]] | None:
        if not self.pending and count > 0:
            # The usual case, in one read: the next ``count`` leaves are first..first+count-1
            # (indexes are unique and ascending, so the ends and the count settle it).
            rows = self.leaf_cursor.fetchmany(count)
            if (
                len(rows) == count
                and rows[0][0] == first
                and rows[-1][0] == first + count - 1
                and all(row[1] == seq for row in rows)
            ):
                return rows
            self.pending.extend(rows)  # not so: look at them one by one
        rows = []
        for n in range(count):
            want = first + n
            leaf = self._leaf()
            while leaf is not None and isinstance(leaf[0], int) and leaf[0] < want:
                self.found.add(f"leaf {leaf[0]} belongs to no entry", None, leaf[0])
                leaf = self._leaf()
            if leaf is None or leaf[0] != want or leaf[1] != seq:
                if leaf is not None:
                    self.pending.appendleft(leaf)
                self.found.add(f"entry {seq}: leaf {want} is missing or out of place", seq, want)
                return None
            rows.append(leaf)
        return rows

    def _items(self, seq: int, rows: list[tuple[Any, ...]]) -> tuple[list[bytes], list[Any], bool]:
        datas: list[bytes] = []
        objects: list[Any] = []
        ok = True
        self.stored_void = 0
        for leaf in rows:
            idx, data = leaf[0], leaf[9]
            if type(data) is not bytes:
                self.found.add(f"leaf {idx}: data is stored as {type(data).__name__}", seq, idx)
                data, ok = bytes(str(data), "utf-8"), False
            datas.append(data)
            try:
                item = orjson.loads(data)
                columns = derived_columns(item) if isinstance(item, dict) else None
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                self.found.add(f"leaf {idx}: item is not readable ({exc})", seq, idx)
                objects.append(None)
                ok = False
                continue
            objects.append(item)
            if tuple(leaf[2:9]) == VOID_COLUMNS:  # void or not: judged with the entry
                self.stored_void += 1
            elif columns is None or columns != tuple(leaf[2:9]):
                self.found.add(f"leaf {idx}: query columns differ from the item's data", seq, idx)
                ok = False
            if isinstance(item, dict):
                self.blobs.item(item, seq, idx)
        return datas, objects, ok

    def entry(self, row: tuple[Any, ...], expected_seq: int) -> int:
        """Check one stored entry; return the sequence number the next one must have."""
        for value, typ_ in zip(row, _TX_TYPES, strict=True):
            if type(value) is not typ_:
                seq = row[0] if type(row[0]) is int else None
                self.found.add(
                    f"entry {row[0]}: a column holds {type(value).__name__},"
                    f" expected {typ_.__name__}",
                    seq,
                )
                self.tree_ok = False
                return expected_seq + 1
        seq, ehash, when, typ, sender, nonce, body, sig, first, count = row
        if seq != expected_seq:
            gone = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}..{seq - 1}"
            self.found.add(f"entry {gone} is missing (next stored entry is {seq})", expected_seq)
        if first != self.acc.size:
            self.found.add(f"entry {seq}: starts at leaf {first}, expected {self.acc.size}", seq)
            self.tree_ok = False
        rows = self._entry_leaves(seq, first, count)
        if rows is None:
            self.tree_ok = False
            self._resync(sender, nonce, ehash)
            return int(seq) + 1
        datas, objects, items_ok = self._items(seq, rows)
        tx_hash: bytes | None = None
        hashes: tuple[bytes, ...] | None = None
        try:
            tx = tx_from_parts(bytes(body), datas, bytes(sig))
            tx_hash, hashes = tx.tx_hash, tx.item_hashes
            if (tx.type, tx.sender, tx.nonce) != (typ, sender, nonce):
                self.found.add(
                    f"entry {seq}: type, sender or nonce columns differ from the body", seq
                )
            elif items_ok:
                self._apply(seq, tx.body, objects, when, count)
            else:
                self._resync(sender, nonce, None)
        except CarbonLedgerError as exc:
            self.found.add(f"entry {seq}: {exc}", seq)
            self._resync(sender, nonce, None)
        if tx_hash is not None:
            prev = entry_hash(self.prev, seq, when, tx_hash, bytes(sig))
            if prev != bytes(ehash):
                self.found.add(
                    f"entry {seq}: hash chain broken (entry hash does not recompute)", seq
                )
        # Carry on from the stored link, so a broken entry does not fail every later one.
        self.prev = bytes(ehash)
        self._grow(hashes if hashes is not None else [leaf_hash(d) for d in datas], seq)
        self.report.entries, self.report.leaves = seq, self.acc.size
        return int(seq) + 1

    def _apply(self, seq: int, body: Any, objects: list[Any], when: str, count: int) -> None:
        """Replay one entry; on a chain node's store, judge again whether it is void and
        compare with how its leaves are stored (a void entry's leaves are not records)."""
        void = None
        if self.follows_chain:
            void = apply_followed(self.state, body, objects, now=when)[1]
        else:
            apply(self.state, body, objects, now=when)
        if void is None and self.stored_void:
            self.found.add(
                f"entry {seq}: its leaves are stored as void, but no earlier entry recorded"
                " its records' account and period",
                seq,
            )
        elif void is not None and self.stored_void != count:
            self.found.add(
                f"entry {seq} is void ({void}), but its leaves are stored as records", seq
            )
        elif void is not None:
            self.report.notes.append(f"entry {seq} is void: {void}")
        self.reasons.check(seq, void)

    def _resync(self, sender: str, nonce: int, ehash: bytes | None) -> None:
        # The entry did not apply: later entries of its sender still count from its nonce.
        if self.state.nonces.get(sender, 0) <= nonce:
            self.state.nonces[sender] = nonce + 1
        if ehash is not None:
            self.prev = bytes(ehash)

    def _grow(self, hashes: Sequence[bytes], seq: int) -> None:
        before = self.acc.size
        for level, idx, digest in self.acc.extend(hashes):
            if level >= NODE_MIN_LEVEL and self.tree_ok:
                self.nodes.check(level, idx, digest)
                self.tree_ok = not self.nodes.diverged
        self.state.size = self.acc.size
        if self.acc.size == self.snapshot_at:
            self.at_snapshot = canonical(self.state.to_json(), checked=True)
        if self.watch is not None and before < self.watch <= self.acc.size:
            self.root_at[self.watch] = self.acc.root() if self.watch == self.acc.size else b""
        while self.next_cp is not None and self.next_cp[0] <= self.acc.size:
            size = self.next_cp[0]
            if size != self.acc.size:
                self.found.add(f"checkpoint at size {size} falls inside entry {seq}", seq)
            elif self.tree_ok:
                self.tree_ok = check_checkpoint(
                    self.next_cp,
                    self.state,
                    self.acc.root(),
                    self.prev_cp,
                    self.found,
                    signer_of=self.signer,
                )
            self.prev_cp = size
            self.report.checkpoints += 1
            self.next_cp = next(self.checkpoints, None)

    def finish(self, remembered: Remembered | None) -> None:
        extra = self._leaf()
        if extra is not None:
            self.found.add(f"leaf {extra[0]} belongs to no entry", None, extra[0])
        size = self.acc.size
        if self.next_cp is not None:
            self.found.add(
                f"checkpoint at size {self.next_cp[0]} but the ledger holds {size} leaves:"
                " entries were removed"
            )
        if self.tree_ok:
            self.nodes.finish(size)
        last = self.conn.execute("SELECT MAX(size) FROM checkpoint").fetchone()[0]
        if size and last != size:
            self.found.add(f"leaves {last or 0}..{size - 1} are not covered by a signed checkpoint")
        check_wrapped_keys(self.conn, self.state, self.found)
        # After an entry that failed, the recomputed state is not the one the ledger
        # should have: comparing the snapshot would only repeat that failure.
        problem = snapshot_problem(self.snapshot, self.at_snapshot)
        if self.report.ok and size and problem is not None:
            self.found.add(problem)
        self.report.root = self.acc.root().hex()
        verifier = check_notes(self.conn, self.state, self.report, self.found)
        check_remembered(remembered, verifier, self.report, self.found, self.root_at)
        self.blobs.unreferenced(self.report)


class _VoidReasons:
    """Why each void entry is void, as stored (meta ``void:SEQ``, what the store lists),
    against the reason the replay derives again: an edited, missing or stray stored
    reason is named with its entry. Void entries are rare (a lost race between nodes),
    so the stored reasons are read once and held."""

    _SQL = "SELECT key, value FROM meta WHERE substr(key, 1, 5) = 'void:'"

    def __init__(self, conn: sqlite3.Connection, found: Findings) -> None:
        self.found = found
        self.stored: dict[int, str] = {}
        for key, value in conn.execute(self._SQL):
            try:
                self.stored[void_seq(str(key))] = bytes(value).decode()
            except (ValueError, TypeError, UnicodeDecodeError):
                found.add(f"meta {key}: not a void entry's stored reason")

    @classmethod
    def any_stored(cls, conn: sqlite3.Connection) -> bool:
        """Whether any reason is stored: the worker's pass fails over to this one on a
        void entry, but does not read the reasons, so a stray one needs this pass."""
        return conn.execute(cls._SQL + " LIMIT 1").fetchone() is not None

    def check(self, seq: int, derived: str | None) -> None:
        """Compare the stored reason of entry ``seq`` with ``derived`` (None: not void)."""
        stored = self.stored.pop(seq, None)
        if stored == derived:
            return
        if derived is None:
            why = f"entry {seq}: a reason for being void is stored for it ({stored}),"
            self.found.add(f"{why} but it is not void", seq)
        elif stored is None:
            self.found.add(f"entry {seq} is void ({derived}), but no reason is stored for it", seq)
        else:
            self.found.add(
                f"entry {seq} is void ({derived}), but its stored reason differs: {stored!r}", seq
            )

    def finish(self) -> None:
        """Reasons left are stored for entries that were not judged void (or not judged)."""
        for seq, stored in sorted(self.stored.items()):
            self.found.add(
                f"entry {seq}: a reason for being void is stored for it ({stored}),"
                " but it was not judged void",
                seq,
            )


def _verify(
    conn: sqlite3.Connection,
    report: VerifyReport,
    limit: int,
    remembered: Remembered | None,
    signer: str | None = None,
    *,
    follows_chain: bool = False,
) -> None:
    run = _Pass(conn, report, limit)
    run.signer = signer
    run.follows_chain = follows_chain
    if remembered is not None and remembered.problem is None:
        run.watch = remembered.size
    try:
        expected = 1
        for row in conn.execute(_TX_SQL):
            expected = run.entry(row, expected)
        run.reasons.finish()
        run.finish(remembered)
    except Stop:
        report.root = report.root or run.acc.root().hex()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused, as during an import, then as it was: the
    replay decodes a few dicts a leaf, none in a cycle (reference counting frees them),
    and each collection would walk the whole state so far (about a tenth of the replay)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def verify_connection(
    conn: sqlite3.Connection,
    *,
    max_errors: int = 100,
    remembered: Remembered | None = None,
    signer: str | None = None,
    follows_chain: bool = False,
) -> VerifyReport:
    """Verify everything stored through ``conn``; never raises for bad data, reports it.

    ``signer``: who signs the checkpoints when not the ledger admin (a chain node's
    own store, whose authority is the chain). ``follows_chain``: a chain node's store,
    whose void entries are judged again and named in the report's notes (the worker's
    pass meets them as differences, and this one-process pass then runs).

    ``max_errors``: the pass stops after that many findings (``report.truncated``).
    ``remembered``: the checkpoint the home remembers committing, if any.
    """
    report = VerifyReport(ok=True)
    findings = Findings(report, max_errors + 1)  # for the errors that end the pass
    try:
        conn.execute("BEGIN")  # one consistent snapshot for every cursor
        with _collector_paused():
            try:
                path = wants_worker(conn)
                fast = None if path is None else verify_with_worker(conn, path, remembered, signer)
                if fast is not None and not _VoidReasons.any_stored(conn):
                    return fast  # (the worker's pass meets no void entry: see _VoidReasons)
                _verify(conn, report, max_errors, remembered, signer, follows_chain=follows_chain)
            finally:
                conn.execute("COMMIT")
    except (TypeError, ValueError, KeyError) as exc:
        with contextlib.suppress(Stop):
            findings.add(f"malformed stored data: {exc}")
    except sqlite3.DatabaseError as exc:
        known = (
            f" (the checkpoint remembered in {remembered.path} is at size {remembered.size},"
            f" root {remembered.root.hex()})"
            if remembered is not None and remembered.problem is None
            else ""
        )
        with contextlib.suppress(Stop):
            findings.add(f"the ledger file is not readable: {exc}{known}")
    return report
