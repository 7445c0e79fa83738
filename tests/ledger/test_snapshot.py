"""The embedded ledger's state snapshot is written now and then, not with every commit.

Between two snapshots the entries after the last one (the tail) are replayed through
the core's rules when the file is opened or another process's commits are taken in.
These tests attack that from outside, on a real file: a writer killed between
snapshots, the snapshot edited, removed or swapped in the raw file, the tail cut
off. Nothing committed may be lost or counted twice, and ``verify`` compares the
snapshot with the state the entries produce at the size the snapshot names.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import pytest

from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.core.authority import apply
from carbonledger.core.canonical import canonical
from carbonledger.core.state import LedgerState
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import Conflict, IntegrityError
from tests.ledger_helpers import new_ledger, record, tx

KEY = PrivateKey.from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
#: Enough sites that the snapshot is tens of kilobytes: committing a record at a time,
#: several commits pass before the next snapshot is written.
SITES = 300


def _raw(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as con, con:
        return con.execute(sql, params).fetchall()


def _snapshot_size(path: Path) -> int:
    (snap,) = _raw(path, "SELECT value FROM meta WHERE key = 'state'")[0]
    return int(orjson.loads(snap)["size"])


def _leaves(path: Path) -> int:
    return int(_raw(path, "SELECT COUNT(*) FROM leaf")[0][0])


def _state_at(path: Path, size: int) -> LedgerState:
    """The state the stored entries produce up to ``size`` leaves, replayed here."""
    state = LedgerState()
    rows = _raw(path, "SELECT body, first_leaf, n_leaves, ledger_time FROM tx ORDER BY seq")
    for body, first, count, when in rows:
        if first >= size:
            break
        items = [
            orjson.loads(d)
            for (d,) in _raw(
                path,
                "SELECT data FROM leaf WHERE idx >= ? AND idx < ? ORDER BY idx",
                (first, first + count),
            )
        ]
        apply(state, orjson.loads(body), items, now=when)
    assert state.size == size, "the size is not where an entry ends"
    return state


def _record_one(ledger: SqliteLedger, month: int, site: str = "s1") -> None:
    nonce = ledger.state().next_nonce(KEY.address)
    ledger.submit([tx(KEY, "record_emissions", nonce, [record(site, month, year=2001)])])


@pytest.fixture
def behind(tmp_path: Path) -> Path:
    """A closed ledger whose snapshot is several single-record commits behind its head."""
    path = tmp_path / "ledger.db"
    ledger = new_ledger(path, KEY, sites=SITES)
    for month in range(1, 13):
        _record_one(ledger, month)
    ledger.close()
    # The precondition of every test here: commits after the last snapshot.
    assert _snapshot_size(path) < _leaves(path)
    return path


def test_commits_after_the_snapshot_are_replayed_on_opening(behind: Path) -> None:
    expected = _state_at(behind, _leaves(behind))
    ledger = SqliteLedger(behind, operator=KEY)
    try:
        assert canonical(ledger.state().to_json()) == canonical(expected.to_json())
        # each record of the tail is known: recording one again is refused...
        nonce = ledger.state().next_nonce(KEY.address)
        with pytest.raises(Conflict, match="already recorded"):
            ledger.submit([tx(KEY, "record_emissions", nonce, [record("s1", 12, year=2001)])])
        # ...and the next nonce follows the last entry's (none is reused or skipped)
        _record_one(ledger, 13)
        report = ledger.verify()
        assert report.ok, report.error
    finally:
        ledger.close()
    records = _raw(behind, "SELECT COUNT(*), COUNT(DISTINCT rid) FROM leaf WHERE kind = ?",
                   ("emissions_record",))  # fmt: skip
    assert records == [(13, 13)]


@pytest.mark.parametrize("workers", ["0", "1"])
def test_verify_compares_the_snapshot_at_the_size_it_names(
    behind: Path, workers: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CARBONLEDGER_VERIFY_WORKERS", workers)
    with (
        caplog.at_level(logging.DEBUG, "carbonledger.verify"),
        closing(SqliteLedger(behind)) as led,
    ):
        report = led.verify()
    assert report.ok, report.error
    if workers == "1":  # the two-process pass accepted it, not only the one-process one
        assert "every check held, with a worker process" in caplog.text


@pytest.mark.parametrize("workers", ["0", "1"])
def test_an_edited_snapshot_is_named_by_verify(
    behind: Path, workers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator drops a site from the snapshot (so it could be registered again by
    another organisation), written back as valid canonical JSON."""
    monkeypatch.setenv("CARBONLEDGER_VERIFY_WORKERS", workers)
    (snap,) = _raw(behind, "SELECT value FROM meta WHERE key = 'state'")[0]
    data = orjson.loads(snap)
    del data["sites"]["s7"]
    _raw(behind, "UPDATE meta SET value = ? WHERE key = 'state'", (canonical(data),))
    with closing(SqliteLedger(behind)) as ledger:
        report = ledger.verify()
    assert not report.ok
    assert "state snapshot" in (report.error or ""), report.error


