"""Any single change, deletion, insertion or reordering of stored data is detected.

A ledger file is built once; each example copies it, changes one thing with a
plain sqlite3 connection (as an attacker with file access would), and runs
``verify``, which must fail and name where.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import IntegrityError
from tests.ledger_helpers import fill, new_ledger

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
SETTINGS = settings(
    max_examples=int(os.environ.get("TAMPER_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tamper") / "ledger.db"
    ledger = new_ledger(path, KEY, sites=3)
    fill(ledger, KEY, txs=3, per_tx=13)
    fill(ledger, KEY, txs=1, per_tx=40, site="s1")
    assert ledger.verify().ok
    ledger.close()
    return path


def _copy(original: Path, tmp: Path) -> Path:
    target = Path(tempfile.mkdtemp(dir=tmp)) / "copy.db"
    shutil.copy(original, target)
    return target


KEY_EXPRESSIONS = {
    "node": "level || ':' || idx",
    "channel_key": "channel || ':' || epoch || ':' || member || ':' || digest",
}


def _keys(con: sqlite3.Connection, table: str) -> list[object]:
    key = KEY_EXPRESSIONS.get(table, TABLES[table][0])
    return [r[0] for r in con.execute(f"SELECT {key} FROM {table} ORDER BY 1")]


def _where(table: str) -> str:
    return f"{KEY_EXPRESSIONS.get(table, TABLES[table][0])} = ?"


def _mutate_value(value: object, pos: int) -> object:
    if isinstance(value, bytes):
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


def _fails(path: Path) -> str:
    ledger = SqliteLedger(path)
    report = ledger.verify()
    ledger.close()
    assert not report.ok, "tampering was not detected"
    assert report.error
    return report.error


@SETTINGS
@given(
    table=st.sampled_from(sorted(TABLES)),
    row=st.integers(0, 10_000),
    column=st.integers(0, 20),
    pos=st.integers(0, 10_000),
)
def test_any_single_change_is_detected(
    original: Path, tmp_path: Path, table: str, row: int, column: int, pos: int
) -> None:
    path = _copy(original, tmp_path)
    con = sqlite3.connect(path)
    keys = _keys(con, table)
    key = keys[row % len(keys)]
    name = TABLES[table][1][column % len(TABLES[table][1])]
    (value,) = con.execute(f"SELECT {name} FROM {table} WHERE {_where(table)}", (key,)).fetchone()
    try:
        with con:
            con.execute(
                f"UPDATE {table} SET {name} = ? WHERE {_where(table)}",
                (_mutate_value(value, pos), key),
            )
    except sqlite3.IntegrityError:
        assume(False)  # the change would break a key constraint: SQLite itself refuses it
    con.close()
    _fails(path)


@SETTINGS
@given(table=st.sampled_from(sorted(TABLES)), row=st.integers(0, 10_000))
def test_any_deleted_row_is_detected(original: Path, tmp_path: Path, table: str, row: int) -> None:
    path = _copy(original, tmp_path)
    con = sqlite3.connect(path)
    keys = _keys(con, table)
    with con:
        con.execute(f"DELETE FROM {table} WHERE {_where(table)}", (keys[row % len(keys)],))
    con.close()
    _fails(path)


@SETTINGS
@given(table=st.sampled_from(["tx", "leaf"]), a=st.integers(0, 10_000), b=st.integers(0, 10_000))
def test_reordering_is_detected(original: Path, tmp_path: Path, table: str, a: int, b: int) -> None:
    path = _copy(original, tmp_path)
    con = sqlite3.connect(path)
    keys = _keys(con, table)
    ka, kb = keys[a % len(keys)], keys[b % len(keys)]
    assume(ka != kb)
    cols = TABLES[table][1]
    pk = TABLES[table][0]
    ra = con.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE {pk} = ?", (ka,)).fetchone()
    rb = con.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE {pk} = ?", (kb,)).fetchone()
    assume(ra != rb)
    try:
        with con:
            con.execute(f"DELETE FROM {table} WHERE {pk} IN (?, ?)", (ka, kb))
            con.execute(
                f"INSERT INTO {table} ({pk}, {', '.join(cols)}) VALUES"
                f" (?, {', '.join('?' * len(cols))})",
                (ka, *rb),
            )
            con.execute(
                f"INSERT INTO {table} ({pk}, {', '.join(cols)}) VALUES"
                f" (?, {', '.join('?' * len(cols))})",
                (kb, *ra),
            )
    except sqlite3.IntegrityError:
        assume(False)
    con.close()
    _fails(path)


def test_inserted_leaf_and_entry_are_detected(original: Path, tmp_path: Path) -> None:
    path = _copy(original, tmp_path)
    con = sqlite3.connect(path)
    with con:
        con.execute(
            "INSERT INTO leaf SELECT idx + 1000, seq, kind, rid || 'x', org, site,"
            " account || 'x', pstart, pend, data FROM leaf WHERE idx = 10"
        )
    con.close()
    assert "belongs to no entry" in _fails(path)
    path = _copy(original, tmp_path)
    con = sqlite3.connect(path)
    with con:
        con.execute(
            "INSERT INTO tx SELECT seq + 1, entry_hash, ledger_time, type, sender,"
            " nonce, body, signature, first_leaf + n_leaves, 0 FROM tx"
            " ORDER BY seq DESC LIMIT 1"
        )
    con.close()
    _fails(path)


def test_removing_the_last_entry_and_its_leaves_is_detected(original: Path, tmp_path: Path) -> None:
    path = _copy(original, tmp_path)
    con = sqlite3.connect(path)
    with con:
        (seq,) = con.execute("SELECT MAX(seq) FROM tx").fetchone()
        con.execute("DELETE FROM leaf WHERE seq = ?", (seq,))
        con.execute("DELETE FROM tx WHERE seq = ?", (seq,))
    con.close()
    assert "entries were removed" in _fails(path)


def test_first_failure_is_named(original: Path, tmp_path: Path) -> None:
    path = _copy(original, tmp_path)
    con = sqlite3.connect(path)
    with con:
        con.execute(
            "UPDATE leaf SET data = CAST(replace(data, '\"2-location\"', '\"3\"') AS BLOB)"
            " WHERE idx = 20"
        )
    con.close()
    report = SqliteLedger(path).verify()
    assert not report.ok
    assert report.entry == 6  # leaves 0-5 are setup (4 entries); 13 leaves per entry after
    assert "items_root" in str(report.error)


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(IntegrityError, match="damaged or not a ledger"):
        SqliteLedger(path)
