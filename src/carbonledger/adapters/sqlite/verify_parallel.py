"""``verify`` on two cores: the state-independent checks in a worker process.

The worker walks the stored log on its own connection and checks everything that
does not depend on the ledger's state and can be checked without decoding an item:
the columns of every entry, where its leaves lie, every leaf hash, ``items_root``,
packed items hash and signature, the hash chain, every stored Merkle node and the root
of every signed checkpoint (recovering who signed it); and, on the compact form it
packs each record of a typed entry into, what the record rule checks that does not
depend on the state (:func:`carbonledger.core.rules.records.compact_shape`).
Meanwhile this process decodes each item once for the state machine, which has to
run in order (for those typed entries, the rule's checks that depend on the state:
``apply(shaped=True)``), and checks beside it what needs the decoded item: its query
columns and that the sealed blobs it names are stored and hash to their names.

This is a fast path, not a second verifier: it only answers "everything holds".
At the first thing that does not hold, on either side, the caller runs the
one-process pass of :mod:`carbonledger.adapters.sqlite.verify` from the start,
which names every failure exactly as it always has. A damaged ledger therefore
costs one fast attempt more; an intact one is checked with every check the
one-process pass makes.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing as mp
import os
import signal
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import orjson

from carbonledger.adapters.checkpoint_rows import CHECKPOINTS_IN_ORDER
from carbonledger.adapters.sqlite.schema import NODE_MIN_LEVEL, derived_columns
from carbonledger.adapters.sqlite.verify_checks import (
    BlobCheck,
    Findings,
    NodeStreams,
    check_notes,
    check_remembered,
    check_wrapped_keys,
    stored_snapshot,
)
from carbonledger.adapters.state_tail import snapshot_leaves, snapshot_problem
from carbonledger.adapters.tlog_store import Remembered
from carbonledger.core.authority import apply
from carbonledger.core.canonical import canonical
from carbonledger.core.checkpoint import checkpoint_body, checkpoint_digest
from carbonledger.core.compact_record import is_compact
from carbonledger.core.merkle import EMPTY_ROOT, MerkleAccumulator
from carbonledger.core.rules.records import compact_shape
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import GENESIS_PREV, entry_hash, tx_from_parts
from carbonledger.core.typed import TYPED_VERSION
from carbonledger.crypto.keys import recover_address
from carbonledger.ports.ledger import VerifyReport

_log = logging.getLogger("carbonledger.verify")

__all__ = ["WORKERS_ENV", "verify_with_worker", "wants_worker"]

#: ``0``: always one process; ``1``: a worker process whenever one can be forked (even
#: beside other threads, on a busy machine); unset: a worker from
#: :data:`_AUTO_FROM_LEAVES` leaves on, when forking is safe (:func:`_forkable`) and a
#: core is free (:func:`_core_free`).
WORKERS_ENV = "CARBONLEDGER_VERIFY_WORKERS"
#: Below this size starting a process costs more than it saves.
_AUTO_FROM_LEAVES = 5_000
#: Of every 8 typed record entries, how many the worker checks the records of for what
#: the record rule checks that does not depend on the state (:func:`_shaped_by_worker`).
_SHAPED_BY_WORKER = 5
_PR_SET_PDEATHSIG = 1  # linux/prctl.h

_TX_TYPES = (int, bytes, str, str, str, int, bytes, bytes, int, int)
_TX_SQL = (
    "SELECT seq, entry_hash, ledger_time, type, sender, nonce, body, signature, first_leaf,"
    " n_leaves FROM tx ORDER BY seq"
)
_LEAF_SQL = "SELECT idx, seq, data FROM leaf ORDER BY idx"
_ITEM_SQL = "SELECT kind, rid, org, site, account, pstart, pend, data FROM leaf ORDER BY idx"
_LIMITS_SQL = (
    "SELECT (SELECT MAX(seq) FROM tx), (SELECT MAX(idx) FROM leaf), (SELECT MAX(size) FROM"
    " checkpoint)"
)


class _Differs(Exception):
    """Something does not hold: the one-process pass takes over and names it."""


class _Strict(Findings):
    """Findings of the fast path: the first one ends it."""

    def __init__(self) -> None:
        super().__init__(VerifyReport(ok=True), 1)

    def add(self, reason: str, entry: int | None = None, leaf: int | None = None) -> None:
        raise _Differs(reason)


@dataclass
class _LogFacts:
    """What the worker found, for the replaying process to finish with."""

    limits: tuple[Any, ...] = ()
    problem: str | None = None
    entries: int = 0
    leaves: int = 0
    checkpoints: int = 0
    root: bytes = EMPTY_ROOT
    root_at: dict[int, bytes] = field(default_factory=dict)
    #: The ledger id every checkpoint digest was computed with (the first body's).
    ledger: str | None = None
    #: (size, address that signed it, signer column) of each checkpoint.
    signers: list[tuple[int, str, str]] = field(default_factory=list)


def wants_worker(conn: Any) -> str | None:
    """The file to give a worker, or ``None`` when verify should stay in one process.

    Only a SQLite file can be opened by a second process. Starting a fresh interpreter
    costs more than the work, so the worker is forked, which is safe only when no
    other thread may hold a lock the copy needs (see :func:`_forkable`).
    """
    setting = os.environ.get(WORKERS_ENV, "").strip()
    if (
        setting == "0"
        or not isinstance(conn, sqlite3.Connection)
        or "fork" not in mp.get_all_start_methods()
        or (setting != "1" and not (_forkable() and _core_free()))
        or mp.current_process().daemon  # daemonic processes may not start others
    ):
        return None
    try:
        files = [row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"]
        last = conn.execute("SELECT MAX(idx) FROM leaf").fetchone()[0]
    except sqlite3.Error:  # the one-process pass says what is wrong with the file
        return None
    if not files or not files[0]:
        return None
    if setting != "1" and (not isinstance(last, int) or last + 1 < _AUTO_FROM_LEAVES):
        return None
    return str(files[0])


def _forkable() -> bool:
    """Called from the main thread, beside daemon threads only (a terminal spinner).

    Threads that do the process's work (a server's request threads) may be inside
    SQLite or logging when the fork happens, and the copy would wait forever for a
    lock no thread of its own holds. The worker touches neither stdio nor logging,
    and leaves with ``os._exit`` so it does not flush streams another thread may hold.
    """
    main = threading.main_thread()
    if threading.current_thread() is not main:
        return False
    return all(t is main or t.daemon for t in threading.enumerate())


def _core_free() -> bool:
    """A core is idle (1-minute load average below the cores minus a half): on a busy
    machine the worker only adds its share of the work (about a fifth more CPU)."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # not known here
        return True
    return load < (os.cpu_count() or 1) - 0.5


