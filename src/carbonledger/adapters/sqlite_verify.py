"""Full verification of an embedded ledger file, streamed (memory flat in its size).

Recomputes, in one pass in ledger order: each transaction's signature and
``items_root`` over its stored items, the hash chain, every rule of the state
machine (signer, nonce, references), the query columns derived from each item,
every stored Merkle node, and every signed checkpoint. Stops at the first entry
that does not hold and names it.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import orjson

from carbonledger.adapters.sqlite_schema import NODE_MIN_LEVEL, derived_columns
from carbonledger.core.canonical import canonical
from carbonledger.core.checkpoint import checkpoint_body, checkpoint_digest
from carbonledger.core.merkle import MerkleAccumulator
from carbonledger.core.state import LedgerState, apply
from carbonledger.core.tx import GENESIS_PREV, entry_hash, tx_from_parts
from carbonledger.crypto.keys import recover_address
from carbonledger.errors import CarbonLedgerError
from carbonledger.ports.ledger import VerifyReport

__all__ = ["verify_connection"]


class _Fail(Exception):
    def __init__(self, reason: str, entry: int | None = None, leaf: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.entry, self.leaf = reason, entry, leaf


class _NodeStreams:
    """One ordered cursor per tree level, so stored nodes are compared as they are recomputed."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._cursors: dict[int, Iterator[tuple[int, bytes]]] = {}

    def _cursor(self, level: int) -> Iterator[tuple[int, bytes]]:
        cur = self._cursors.get(level)
        if cur is None:
            cur = iter(
                self._conn.execute(
                    "SELECT idx, hash FROM node WHERE level = ? ORDER BY idx", (level,)
                )
            )
            self._cursors[level] = cur
        return cur

    def check(self, level: int, idx: int, digest: bytes) -> None:
        row = next(self._cursor(level), None)
        if row is None or row[0] != idx:
            raise _Fail(f"Merkle node (level {level}, index {idx}) is missing or out of place")
        if bytes(row[1]) != digest:
            raise _Fail(f"Merkle node (level {level}, index {idx}) does not match its leaves")

    def finish(self, size: int) -> None:
        levels = [lv for (lv,) in self._conn.execute("SELECT DISTINCT level FROM node")]
        for level in levels:
            extra = next(self._cursor(level), None)
            if extra is not None:
                raise _Fail(
                    f"Merkle node (level {level}, index {extra[0]}) is beyond the"
                    f" ledger's {size} leaves"
                )


_TX_TYPES = (int, bytes, str, str, str, int, bytes, bytes, int, int)


def _check_blob(conn: sqlite3.Connection, blob_id: object, seq: int, leaf: int) -> None:
    """Sealed channel data must be present and hash to the id the record commits to."""
    row = conn.execute("SELECT data FROM blob WHERE id = ?", (str(blob_id),)).fetchone()
    if row is None:
        raise _Fail(f"leaf {leaf}: its sealed channel data {blob_id} is missing", seq, leaf)
    if hashlib.sha256(bytes(row[0])).hexdigest() != blob_id:
        raise _Fail(f"leaf {leaf}: sealed channel data {blob_id} was altered", seq, leaf)


def _check_wrapped_keys(conn: sqlite3.Connection, state: LedgerState) -> None:
    """Every wrapped channel key must hash to what the ledger recorded for it."""
    for channel_id, channel in state.channels.items():
        for epoch, members in channel.get("keys", {}).items():
            for member, digest in members.items():
                row = conn.execute(
                    "SELECT wrapped FROM channel_key WHERE channel = ? AND epoch = ?"
                    " AND member = ? AND digest = ?",
                    (channel_id, int(epoch), member, digest),
                ).fetchone()
                if row is None or hashlib.sha256(bytes(row[0])).hexdigest() != digest:
                    raise _Fail(
                        f"channel {channel_id!r} epoch {epoch}: the key wrapped for {member}"
                        " is missing or does not match the ledger"
                    )


def _check_checkpoint(row: tuple[Any, ...], state: LedgerState, root: bytes, prev: int) -> None:
    size, prev_size, stored_root, when, signer, sig = row
    if prev_size != prev:
        raise _Fail(
            f"checkpoint at size {size} follows size {prev_size}, but the previous"
            f" checkpoint is at size {prev}: a checkpoint was removed or altered"
        )
    if bytes(stored_root) != root:
        raise _Fail(f"checkpoint at size {size}: stored root differs from the recomputed tree")
    body = checkpoint_body(
        ledger_id=state.ledger_id,
        size=size,
        prev_size=prev_size,
        root=root,
        time=when,
        signer=signer,
    )
    try:
        recovered = recover_address(checkpoint_digest(body), bytes(sig))
    except CarbonLedgerError as exc:
        raise _Fail(f"checkpoint at size {size}: {exc}") from exc
    if recovered != state.admin or signer != state.admin:
        raise _Fail(f"checkpoint at size {size}: not signed by the ledger admin {state.admin}")


