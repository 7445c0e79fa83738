"""The parts of ``verify`` beside the entry loop: findings, blobs, keys, checkpoints, notes.

:class:`Findings` collects every failure (up to a limit) so one bad entry does not
hide the next; the checks here add to it and never stop the pass themselves.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from typing import Any

from carbonledger.adapters.tlog_store import Remembered
from carbonledger.core.blobs import BLOB_FIELDS, referenced_blobs
from carbonledger.core.checkpoint import checkpoint_body, checkpoint_digest, log_origin
from carbonledger.core.note import Verifier, parse_checkpoint, parse_note, verify_note
from carbonledger.core.state import LedgerState
from carbonledger.crypto.keys import recover_address
from carbonledger.errors import CarbonLedgerError
from carbonledger.ports.ledger import VerifyReport

__all__ = [
    "BlobCheck",
    "Findings",
    "NodeStreams",
    "Stop",
    "check_checkpoint",
    "check_notes",
    "check_remembered",
    "stored_snapshot",
]

_BLOB_FIELDS = frozenset(BLOB_FIELDS)
#: How many unreferenced blob ids a report lists (the count is always exact).
_LISTED_UNREFERENCED = 100


class Stop(Exception):
    """Raised when the report holds ``max_errors`` findings: the pass ends there."""


class Findings:
    """Every failure found, in ledger order; the first one is also the report's ``error``."""

    def __init__(self, report: VerifyReport, limit: int) -> None:
        self.report = report
        self.limit = max(1, limit)

    def add(self, reason: str, entry: int | None = None, leaf: int | None = None) -> None:
        r = self.report
        if r.ok:
            r.ok, r.error, r.entry, r.leaf = False, reason, entry, leaf
        r.errors.append({"entry": entry, "leaf": leaf, "error": reason})
        if len(r.errors) >= self.limit:
            r.truncated = True
            raise Stop


class NodeStreams:
    """One ordered cursor per tree level, so stored nodes are compared as they are recomputed."""

    def __init__(self, conn: sqlite3.Connection, findings: Findings) -> None:
        self._conn = conn
        self._findings = findings
        self._cursors: dict[int, Iterator[tuple[int, bytes]]] = {}
        self._pending: dict[int, tuple[int, bytes] | None] = {}
        #: Set at the first difference: every node and root above a changed leaf differs
        #: too, so comparing further would only repeat it.
        self.diverged = False

    def _next(self, level: int) -> tuple[int, bytes] | None:
        if level in self._pending:
            return self._pending.pop(level)
        cur = self._cursors.get(level)
        if cur is None:
            cur = self._cursors[level] = iter(
                self._conn.execute(
                    "SELECT idx, hash FROM node WHERE level = ? ORDER BY idx", (level,)
                )
            )
        return next(cur, None)

    def check(self, level: int, idx: int, digest: bytes) -> None:
        row = self._next(level)
        while row is not None and row[0] < idx:
            self._findings.add(f"Merkle node (level {level}, index {row[0]}) is out of place")
            row = self._next(level)
        if row is None or row[0] != idx:
            self._pending[level] = row
            self._findings.add(f"Merkle node (level {level}, index {idx}) is missing")
        elif bytes(row[1]) != digest:
            self._findings.add(
                f"Merkle node (level {level}, index {idx}) does not match its leaves"
            )

    def finish(self, size: int) -> None:
        for (level,) in self._conn.execute("SELECT DISTINCT level FROM node").fetchall():
            extra = self._next(level)
            if extra is not None:
                self._findings.add(
                    f"Merkle node (level {level}, index {extra[0]}) is beyond the"
                    f" ledger's {size} leaves"
                )


