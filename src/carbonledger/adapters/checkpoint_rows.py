"""The signed checkpoints table as both SQL stores (and ``verify``) read it.

:class:`carbonledger.adapters.sqlite.ledger.SqliteLedger` and
:class:`carbonledger.adapters.sqlstore.ledger.SqlLedger` keep the same ``checkpoint``
table; they read it through this one query, each with its own ``execute``
(``?`` placeholders; the SQL store translates them for its driver).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from carbonledger.errors import NotFound
from carbonledger.ports.ledger import Checkpoint

__all__ = ["CHECKPOINTS_IN_ORDER", "Execute", "latest_checkpoint", "latest_checkpoints"]

#: Every checkpoint, oldest first (what ``verify`` walks beside the entries).
CHECKPOINTS_IN_ORDER = (
    "SELECT size, prev_size, root, ledger_time, signer, signature FROM checkpoint ORDER BY size"
)
_LATEST = (
    "SELECT size, prev_size, root, ledger_time, signer, signature FROM checkpoint"
    " ORDER BY size DESC LIMIT ?"
)


class Execute(Protocol):
    """Runs one statement with ``?`` placeholders and returns its rows."""

    def __call__(self, sql: str, params: Sequence[Any], /) -> Iterable[Sequence[Any]]: ...


def latest_checkpoints(execute: Execute, ledger_id: str | None, limit: int) -> list[Checkpoint]:
    """The latest ``limit`` signed checkpoints of ``ledger_id``, newest first."""
    return [
        Checkpoint(
            str(ledger_id), size, prev_size, bytes(root).hex(), when, signer, bytes(sig).hex()
        )
        for size, prev_size, root, when, signer, sig in execute(_LATEST, (limit,))
    ]


def latest_checkpoint(execute: Execute, ledger_id: str | None) -> Checkpoint:
    """The latest signed checkpoint (``NotFound`` before the first commit)."""
    latest = latest_checkpoints(execute, ledger_id, 1)
    if not latest:
        raise NotFound("the ledger has no checkpoint yet")
    return latest[0]
