"""Any single change, deletion, insertion or reordering of stored data is detected.

Written once for every backend that keeps the ledger's log in tables of the same
layout (the embedded file, the SQLAlchemy store on PostgreSQL, the EVM backend's
off-chain mirror). A backend's test class subclasses :class:`TamperConformance` and
provides ``original`` (a ledger built once by :func:`tests.ledger_helpers.setup`
and :func:`~tests.ledger_helpers.fill`, closed) and ``tamper_copy`` (a fresh copy of
it to edit as an attacker with write access to the storage would, with plain SQL,
and to open again). ``verify`` must fail and name where.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing
from pathlib import Path
from typing import Any, Protocol

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError
from carbonledger.ports.ledger import LedgerPort, VerifyReport
from tests.ledger_helpers import fill, setup

KEY = PrivateKey.from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
TABLES = {
    "meta": ("key", ["value"]),
    "channel_key": ("member", ["channel", "epoch", "member", "digest", "wrapped"]),
    "tx": (
        "seq",
        [
            "entry_hash",
            "ledger_time",
            "type",
            "sender",
            "nonce",
            "body",
            "signature",
            "first_leaf",
            "n_leaves",
        ],
    ),
    "leaf": ("idx", ["seq", "kind", "rid", "org", "site", "account", "pstart", "pend", "data"]),
    "node": ("rowid", ["level", "idx", "hash"]),
    "checkpoint": ("size", ["prev_size", "root", "ledger_time", "signer", "signature"]),
}
KEY_EXPRESSIONS = {
    "node": "level || ':' || idx",
    "channel_key": "channel || ':' || epoch || ':' || member || ':' || digest",
}
SETTINGS = settings(
    max_examples=int(os.environ.get("TAMPER_EXAMPLES", "60")),
    deadline=None,
    # The tests are written once and run by one subclass per backend (a different
    # ``self``); each example builds its own copy, so nothing carries between them.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.differing_executors],
)


class Db(Protocol):
    """The copy's tables through plain SQL (``?`` placeholders on every backend)."""

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...

    def change(self, *statements: tuple[str, tuple[Any, ...]]) -> bool:
        """Run the statements in one transaction; False when a key constraint refuses them."""
        ...


class Copy(Protocol):
    db: Db

    def tampered(self) -> VerifyReport:
        """Open the copy as a ledger again and verify it (see :func:`tampered_report`)."""
        ...