def verify_with_worker(
    conn: sqlite3.Connection,
    path: str,
    remembered: Remembered | None,
    signer: str | None,
) -> VerifyReport | None:
    """The report of an intact ledger, or ``None`` when anything differs (or the worker
    could not run): the caller then runs the one-process pass. Why is logged (DEBUG).

    ``conn`` must be inside a read transaction; the worker checks that it sees the
    same entries, leaves and checkpoints.
    """
    watch = remembered.size if remembered is not None and remembered.problem is None else None
    ctx = mp.get_context("fork")
    inbox, outbox = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_worker, args=(path, watch, outbox, os.getpid()), daemon=True)
    try:
        limits = tuple(conn.execute(_LIMITS_SQL).fetchone())
        proc.start()
    except (OSError, ValueError, sqlite3.Error) as exc:
        _log.debug("verify: no worker process (%s); checking in one process", exc)
        return None
    outbox.close()
    try:
        try:
            state, blobs, facts, seconds, at_snapshot = _replay(conn, inbox)
            # The worker does about as much as the replay: if it takes ten times longer
            # it is stuck (a fork beside other threads can inherit a held lock).
            if facts is None and inbox.poll(max(30.0, 10 * seconds)):
                facts = inbox.recv()
        except (EOFError, OSError) as exc:
            raise _Differs(f"the worker process ended ({exc})") from exc
        finally:
            if proc.is_alive():
                proc.kill()  # it is done or stuck (or the replay stopped early)
            proc.join()
            inbox.close()
        if facts is None:
            raise _Differs("the worker process did not answer")
        if facts.problem is not None:
            raise _Differs(facts.problem)
        if facts.limits != limits:
            raise _Differs("the worker saw other entries (a commit in between)")
        report = _finish(conn, state, facts, remembered, signer, blobs=blobs, at=at_snapshot)
    except _Differs as exc:
        _log.debug("verify: %s; checking again in one process", exc)
        return None
    except Exception as exc:  # a stored value the checks could not read: the pass names it
        _log.debug("verify: %s: %s; checking again in one process", type(exc).__name__, exc)
        return None
    _log.debug("verify: every check held, with a worker process")
    return report


