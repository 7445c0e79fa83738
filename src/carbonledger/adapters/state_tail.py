"""The ledger's state as a SQL store keeps it: a snapshot now and then, the entries after it.

Writing the whole state (every account's recorded periods, every site, nonce and
balance) with each commit costs in proportion to the ledger, not to the commit, so a
store writes a snapshot only once the entries after the last one (the tail) are
worth it (:func:`snapshot_due`), and on opening, or when taking in another
process's commits, replays the tail through the core's rules
(:func:`replay_tail`), as ``verify`` replays the whole log. A crash between two
snapshots loses nothing: the entries are in the log, and the log is the authority.

The snapshot is the canonical JSON of :meth:`LedgerState.to_json` at the size (in
leaves) it names, always where an entry ends; ``verify`` compares it with the
state the entries produce at that size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import orjson

from carbonledger.core.authority import apply, apply_followed
from carbonledger.core.state import LedgerState
from carbonledger.errors import CarbonLedgerError, IntegrityError

__all__ = [
    "SNAPSHOT_BYTES_PER_LEAF",
    "SNAPSHOT_MAX_TAIL",
    "Rows",
    "load_snapshot",
    "replay_tail",
    "snapshot_due",
    "snapshot_entry",
    "snapshot_leaves",
    "snapshot_problem",
]

#: A new snapshot once the tail holds a leaf for every this many bytes of the last one.
#: Writing a snapshot costs about 3 ns a byte and replaying a leaf about 11 us, so this
#: spends under 4 us a leaf on snapshots, at any ledger size, and keeps the replay on
#: opening within about five times the cost of loading the snapshot.
SNAPSHOT_BYTES_PER_LEAF = 1024
#: And at the latest once the tail holds this many leaves (about a second to replay).
SNAPSHOT_MAX_TAIL = 100_000


class Rows(Protocol):
    """A cursor over (leaf index, data) rows in index order (DB-API, SQLAlchemy)."""

    def fetchmany(self, size: int) -> Any: ...


def snapshot_due(tail_leaves: int, snapshot_bytes: int) -> bool:
    """Whether a commit that leaves ``tail_leaves`` after the last snapshot (of
    ``snapshot_bytes``; 0: none yet) writes a new one."""
    return (
        tail_leaves * SNAPSHOT_BYTES_PER_LEAF >= snapshot_bytes or tail_leaves >= SNAPSHOT_MAX_TAIL
    )


def load_snapshot(data: bytes) -> tuple[LedgerState, int]:
    """The state a stored snapshot holds, and its length in bytes."""
    return LedgerState.from_json(orjson.loads(data)), len(data)


def snapshot_entry(ends: Sequence[int] | None, snapshot: int, size: int) -> int:
    """The entry after which a snapshot of ``snapshot`` leaves was taken, in a store of
    ``size`` leaves; ``ends``: (seq, first leaf after it) of the entry holding the
    snapshot's last leaf, None if no entry holds it."""
    if snapshot > size or ends is None or ends[1] != snapshot:
        raise IntegrityError(
            f"the state snapshot is for {snapshot} leaves, where no entry of the"
            f" {size} leaves stored ends"
        )
    return int(ends[0])


def replay_tail(
    state: LedgerState,
    entries: Iterable[tuple[int, str, bytes, int, int]],
    leaves: Rows,
    *,
    size: int,
    follows_chain: bool = False,
) -> None:
    """Apply stored ``entries`` (seq, ledger time, body, first leaf, leaf count), in order,
    to ``state``, with their items read from ``leaves`` (from the state's size on), up
    to the ``size`` leaves stored.

    The entries were checked when they were committed; signatures are not recovered
    again (``verify`` does that), but every rule runs, as it must to advance the state.
    Raises :class:`IntegrityError` naming the first entry that is out of place or
    does not apply.
    """
    loads = orjson.loads
    for seq, when, body, first, count in entries:
        if first != state.size:
            raise IntegrityError(f"entry {seq} starts at leaf {first}, expected {state.size}")
        rows = leaves.fetchmany(count) if count > 0 else []
        if (
            not rows
            or len(rows) != count
            or (rows[0][0], rows[-1][0]) != (first, first + count - 1)
        ):
            raise IntegrityError(f"entry {seq}: its leaves are missing or out of place")
        try:
            items = [loads(data) for _, data in rows]
            if follows_chain:
                apply_followed(state, loads(body), items, now=when)
            else:
                apply(state, loads(body), items, now=when)
        except (CarbonLedgerError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise IntegrityError(
                f"entry {seq} does not apply to the state before it ({exc})"
            ) from exc
    if state.size != size:
        raise IntegrityError(f"the entries hold {state.size} leaves, {size} are stored")


def snapshot_leaves(data: bytes | None) -> int | None:
    """The size (in leaves) a stored snapshot names, or None if it names none (``verify``
    then finds it differs: no replayed state is None)."""
    if data is None:
        return None
    try:
        size = orjson.loads(data).get("size")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return size if type(size) is int and size > 0 else None


def snapshot_problem(data: bytes | None, replayed: bytes | None) -> str | None:
    """What is wrong with the stored snapshot ``data``, given ``replayed``: the canonical
    state the entries produce at the size the snapshot names (None: no entry ends there)."""
    if data is None:
        return "the stored state snapshot is missing"
    if replayed == data:
        return None
    size = snapshot_leaves(data)
    if size is None:
        return "the stored state snapshot names no size (it is not a snapshot)"
    if replayed is None:
        return f"the stored state snapshot is for {size} leaves, where no entry ends"
    return (
        f"the stored state snapshot differs from the state the entries produce at its size"
        f" ({size} leaves)"
    )
