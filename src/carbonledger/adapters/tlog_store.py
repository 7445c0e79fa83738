"""The transparency-log side of the SQL stores: signed notes, the remembered checkpoint.

Each commit stores the checkpoint as a C2SP signed note (meta ``note``) with the
verifier key of the note key (meta ``log_vkey``), and the embedded ledger then
writes the same note to a small file beside the SQLite file. That file is the
home's memory of how far the ledger got: a truncated file, a lost WAL that held
a commit, or a file restored from an older copy then holds fewer leaves (or a
different tree) than the remembered checkpoint, and ``verify`` says so.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from carbonledger.core.blobs import referenced_blobs
from carbonledger.core.merkle import NodeLookup, consistency_proof, subtree_hash
from carbonledger.core.note import parse_checkpoint, parse_note
from carbonledger.errors import CarbonLedgerError, InvalidInput, NotFound

if TYPE_CHECKING:
    from carbonledger.adapters.ledger_log import Append

__all__ = [
    "Remembered",
    "batch_notes",
    "ledger_consistency",
    "prune_blobs",
    "read_meta_text",
    "read_remembered",
    "remember_checkpoint",
    "remembered_problem",
    "replace_rows",
    "unreferenced_blobs",
    "void_key",
    "void_seq",
]

#: What a store rebuilt from its chain takes from the store filled beside it: each
#: table's rows (of ``meta``, the head: state snapshot and signed note, and why each
#: void entry is void). Sealed blobs
#: are not replaced but added to: they are not on the chain (a node's own may exist
#: nowhere else), and being content-addressed, one kept is never wrong.
_REBUILT = (
    ("tx", ""),
    ("leaf", ""),
    ("node", ""),
    ("checkpoint", ""),
    ("channel_key", ""),
    # (No '%' here: a PostgreSQL driver reads it as a placeholder.)
    ("meta", " WHERE key IN ('state', 'note', 'log_vkey') OR substr(key, 1, 5) = 'void:'"),
)


def replace_rows(
    execute: Callable[[str], object], columns: Callable[[str], list[str]], source: str
) -> None:
    """Replace the store's rows by those of the same tables in ``source`` (an attached
    SQLite file or a PostgreSQL schema holding a store filled beside it), inside the
    caller's transaction: readers see one store or the other, never half of one.
    ``columns(table)`` names the store's columns (copied by name, not position)."""
    for table, where in _REBUILT:
        cols = ", ".join(columns(table))
        execute(f"DELETE FROM {table}{where}")  # noqa: S608 - fixed names
        execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {source}.{table}{where}")  # noqa: S608
    cols = ", ".join(columns("blob"))
    execute(
        f"INSERT INTO blob ({cols}) SELECT {cols} FROM {source}.blob"  # noqa: S608
        " WHERE id NOT IN (SELECT id FROM blob)"
    )


def batch_notes(batch: Append) -> list[tuple[str, bytes]]:
    """The meta rows a commit writes beside its checkpoint: the signed note and its vkey,
    and why each void entry of the batch is void (``void:SEQ``)."""
    voids = [(void_key(seq), why.encode()) for seq, why in batch.voids]
    return [("note", batch.note.encode()), ("log_vkey", batch.vkey.encode()), *voids]


def void_key(seq: int) -> str:
    """The meta key that holds why entry ``seq`` is void (see ``Append.voids``)."""
    return f"void:{seq}"


def void_seq(key: str) -> int:
    """The sequence number of the void entry ``key`` (a :func:`void_key`) names."""
    return int(key.removeprefix("void:"))