# -- this process: the state machine, in order ------------------------------------------
def _replay(
    conn: sqlite3.Connection, inbox: Connection
) -> tuple[LedgerState, BlobCheck, _LogFacts | None, float, bytes | None]:
    """Apply every entry to a new state, checking each item's query columns and the blobs
    it names on the way; the worker's facts if they came already; the seconds it took;
    the canonical state at the size the stored snapshot names (None: no entry ends there).

    Raises :class:`_Differs` at the first entry that does not hold.
    """
    started = time.monotonic()
    state = LedgerState()
    # The blobs items name are checked here against every stored one, hashed in one scan
    # (here rather than in the worker, which has more to do per leaf).
    blobs = BlobCheck(conn, _Strict(), scan=True)
    facts: _LogFacts | None = None
    leaves = conn.execute(_ITEM_SQL)
    loads = orjson.loads
    snap_at = snapshot_leaves(stored_snapshot(conn))
    at_snapshot = None
    entries = conn.execute("SELECT seq, ledger_time, body, n_leaves FROM tx ORDER BY seq")
    n = 0
    try:
        for n, (seq, when, body, count) in enumerate(entries):
            items = []
            for row in leaves.fetchmany(count):
                item = loads(row[7])
                if type(item) is not dict or not _columns_hold(item, row):
                    raise _Differs(f"entry {seq}: query columns differ from an item's data")
                # A batch's records name one blob: the one checked last is skipped here
                # without a call (what BlobCheck.item does first for such a record).
                detail = item.get("detail")
                if not (
                    type(detail) is dict
                    and "sealed" not in item
                    and detail.get("blob") == blobs.last
                ):
                    blobs.item(item, seq, -1)
                items.append(item)
            tx_body = loads(body)
            apply(state, tx_body, items, now=when, shaped=_shaped_by_worker(seq, tx_body))
            if state.size == snap_at:
                at_snapshot = canonical(state.to_json(), checked=True)
            if n == 0 and (state.ledger_id is None or state.admin is None):
                raise _Differs("the first entry is not a genesis entry")
            if facts is None and n % 8 == 0 and inbox.poll():
                facts = inbox.recv()  # the worker is done (it sends once, at its end)
                if facts.problem is not None:
                    raise _Differs(facts.problem)
    except _Differs:
        raise
    except Exception as exc:  # whatever it is, the one-process pass names it
        raise _Differs(f"entry {n + 1}: {type(exc).__name__}: {exc}") from exc
    return state, blobs, facts, time.monotonic() - started, at_snapshot


