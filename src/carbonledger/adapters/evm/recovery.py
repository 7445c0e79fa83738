"""Recovery: how a node's off-chain store meets the chain again after any divergence.

A store behind the chain (a crash before it took what the chain accepted, another
node's entries) keeps what it holds and takes the rest; a store that holds entries
the chain does not (ahead of it after a crash, a node restarted from older state,
another order after two writers, a block reorganised away) is rebuilt from the chain:
a new store is filled beside it (:func:`store_beside`: a SQLite file next to its file,
or a PostgreSQL schema next to its schema) and swapped in at once (:func:`swap_in`), so
that a server's readers see the old store or the new one, never one half refilled.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError

from carbonledger.adapters.evm.entries import Row, common_prefix, store_count
from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.core.tx import utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import ConfigurationError

if TYPE_CHECKING:
    from carbonledger.adapters.sqlstore import SqlLedger

__all__ = ["entries_kept", "store_beside"]


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


@contextlib.contextmanager
def store_beside(
    store: SqliteLedger | SqlLedger, operator: PrivateKey | None
) -> Iterator[tuple[SqliteLedger | SqlLedger, Callable[[], None]]]:
    """A new, empty store beside ``store`` (the same checkpoint signer), and the function
    that swaps it in for ``store`` in one commit (a SQLite store's old copy kept aside
    as ``*.diverged-TIME``); the new store is removed on leaving, swapped in or not."""
    if isinstance(store, SqliteLedger):
        path = f"{store.path}.rebuild"
        _remove_sqlite(path)  # what an interrupted rebuild left
        fresh = SqliteLedger(
            path, operator, checkpoint_signer=store.checkpoint_signer, follows_chain=True
        )

        def swap() -> None:
            aside = Path(f"{store.path}.diverged-{utc_now().replace(':', '')}")
            store.replace_with(fresh, keep=aside)

        try:
            yield fresh, swap
        finally:
            fresh.close()
            _remove_sqlite(path)
        return
    with _sql_beside(store, operator) as (sql_fresh, source):
        yield sql_fresh, lambda: store.replace_with(source)


@contextlib.contextmanager
def _sql_beside(store: SqlLedger, operator: PrivateKey | None) -> Iterator[tuple[SqlLedger, str]]:
    """A new store beside a SQL store (a schema next to its own in PostgreSQL, a file next
    to its file in SQLite), and how ``replace_with`` names it."""
    from carbonledger.adapters.sqlstore import SqlLedger

    url = store.engine.url
    if store.engine.dialect.name == "sqlite":
        path = f"{url.database}.rebuild"
        _remove_sqlite(path)
        engine = create_engine(url.set(database=path))
        source = path

        def drop() -> None:
            _remove_sqlite(path)

    else:
        with store.engine.connect() as conn:
            current = str(conn.exec_driver_sql("SELECT current_schema()").scalar_one())
        schema = f"{current}_rebuild"
        statements = [f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', f'CREATE SCHEMA "{schema}"']
        try:
            with store.engine.begin() as conn:
                for sql in statements:
                    conn.exec_driver_sql(sql)
        except DBAPIError as exc:
            raise ConfigurationError(
                f"the store is rebuilt from the chain in a schema beside its own, {schema!r},"
                f" which this database role cannot create: grant it CREATE ({exc.orig})"
            ) from exc
        engine = create_engine(
            url, pool_pre_ping=True, connect_args={"options": f"-csearch_path={schema}"}
        )
        source = schema

        def drop() -> None:
            with store.engine.begin() as conn:
                conn.exec_driver_sql(statements[0])

    fresh = SqlLedger(
        engine, operator, checkpoint_signer=store.checkpoint_signer, follows_chain=True
    )
    try:
        yield fresh, source
    finally:
        fresh.close()
        drop()


def _remove_sqlite(path: str) -> None:
    """A SQLite file and what goes with it (its write-ahead log, the remembered checkpoint)."""
    for suffix in ("", "-wal", "-shm", ".checkpoint", ".lock"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)