def _verify(conn: sqlite3.Connection, report: VerifyReport) -> None:
    state = LedgerState()
    acc = MerkleAccumulator()
    prev = GENESIS_PREV
    nodes = _NodeStreams(conn)
    leaves = iter(
        conn.execute(
            "SELECT idx, seq, kind, rid, org, site, account, pstart, pend, data"
            " FROM leaf ORDER BY idx"
        )
    )
    checkpoints = iter(
        conn.execute(
            "SELECT size, prev_size, root, ledger_time, signer, signature FROM checkpoint"
            " ORDER BY size"
        )
    )
    next_cp = next(checkpoints, None)
    expected_seq = 1
    prev_cp = 0
    for row in conn.execute(
        "SELECT seq, entry_hash, ledger_time, type, sender, nonce, body, signature, first_leaf,"
        " n_leaves FROM tx ORDER BY seq"
    ):
        for value, typ_ in zip(row, _TX_TYPES, strict=True):
            if type(value) is not typ_:
                raise _Fail(
                    f"entry {row[0]}: a column holds {type(value).__name__},"
                    f" expected {typ_.__name__}",
                    row[0] if type(row[0]) is int else None,
                )
        seq, ehash, when, typ, sender, nonce, body, sig, first, count = row
        if seq != expected_seq:
            raise _Fail(f"entry {expected_seq} is missing (next stored entry is {seq})", seq)
        if first != acc.size:
            raise _Fail(f"entry {seq}: starts at leaf {first}, expected {acc.size}", seq)
        datas: list[bytes] = []
        objects: list[dict[str, Any]] = []
        blobs: set[str] = set()
        for n in range(count):
            leaf = next(leaves, None)
            if leaf is None or leaf[0] != first + n or leaf[1] != seq:
                raise _Fail(
                    f"entry {seq}: leaf {first + n} is missing or out of place", seq, first + n
                )
            if type(leaf[9]) is not bytes:
                raise _Fail(
                    f"leaf {first + n}: data is stored as {type(leaf[9]).__name__}", seq, first + n
                )
            datas.append(leaf[9])
            try:
                item = orjson.loads(leaf[9])
                columns = derived_columns(item) if isinstance(item, dict) else None
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                raise _Fail(
                    f"leaf {first + n}: item is not readable ({exc})", seq, first + n
                ) from exc
            if columns is None or columns != tuple(leaf[2:9]):
                raise _Fail(
                    f"leaf {first + n}: query columns differ from the item's data", seq, first + n
                )
            objects.append(item)
            detail = item.get("detail")
            if isinstance(detail, dict) and detail.get("blob") not in blobs:
                _check_blob(conn, detail.get("blob"), seq, first + n)
                blobs.add(detail["blob"])
        try:
            tx = tx_from_parts(bytes(body), datas, bytes(sig))
            if (tx.type, tx.sender, tx.nonce) != (typ, sender, nonce):
                raise _Fail(f"entry {seq}: type, sender or nonce columns differ from the body", seq)
            apply(state, tx.body, objects, now=when)
        except CarbonLedgerError as exc:
            raise _Fail(f"entry {seq}: {exc}", seq) from exc
        prev = entry_hash(prev, seq, when, tx.tx_hash, tx.signature)
        if prev != bytes(ehash):
            raise _Fail(f"entry {seq}: hash chain broken (entry hash does not recompute)", seq)
        for level, idx, digest in acc.extend(tx.item_hashes):
            if level >= NODE_MIN_LEVEL:
                nodes.check(level, idx, digest)
        while next_cp is not None and next_cp[0] <= acc.size:
            if next_cp[0] != acc.size:
                raise _Fail(f"checkpoint at size {next_cp[0]} falls inside entry {seq}", seq)
            _check_checkpoint(next_cp, state, acc.root(), prev_cp)
            prev_cp = next_cp[0]
            report.checkpoints += 1
            next_cp = next(checkpoints, None)
        report.entries, report.leaves = seq, acc.size
        expected_seq += 1
    extra = next(leaves, None)
    if extra is not None:
        raise _Fail(f"leaf {extra[0]} belongs to no entry", None, extra[0])
    if next_cp is not None:
        raise _Fail(
            f"checkpoint at size {next_cp[0]} but the ledger holds {acc.size} leaves:"
            " entries were removed"
        )
    nodes.finish(acc.size)
    last = conn.execute("SELECT MAX(size) FROM checkpoint").fetchone()[0]
    if acc.size and last != acc.size:
        raise _Fail(f"leaves {last or 0}..{acc.size - 1} are not covered by a signed checkpoint")
    _check_wrapped_keys(conn, state)
    snap = conn.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()
    if acc.size and (snap is None or bytes(snap[0]) != canonical(state.to_json())):
        raise _Fail("the stored state snapshot differs from the state the entries produce")
    report.root = acc.root().hex()


def verify_connection(conn: sqlite3.Connection) -> VerifyReport:
    """Verify everything stored through ``conn``; never raises for bad data, reports it."""
    report = VerifyReport(ok=True)
    try:
        conn.execute("BEGIN")  # one consistent snapshot for every cursor
        try:
            _verify(conn, report)
        finally:
            conn.execute("COMMIT")
    except _Fail as fail:
        report.ok, report.error, report.entry, report.leaf = (
            False,
            fail.reason,
            fail.entry,
            fail.leaf,
        )
    except (TypeError, ValueError, KeyError) as exc:
        report.ok, report.error = False, f"malformed stored data: {exc}"
    except sqlite3.DatabaseError as exc:
        report.ok, report.error = False, f"the ledger file is not readable: {exc}"
    return report