def _columns_hold(item: dict[str, Any], row: tuple[Any, ...]) -> bool:
    """The query columns of ``row`` are those of its decoded ``item``: an emissions record
    (nearly every leaf) compared field by field, the others by :func:`derived_columns`."""
    if row[0] != "emissions_record" or item.get("kind") != "emissions_record":
        return bool(derived_columns(item) == row[:7])
    period, site = item["period"], item["site"]
    return bool(
        item["id"] == row[1]
        and item["org"] == row[2]
        and site == row[3]
        and f"{site}/{item['account']}" == row[4]
        and period["start"] == row[5]
        and period["end"] == row[6]
    )


def _shaped_by_worker(seq: int, body: Any) -> bool:
    """Whether the worker checks the records of entry ``seq`` (with ``body``) for what the
    record rule checks that does not depend on the state (see :func:`_shapes`).

    The worker checks them in :data:`_SHAPED_BY_WORKER` entries of 8 (by sequence
    number) and the replay's rule in the others: the worker checks a record for less
    than the rule costs the replay, but has more else to do per leaf, and the slower
    process sets the pace.
    """
    return (
        seq % 8 < _SHAPED_BY_WORKER
        and type(body) is dict
        and body.get("v") == TYPED_VERSION
        and body.get("type") == "record_emissions"
    )


def _finish(
    conn: sqlite3.Connection,
    state: LedgerState,
    facts: _LogFacts,
    remembered: Remembered | None,
    signer: str | None,
    *,
    blobs: BlobCheck,
    at: bytes | None,
) -> VerifyReport:
    found = _Strict()
    if facts.entries and state.ledger_id != facts.ledger:
        found.add("checkpoints were checked under another ledger id")
    expected = signer or state.admin
    for size, recovered, column in facts.signers:
        if recovered != expected or column != expected:
            found.add(f"checkpoint at size {size} is not signed by {expected}")
    report = VerifyReport(
        ok=True,
        entries=facts.entries,
        leaves=facts.leaves,
        checkpoints=facts.checkpoints,
        root=facts.root.hex(),
    )
    check_wrapped_keys(conn, state, found)
    problem = snapshot_problem(stored_snapshot(conn), at)
    if facts.leaves and problem is not None:
        found.add(problem)
    verifier = check_notes(conn, state, report, found)
    check_remembered(remembered, verifier, report, found, facts.root_at)
    blobs.unreferenced(report)
    return report


# -- the worker: everything that does not depend on the state ---------------------------
def _worker(path: str, watch: int | None, outbox: Connection, parent: int) -> None:
    _die_with_parent(parent)
    facts = _LogFacts()
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    except sqlite3.Error as exc:
        facts.problem = str(exc)
    else:
        try:
            conn.execute("BEGIN")
            facts.limits = tuple(conn.execute(_LIMITS_SQL).fetchone())
            _walk(conn, facts, watch)
        except Exception as exc:
            facts.problem = f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
    outbox.send(facts)
    outbox.close()
    os._exit(0)  # no atexit work and no flushing of streams (see _forkable)


def _die_with_parent(parent: int) -> None:
    # A worker left behind by a killed verify would read the file for nothing.
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != parent:
        os._exit(0)


