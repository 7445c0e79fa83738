"""Recovery: how a node's off-chain store meets the chain again after any divergence.

A store behind the chain (a crash before it took what the chain accepted, another
node's entries) keeps what it holds and takes the rest; a store that holds entries
the chain does not (ahead of it after a crash, a node restarted from older state,
another order after two writers, a block reorganised away) is rebuilt from the chain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carbonledger.adapters.evm.entries import Row, common_prefix, store_count
from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.core.tx import utc_now

if TYPE_CHECKING:
    from carbonledger.adapters.sqlstore import SqlLedger

__all__ = ["entries_kept", "rebuild"]


def entries_kept(
    store: SqliteLedger | SqlLedger,
    rows: Callable[[int], list[Row]],
    entries: Sequence[dict[str, Any]],
) -> int | None:
    """How many of the chain's ``entries`` the store holds as the chain does (it takes
    the rest), or None when it holds one the chain does not (it is rebuilt). ``rows(n)``
    reads the store's rows (seq, body, sender, nonce) from entry ``n`` on: while the
    store's last entry is where the chain has it, only that row is read (a node following
    an idle chain reads one row a round)."""
    count = store_count(store)
    if count <= len(entries):
        tail = rows(count) if count else []
        if not tail or common_prefix(tail, entries[count - 1 :]) == 1:
            return count
    held = rows(1)
    shared = common_prefix(held, entries)
    if shared == len(held):
        return shared
    return None


def rebuild(store: SqliteLedger | SqlLedger) -> None:
    """Empty ``store`` in place, to be rebuilt from the chain (a SQLite store is
    copied aside first, as ``*.diverged-TIME``)."""
    if isinstance(store, SqliteLedger):
        aside = f"{store.path}.diverged-{utc_now().replace(':', '')}"
        store.reset(keep=Path(aside))
    else:
        store.reset()