def test_an_older_true_snapshot_is_as_good(behind: Path) -> None:
    """A snapshot is a cache of the state at its size: an older one that is true (a file
    written before this version kept one at every commit, and one at the head is the
    same case) opens to the same state and verifies."""
    head = _leaves(behind)
    expected = canonical(_state_at(behind, head).to_json())
    at = _snapshot_size(behind)
    (before,) = _raw(behind, "SELECT first_leaf FROM tx WHERE first_leaf + n_leaves = ?", (at,))[0]
    for size in (before, head):  # where the entry before the snapshot's ends, and the head
        older = canonical(_state_at(behind, size).to_json())
        _raw(behind, "UPDATE meta SET value = ? WHERE key = 'state'", (older,))
        with closing(SqliteLedger(behind, operator=KEY)) as ledger:
            assert canonical(ledger.state().to_json()) == expected
            report = ledger.verify()
            assert report.ok, report.error


def _set_size(path: Path, size: int) -> None:
    (snap,) = _raw(path, "SELECT value FROM meta WHERE key = 'state'")[0]
    data = {**orjson.loads(snap), "size": size}
    _raw(path, "UPDATE meta SET value = ? WHERE key = 'state'", (canonical(data),))


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda p: _raw(p, "DELETE FROM meta WHERE key = 'state'"), "state snapshot is missing"),
        # a size no entry ends at (genesis and the organisation take leaves 0 and 1, the
        # sites 2..301: 3 is inside the sites' entry)
        (lambda p: _set_size(p, 3), "3 leaves"),
        (lambda p: _set_size(p, 100_000), "100000 leaves"),  # beyond the ledger's last leaf
    ],
)
def test_a_removed_or_misplaced_snapshot_is_refused_and_named(
    behind: Path, edit: Any, named: str
) -> None:
    edit(behind)
    with closing(SqliteLedger(behind, operator=KEY)) as ledger:
        with pytest.raises(IntegrityError, match=named):
            ledger.state()  # nothing is written on a state it cannot trust
        report = ledger.verify()
    assert not report.ok
    assert "state snapshot" in (report.error or ""), report.error


def test_cutting_the_tail_off_is_detected(behind: Path) -> None:
    """The entries after the snapshot are removed, with their leaves, nodes and
    checkpoints: what is left is a consistent shorter ledger, but the file is known to
    have held more (the remembered checkpoint), and the snapshot names no entry's end."""
    keep = _snapshot_size(behind)
    _raw(behind, "DELETE FROM leaf WHERE idx >= ?", (keep,))
    _raw(behind, "DELETE FROM tx WHERE first_leaf >= ?", (keep,))
    _raw(behind, "DELETE FROM node WHERE (idx + 1) << level > ?", (keep,))
    _raw(behind, "DELETE FROM checkpoint WHERE size > ?", (keep,))
    with closing(SqliteLedger(behind, operator=KEY)) as ledger:
        with pytest.raises(IntegrityError):
            ledger.state()
        report = ledger.verify()
    assert not report.ok
    assert f"only {keep} leaves" in " ".join(str(e["error"]) for e in report.errors)