def _walk(conn: sqlite3.Connection, facts: _LogFacts, watch: int | None) -> None:
    found = _Strict()
    nodes = NodeStreams(conn, found)
    leaves = conn.execute(_LEAF_SQL)
    checkpoints = iter(conn.execute(CHECKPOINTS_IN_ORDER))
    next_cp = next(checkpoints, None)
    acc = MerkleAccumulator()
    prev, prev_cp, seq = GENESIS_PREV, 0, 0
    facts.root_at[0] = EMPTY_ROOT
    for row in conn.execute(_TX_SQL):
        _in_place(row, facts.entries + 1, acc.size, found)
        seq, ehash, when, typ, sender, nonce, body, sig, first, count = row
        facts.entries = seq
        rows = leaves.fetchmany(count)
        if len(rows) != count or rows[0][0] != first or rows[-1][0] != first + count - 1:
            found.add(f"entry {seq}: its leaves are not in place")
        tx = tx_from_parts(body, _items(seq, rows, found), sig)
        if (tx.type, tx.sender, tx.nonce) != (typ, sender, nonce):
            found.add(f"entry {seq}: type, sender or nonce columns differ from the body")
        if _shaped_by_worker(seq, tx.body):
            _shapes(seq, tx.packed, found)
        if facts.ledger is None:
            facts.ledger = tx.body["ledger"]
        prev = entry_hash(prev, seq, when, tx.tx_hash, sig)
        if prev != ehash:
            found.add(f"entry {seq}: hash chain broken")
        before = acc.size
        for level, idx, digest in acc.extend(tx.item_hashes, min_level=NODE_MIN_LEVEL):
            nodes.check(level, idx, digest)
        if watch is not None and before < watch <= acc.size:
            facts.root_at[watch] = acc.root() if watch == acc.size else b""
        while next_cp is not None and next_cp[0] <= acc.size:
            prev_cp = _checkpoint(next_cp, acc, prev_cp, facts, found)
            next_cp = next(checkpoints, None)
    if leaves.fetchone() is not None or next_cp is not None:
        found.add("leaves or checkpoints beyond the last entry")
    nodes.finish(acc.size)
    (last,) = conn.execute("SELECT MAX(size) FROM checkpoint").fetchone()
    if acc.size and last != acc.size:
        found.add("the last leaves are not covered by a signed checkpoint")
    facts.leaves, facts.root = acc.size, acc.root()
    _stored_blob_names(conn, found)


def _in_place(row: tuple[Any, ...], seq: int, first: int, found: _Strict) -> None:
    """An entry row of the right types, the next sequence number, starting at leaf ``first``."""
    for value, kind in zip(row, _TX_TYPES, strict=True):
        if type(value) is not kind:
            found.add("a column of an entry holds another type")
    if row[0] != seq or row[8] != first or row[9] < 1:
        found.add(f"entry {row[0]} is not where it should be")


def _items(seq: int, rows: list[Any], found: _Strict) -> list[bytes]:
    """The data of an entry's leaves (decoded and read against their query columns by
    the replay)."""
    datas = [row[2] for row in rows]
    # Whole-entry passes (the leaf at fault is for the one-process pass to name).
    if {row[1] for row in rows} != {seq} or set(map(type, datas)) != {bytes}:
        found.add(f"a leaf of entry {seq} is another entry's or not bytes")
    return datas


def _shapes(seq: int, packed: tuple[bytes, ...] | None, found: _Strict) -> None:
    """Each record of a typed entry (packed compactly; any other item is packed as its
    JSON) passes what the record rule checks that does not depend on the state: the
    replay applies the entry with ``shaped=True``."""
    if packed is None:
        found.add(f"entry {seq}: a typed entry without its packed items")
        return
    for item in packed:
        if is_compact(item) and not compact_shape(item):
            found.add(f"entry {seq}: a record is not well formed")


def _stored_blob_names(conn: sqlite3.Connection, found: _Strict) -> None:
    """Every stored sealed blob is named by text (the replay hashes those items name)."""
    for (name,) in conn.execute("SELECT id FROM blob"):
        if type(name) is not str:
            found.add("a stored sealed blob's name is not text")


def _checkpoint(
    row: tuple[Any, ...], acc: MerkleAccumulator, prev_cp: int, facts: _LogFacts, found: _Strict
) -> int:
    """Chain, size and root of one checkpoint; who signed it is judged by the replay."""
    size, prev_size, stored_root, when, signer, sig = row
    root = acc.root()
    if size != acc.size or prev_size != prev_cp or bytes(stored_root) != root:
        found.add(f"checkpoint at size {size} does not hold")
    body = checkpoint_body(
        ledger_id=facts.ledger, size=size, prev_size=prev_size, root=root, time=when, signer=signer
    )
    facts.signers.append((size, recover_address(checkpoint_digest(body), bytes(sig)), signer))
    facts.checkpoints += 1
    return int(size)