class BlobCheck:
    """Every sealed blob an item names is stored and hashes to its name.

    Names are kept as Python hashes (8 bytes each) so unreferenced blobs can be
    found afterwards without holding every id. ``scan=True``: every stored blob is
    read and hashed once, in one scan (a lookup by name reads the whole half-megabyte
    row, which costs twice as much), on the first name to check; a named blob that
    does not hash to its name is then found as missing (for a pass that only answers
    whether everything holds: the one-process pass says which).
    """

    def __init__(self, conn: sqlite3.Connection, findings: Findings, *, scan: bool = False) -> None:
        self._conn = conn
        self._findings = findings
        self._seen: set[int] = set()
        self._scan = scan
        self._stored: set[str] | None = None
        #: The blob the last record checked named (a batch's records share one): a
        #: caller that sees the next record name it too may skip :meth:`item`.
        self.last: str | None = None
        self.checked = 0

    def _stored_data(self, blob: str) -> tuple[bool, bytes | None]:
        """Whether ``blob`` is stored, and its bytes when they are still to be hashed."""
        if not self._scan:
            row = self._conn.execute("SELECT data FROM blob WHERE id = ?", (blob,)).fetchone()
            return row is not None, None if row is None else bytes(row[0])
        if self._stored is None:
            self._stored = {
                name
                for name, data in self._conn.execute("SELECT id, data FROM blob")
                if hashlib.sha256(data).hexdigest() == name
            }
        return blob in self._stored, None

    def item(self, item: dict[str, Any], seq: int, leaf: int) -> None:
        if _BLOB_FIELDS.isdisjoint(item):
            return  # most items seal nothing: skip the generator (this runs per leaf)
        detail = item.get("detail")
        if "sealed" not in item and type(detail) is dict:
            # A record of a batch whose blob an earlier record named: already checked
            # (most often the record before it: compared without hashing the name again).
            blob = detail.get("blob")
            if blob == self.last:
                return
            if type(blob) is str and hash(blob) in self._seen:
                self.last = blob
                return
        for ref in referenced_blobs(item):
            key = hash(ref.blob)
            if key in self._seen:
                continue
            self._seen.add(key)
            self.checked += 1
            what = f"leaf {leaf} ({item.get('kind')} {item.get('id')}): its sealed {ref.field}"
            stored, data = self._stored_data(ref.blob)
            if not stored:
                self._findings.add(f"{what} blob {ref.blob} is missing", seq, leaf)
            elif data is not None and hashlib.sha256(data).hexdigest() != ref.blob:
                self._findings.add(f"{what} blob {ref.blob} was altered", seq, leaf)

    def named(self, blob: str) -> bool:
        """Whether an item checked so far names ``blob``."""
        return hash(blob) in self._seen

    def unreferenced(self, report: VerifyReport) -> None:
        count = 0
        for (blob_id,) in self._conn.execute("SELECT id FROM blob ORDER BY id"):
            if hash(blob_id) not in self._seen:
                count += 1
                if len(report.unreferenced_blobs) < _LISTED_UNREFERENCED:
                    report.unreferenced_blobs.append(str(blob_id))
        report.blobs, report.unreferenced = self.checked, count
        if count:
            report.notes.append(
                f"{count} stored sealed blobs are named by no entry (left by imports that did"
                " not commit): `carbonledger blobs prune` removes them"
            )


def check_wrapped_keys(conn: sqlite3.Connection, state: LedgerState, findings: Findings) -> None:
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
                    findings.add(
                        f"channel {channel_id!r} epoch {epoch}: the key wrapped for {member}"
                        " is missing or does not match the ledger"
                    )


def check_checkpoint(
    row: tuple[Any, ...],
    state: LedgerState,
    root: bytes,
    prev: int,
    findings: Findings,
    *,
    signer_of: str | None = None,
) -> bool:
    """One signed checkpoint: chained to the previous one, the recomputed root, the admin
    (or ``signer_of``, the store's own signer).

    Returns False when its root differs (every later root then differs as well).
    """
    size, prev_size, stored_root, when, signer, sig = row
    if prev_size != prev:
        findings.add(
            f"checkpoint at size {size} follows size {prev_size}, but the previous"
            f" checkpoint is at size {prev}: a checkpoint was removed or altered"
        )
    if bytes(stored_root) != root:
        findings.add(
            f"checkpoint at size {size}: stored root differs from the recomputed tree"
            " (later checkpoints' roots are not compared)"
        )
        return False
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
        findings.add(f"checkpoint at size {size}: {exc}")
        return True
    expected = signer_of or state.admin
    if recovered != expected or signer != expected:
        who = "the store's signer" if signer_of else "the ledger admin"
        findings.add(f"checkpoint at size {size}: not signed by {who} {expected}")
    return True