def test_a_tail_entry_that_breaks_a_rule_refuses_opening(behind: Path) -> None:
    """An entry after the snapshot whose nonce was edited (body and column) does not
    apply: the ledger refuses to write rather than skip it, and verify names it."""
    (seq, body) = _raw(behind, "SELECT seq, body FROM tx ORDER BY seq DESC LIMIT 1")[0]
    edited = orjson.loads(body)
    edited["nonce"] += 5
    _raw(behind, "UPDATE tx SET body = ?, nonce = ? WHERE seq = ?",
         (orjson.dumps(edited), edited["nonce"], seq))  # fmt: skip
    with closing(SqliteLedger(behind, operator=KEY)) as ledger:
        with pytest.raises(IntegrityError, match=f"entry {seq}"):
            ledger.state()
        report = ledger.verify()
    assert not report.ok


def test_another_handles_commits_between_snapshots_are_taken_in(behind: Path) -> None:
    """Two handles on one file (as two processes): each takes in the other's commits,
    made between snapshots, exactly once."""
    first = SqliteLedger(behind, operator=KEY)
    second = SqliteLedger(behind, operator=KEY)
    try:
        before = first.reloads
        for month in range(13, 16):
            _record_one(second, month)
        assert _snapshot_size(behind) < _leaves(behind)
        state = first.state()
        assert first.reloads == before + 1
        assert canonical(state.to_json()) == canonical(_state_at(behind, _leaves(behind)).to_json())
        _record_one(first, 16)  # the nonce the other handle's commits left
        assert second.state().size == first.state().size == _leaves(behind)
        reader = [r.item["id"] for r in second.items(_records_of("s1"))]
        assert len(reader) == len(set(reader)) == 16
    finally:
        first.close()
        second.close()


def _records_of(site: str) -> Any:
    from carbonledger.ports.ledger import ItemQuery

    return ItemQuery(kind="emissions_record", site=site)


_WRITER = textwrap.dedent(
    """
    import sys
    from carbonledger.adapters.sqlite.ledger import SqliteLedger
    from tests.ledger_helpers import record, tx
    from tests.ledger.test_snapshot import KEY

    ledger = SqliteLedger(sys.argv[1], operator=KEY)
    month = 100
    while True:  # one record a commit, until killed
        nonce = ledger.state().next_nonce(KEY.address)
        ledger.submit([tx(KEY, "record_emissions", nonce, [record("s2", month, year=1900)])])
        month += 1
    """
)


@pytest.mark.slow
def test_a_writer_killed_between_snapshots_loses_nothing(behind: Path) -> None:
    start = _leaves(behind)
    errors = behind.with_name("writer.err")
    with errors.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(behind)],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 120
        # killed once it has committed some records and is between two snapshots
        while time.monotonic() < deadline:
            assert proc.poll() is None, errors.read_text()
            leaves = _leaves(behind)
            if leaves >= start + 20 and _snapshot_size(behind) < leaves:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    committed = _raw(behind, "SELECT data FROM leaf WHERE idx >= ? ORDER BY idx", (start,))
    months = [orjson.loads(d)["id"] for (d,) in committed]
    assert len(months) >= 20
    with closing(SqliteLedger(behind, operator=KEY)) as ledger:
        state = ledger.state()
        assert state.size == _leaves(behind)
        # every record the killed writer committed is known, none twice: each is refused
        nonce = state.next_nonce(KEY.address)
        for n in range(len(months)):
            with pytest.raises(Conflict, match="already recorded"):
                ledger.submit([tx(KEY, "record_emissions", nonce, [record("s2", 100 + n,
                                                                        year=1900)])])  # fmt: skip
        # ...and the next one commits with the next nonce
        ledger.submit([tx(KEY, "record_emissions", nonce,
                          [record("s2", 100 + len(months), year=1900)])])  # fmt: skip
        report = ledger.verify()
        assert report.ok, report.error


def test_the_commit_benchmark_prints_a_line_per_ledger_size() -> None:
    """``benchmarks/commits.py`` (the README's table of benchmarks) runs, small."""
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "commits.py"
    done = subprocess.run(
        [sys.executable, str(script), "--accounts", "10,1200", "--commits", "2"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["10", "1,200"]
    assert lines[0].endswith("1.00x")