class FileDb:
    """A SQLite file's tables (the embedded ledger, or an EVM backend's mirror)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.path)) as con:
            return con.execute(sql, params).fetchall()

    def change(self, *statements: tuple[str, tuple[Any, ...]]) -> bool:
        with closing(sqlite3.connect(self.path)) as con:
            try:
                with con:
                    for sql, params in statements:
                        con.execute(sql, params)
            except sqlite3.IntegrityError:
                return False
        return True


def build(ledger: LedgerPort) -> None:
    """The ledger every example copies: 3 sites, 3 entries of 13 records, 1 of 40."""
    setup(ledger, KEY, sites=3)
    fill(ledger, KEY, txs=3, per_tx=13)
    fill(ledger, KEY, txs=1, per_tx=40, site="s1")
    report = ledger.verify()
    assert report.ok, report.error


def tampered_report(open_ledger: Callable[[], AbstractContextManager[LedgerPort]]) -> VerifyReport:
    """Open the tampered storage and verify it: the report must name a failure. Refusing
    to open it with a clear error (naming what is damaged) counts as detection too."""
    try:
        with open_ledger() as ledger:
            report = ledger.verify()
    except CarbonLedgerError as exc:
        return VerifyReport(False, error=f"refused to open: {exc}")
    assert not report.ok, "tampering was not detected"
    assert report.error
    return report


def _mutate_value(value: object, pos: int) -> object:
    if isinstance(value, bytes | memoryview):
        b = bytearray(value)
        b[pos % len(b)] ^= 1 + pos % 255
        return bytes(b)
    if isinstance(value, int):
        return value + (1 if pos % 2 else -1)
    if value is None:
        return "x"
    text = str(value)
    i = pos % len(text)
    return text[:i] + ("Z" if text[i] != "Z" else "Y") + text[i + 1 :]


def _key(table: str) -> str:
    return KEY_EXPRESSIONS.get(table, TABLES[table][0])


def _keys(db: Db, table: str) -> list[object]:
    return [r[0] for r in db.rows(f"SELECT {_key(table)} FROM {table} ORDER BY 1")]


def _where(table: str) -> str:
    return f"{_key(table)} = ?"


class TamperConformance:
    """Every test copies ``original`` through ``tamper_copy`` and changes one thing."""

    @pytest.fixture
    def tamper_copy(self) -> Iterator[Callable[[], Copy]]:  # pragma: no cover - per backend
        raise NotImplementedError

    @SETTINGS
    @given(
        table=st.sampled_from(sorted(TABLES)),
        row=st.integers(0, 10_000),
        column=st.integers(0, 20),
        pos=st.integers(0, 10_000),
    )
    def test_any_single_change_is_detected(
        self, tamper_copy: Callable[[], Copy], table: str, row: int, column: int, pos: int
    ) -> None:
        copy = tamper_copy()
        keys = _keys(copy.db, table)
        key = keys[row % len(keys)]
        name = TABLES[table][1][column % len(TABLES[table][1])]
        ((value,),) = copy.db.rows(f"SELECT {name} FROM {table} WHERE {_where(table)}", (key,))
        update = f"UPDATE {table} SET {name} = ? WHERE {_where(table)}"
        changed = copy.db.change((update, (_mutate_value(value, pos), key)))
        assume(changed)  # a key constraint refused the change: the database itself did
        copy.tampered()

    @SETTINGS
    @given(table=st.sampled_from(sorted(TABLES)), row=st.integers(0, 10_000))
    def test_any_deleted_row_is_detected(
        self, tamper_copy: Callable[[], Copy], table: str, row: int
    ) -> None:
        copy = tamper_copy()
        keys = _keys(copy.db, table)
        assert copy.db.change(
            (f"DELETE FROM {table} WHERE {_where(table)}", (keys[row % len(keys)],))
        )
        copy.tampered()

    @SETTINGS
    @given(
        table=st.sampled_from(["tx", "leaf"]), a=st.integers(0, 10_000), b=st.integers(0, 10_000)
    )
    def test_reordering_is_detected(
        self, tamper_copy: Callable[[], Copy], table: str, a: int, b: int
    ) -> None:
        copy = tamper_copy()
        keys = _keys(copy.db, table)
        ka, kb = keys[a % len(keys)], keys[b % len(keys)]
        assume(ka != kb)
        cols = TABLES[table][1]
        pk = TABLES[table][0]
        select = f"SELECT {', '.join(cols)} FROM {table} WHERE {pk} = ?"
        (ra,), (rb,) = copy.db.rows(select, (ka,)), copy.db.rows(select, (kb,))
        assume(ra != rb)
        insert = f"INSERT INTO {table} ({pk}, {', '.join(cols)}) VALUES (?{', ?' * len(cols)})"
        changed = copy.db.change(
            (f"DELETE FROM {table} WHERE {pk} IN (?, ?)", (ka, kb)),
            (insert, (ka, *rb)),
            (insert, (kb, *ra)),
        )
        assume(changed)
        copy.tampered()

    def test_inserted_leaf_and_entry_are_detected(self, tamper_copy: Callable[[], Copy]) -> None:
        copy = tamper_copy()
        assert copy.db.change(
            (
                "INSERT INTO leaf SELECT idx + 1000, seq, kind, rid || 'x', org, site,"
                " account || 'x', pstart, pend, data FROM leaf WHERE idx = 10",
                (),
            )
        )
        assert "belongs to no entry" in str(copy.tampered().error)
        copy = tamper_copy()
        assert copy.db.change(
            (
                "INSERT INTO tx SELECT seq + 1, entry_hash, ledger_time, type, sender,"
                " nonce, body, signature, first_leaf + n_leaves, 0 FROM tx"
                " ORDER BY seq DESC LIMIT 1",
                (),
            )
        )
        copy.tampered()

    def test_removing_the_last_entry_and_its_leaves_is_detected(
        self, tamper_copy: Callable[[], Copy]
    ) -> None:
        copy = tamper_copy()
        ((seq,),) = copy.db.rows("SELECT MAX(seq) FROM tx")
        assert copy.db.change(
            ("DELETE FROM leaf WHERE seq = ?", (seq,)), ("DELETE FROM tx WHERE seq = ?", (seq,))
        )
        assert "entries were removed" in str(copy.tampered().error)

    def test_first_failure_is_named(self, tamper_copy: Callable[[], Copy]) -> None:
        copy = tamper_copy()
        ((data,),) = copy.db.rows("SELECT data FROM leaf WHERE idx = 20")
        changed = bytes(data).replace(b'"2-location"', b'"3"')
        assert copy.db.change(("UPDATE leaf SET data = ? WHERE idx = 20", (changed,)))
        report = copy.tampered()
        # Leaves 0-5 are the setup's (4 entries), then 13 leaves per entry: leaf 20 is entry 6.
        assert report.entry == 6, report
        assert "items_root" in str(report.error)