def check_notes(
    conn: sqlite3.Connection, state: LedgerState, report: VerifyReport, findings: Findings
) -> Verifier | None:
    """The stored signed note is the last checkpoint, signed by the ledger's note key.

    Returns that key (``None`` for a ledger written before notes existed).
    """
    meta = dict(
        conn.execute("SELECT key, value FROM meta WHERE key IN ('note', 'log_vkey')").fetchall()
    )
    verifier: Verifier | None = None
    if "log_vkey" in meta:
        try:
            verifier = Verifier.from_vkey(bytes(meta["log_vkey"]).decode())
        except (CarbonLedgerError, UnicodeDecodeError) as exc:
            findings.add(f"the stored note key is malformed ({exc})")
        if verifier is not None and verifier.name != log_origin(state.ledger_id):
            findings.add(f"the note key {verifier.name!r} is not this ledger's")
            verifier = None
    if "note" in meta and verifier is not None:
        _check_stored_note(bytes(meta["note"]), verifier, report, findings)
    elif len(meta) == 1:
        # Both are written with every commit since notes exist: one alone means a row
        # was removed.
        findings.add("the signed checkpoint note or its key is missing from the ledger")
    elif report.leaves and not meta:
        report.notes.append("no signed checkpoint note yet (written with the next commit)")
    return verifier


def check_remembered(
    remembered: Remembered | None,
    verifier: Verifier | None,
    report: VerifyReport,
    findings: Findings,
    root_at: dict[int, bytes],
) -> None:
    """The checkpoint remembered beside the ledger is a prefix of the ledger's tree.

    ``root_at`` holds the recomputed root at the remembered size (filled in by the pass).
    """
    if remembered is None:
        if report.leaves:
            report.notes.append("this ledger has no remembered checkpoint beside it yet")
        return
    where = f"the checkpoint remembered in {remembered.path}"
    if remembered.problem is not None:
        findings.add(f"{where} {remembered.problem}")
        return
    if verifier is None:
        findings.add(f"{where} has no note key in the ledger to check it against")
    else:
        try:
            verify_note(parse_note(remembered.note), [verifier])
        except CarbonLedgerError as exc:
            findings.add(f"{where} is not signed by this ledger's note key ({exc})")
    if remembered.size > report.leaves:
        findings.add(
            f"{where} is at size {remembered.size} (root {remembered.root.hex()}), but the"
            f" ledger holds only {report.leaves} leaves: committed entries were lost"
            " (a truncated or replaced file, a lost WAL, or a rollback)"
        )
    elif root_at.get(remembered.size) != remembered.root:
        found = root_at.get(remembered.size)
        at = f"is {found.hex()}" if found else "ends inside an entry"
        findings.add(
            f"{where} has root {remembered.root.hex()} at size {remembered.size}; the ledger's"
            f" tree at that size {at}: its history was rewritten"
        )
    else:
        report.remembered_size = remembered.size


def _check_stored_note(
    data: bytes, verifier: Verifier, report: VerifyReport, findings: Findings
) -> None:
    try:
        note = parse_note(data)
        verify_note(note, [verifier])
        cp = parse_checkpoint(note.text)
    except CarbonLedgerError as exc:
        findings.add(f"the stored checkpoint note does not hold ({exc})")
        return
    if cp.origin != verifier.name or cp.size != report.leaves or cp.root.hex() != report.root:
        findings.add(
            f"the stored checkpoint note (size {cp.size}, root {cp.root.hex()}) is not the"
            f" ledger's last checkpoint (size {report.leaves})"
        )


def stored_snapshot(conn: sqlite3.Connection) -> bytes | None:
    """The state snapshot stored in the ledger file (None: there is none)."""
    snap = conn.execute("SELECT value FROM meta WHERE key = 'state'").fetchone()
    return None if snap is None else bytes(snap[0])