def read_meta_text(conn: sqlite3.Connection, key: str, missing: str) -> str:
    """A text value of the meta table; ``NotFound(missing)`` when absent."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    if row is None:
        raise NotFound(missing)
    return bytes(row[0]).decode()


@dataclass(frozen=True, slots=True)
class Remembered:
    """The checkpoint a home remembers committing (or why it cannot be read)."""

    path: str
    size: int = 0
    root: bytes = b""
    note: str = ""
    problem: str | None = None


def _size_of(path: Path) -> int:
    try:
        return parse_checkpoint(parse_note(path.read_text()).text).size
    except (OSError, ValueError, CarbonLedgerError):
        return -1


def remember_checkpoint(path: Path, note: str) -> None:
    """Write ``note`` to ``path`` if it is further on than what the file holds.

    Written after the commit, so the file is never ahead of a durable ledger; a
    crash in between leaves it one commit behind, which ``verify`` accepts (the
    remembered tree must be a prefix of the ledger's). Replaced atomically so a
    reader never sees half a note. Another process that committed more leaves
    keeps its larger checkpoint.
    """
    if not note:
        return
    size = parse_checkpoint(parse_note(note).text).size
    if _size_of(path) >= size:
        return
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(note)
        os.replace(tmp, path)
    except OSError:
        # The ledger committed; failing the write now would make the caller retry
        # and record twice. verify reports the file as older or missing instead.
        with contextlib.suppress(OSError):
            tmp.unlink()


def read_remembered(path: Path) -> Remembered | None:
    """The remembered checkpoint, ``None`` if the home has none yet."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return Remembered(str(path), problem=f"cannot be read ({exc})")
    try:
        cp = parse_checkpoint(parse_note(text).text)
    except CarbonLedgerError as exc:
        return Remembered(str(path), problem=f"is not a signed checkpoint ({exc})")
    return Remembered(str(path), cp.size, cp.root, text)


def ledger_consistency(size: int, first: int, second: int, node: NodeLookup) -> list[bytes]:
    """A consistency proof between two sizes of a log now holding ``size`` leaves."""
    if not 0 <= first <= second:
        raise InvalidInput(f"no consistency proof from size {first} to size {second}")
    if second > size:
        raise NotFound(f"the ledger holds {size} leaves, not {second}")
    return consistency_proof(first, second, node)


def unreferenced_blobs(conn: sqlite3.Connection) -> list[str]:
    """Ids of stored sealed blobs that no item names, in id order."""
    named: set[str] = set()
    for (data,) in conn.execute("SELECT data FROM leaf ORDER BY idx"):
        try:
            item = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue  # verify reports unreadable items; they name nothing that can be kept
        if isinstance(item, dict):
            named.update(ref.blob for ref in referenced_blobs(item))
    return [b for (b,) in conn.execute("SELECT id FROM blob ORDER BY id") if b not in named]


def prune_blobs(conn: sqlite3.Connection, *, delete: bool) -> list[str]:
    """The unreferenced blobs; with ``delete``, removed in one write transaction.

    The scan runs inside the write lock, so no commit can name a blob between the
    scan and the delete.
    """
    conn.execute("BEGIN IMMEDIATE" if delete else "BEGIN")
    try:
        ids = unreferenced_blobs(conn)
        if delete:
            conn.executemany("DELETE FROM blob WHERE id = ?", [(b,) for b in ids])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return ids


def remembered_problem(
    remembered: Remembered | None, size: int, current_size: Callable[[], int], node: NodeLookup
) -> str | None:
    """Why a ledger loaded at ``size`` leaves is not the one that wrote ``remembered``.

    A ledger behind its remembered checkpoint lost commits; one whose tree at that
    size has another root was rewritten. Writing on top of either would replace the
    evidence, so the store is opened as damaged (verify still runs). ``current_size``
    re-reads the file: another process may have committed (and remembered) since
    ``size`` was read.
    """
    if remembered is None or remembered.problem is not None or remembered.size == 0:
        return None  # verify reports an unreadable file; size 0 says nothing
    where = f"the checkpoint remembered in {remembered.path}"
    if remembered.size > size and current_size() < remembered.size:
        return (
            f"it holds {size} leaves, but {where} is at size {remembered.size}:"
            " committed entries were lost"
        )
    if remembered.size <= size and subtree_hash(0, remembered.size, node) != remembered.root:
        return (
            f"its tree at size {remembered.size} is not the one {where} names:"
            " history was rewritten"
        )
    return None
