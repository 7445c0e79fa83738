"""Attacks on history and sealed data that ``verify`` must name, through the CLI.

Each test copies a ledger home, damages it as someone with access to the files
would (plain sqlite3, truncation, a lost WAL, an operator rolling back and
re-signing), and runs ``carbonledger verify``, which must fail naming what broke.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from carbonledger.cli import app
from carbonledger.core.authority import apply
from carbonledger.core.canonical import canonical
from carbonledger.core.checkpoint import log_key, signed_checkpoint_note
from carbonledger.core.merkle import leaf_hash, root_from_leaf_hashes
from carbonledger.core.state import LedgerState
from carbonledger.core.tx import tx_from_parts
from carbonledger.services.home import Home
from tests.cli_helpers import PASS, Run, _clean, _ok


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A demo ledger: records, meter credentials and an audit result with sealed blobs."""
    home = tmp_path_factory.mktemp("tlog") / "demo"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CARBONLEDGER_PASSPHRASE", PASS)
        _ok(CliRunner().invoke(app, ["demo", "--home", str(home)]))
    return home


def _copy(home: Path, tmp_path: Path) -> Path:
    """The home as its files would be after every process closed it (WAL folded in)."""
    con = sqlite3.connect(home / "ledger.db")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    target = tmp_path / "copy"
    shutil.copytree(home, target, ignore=shutil.ignore_patterns("*-wal", "*-shm"))
    return target


def _verify(cli: Run, home: Path, *extra: str) -> dict[str, object]:
    res = cli("verify", "--home", str(home), "--json", *extra)
    assert res.exit_code in (0, 1), (res.stdout, res.stderr)
    report: dict[str, object] = orjson.loads(res.stdout)
    assert report["ok"] == (res.exit_code == 0)
    return report


def _errors(report: dict[str, object]) -> str:
    return " | ".join(str(e["error"]) for e in report["errors"])  # type: ignore[attr-defined]


def _sealed(db: Path, kind: str) -> tuple[str, str]:
    """(item id, blob id) of the first item of ``kind`` that names a sealed blob."""
    con = sqlite3.connect(db)
    try:
        for (data,) in con.execute("SELECT data FROM leaf WHERE kind = ? ORDER BY idx", (kind,)):
            item = orjson.loads(data)
            if isinstance(item.get("sealed"), dict):
                return item["id"], item["sealed"]["blob"]
    finally:
        con.close()
    raise AssertionError(f"the demo has no {kind} with a sealed blob")


def test_the_demo_verifies_with_its_sealed_blobs_counted(cli: Run, demo_home: Path) -> None:
    report = _verify(cli, _copy(demo_home, Path(str(demo_home) + "-ok")))
    assert report["ok"], report
    # the credentials' and the audit result's blobs are among those checked
    assert int(report["blobs"]) >= 2  # type: ignore[call-overload]
    assert report["unreferenced"] == 0


@pytest.mark.parametrize("kind", ["credential", "audit_result"])
def test_a_deleted_sealed_blob_is_named(
    cli: Run, demo_home: Path, tmp_path: Path, kind: str
) -> None:
    home = _copy(demo_home, tmp_path)
    _item_id, blob_id = _sealed(home / "ledger.db", kind)
    with sqlite3.connect(home / "ledger.db") as con:
        con.execute("DELETE FROM blob WHERE id = ?", (blob_id,))
    report = _verify(cli, home)
    assert not report["ok"]
    text = _errors(report)
    assert f"blob {blob_id} is missing" in text, text
    assert kind in text, text


@pytest.mark.parametrize("kind", ["credential", "audit_result"])
def test_an_altered_sealed_blob_is_named(
    cli: Run, demo_home: Path, tmp_path: Path, kind: str
) -> None:
    home = _copy(demo_home, tmp_path)
    _, blob_id = _sealed(home / "ledger.db", kind)
    with sqlite3.connect(home / "ledger.db") as con:
        (data,) = con.execute("SELECT data FROM blob WHERE id = ?", (blob_id,)).fetchone()
        con.execute(
            "UPDATE blob SET data = ? WHERE id = ?", (bytes([data[0] ^ 1]) + data[1:], blob_id)
        )
    res = cli("verify", "--home", str(home))
    _ok(res, 1)
    assert f"blob {blob_id} was altered" in _clean(res.stderr)


def test_two_bad_entries_are_both_named(cli: Run, demo_home: Path, tmp_path: Path) -> None:
    home = _copy(demo_home, tmp_path)
    with sqlite3.connect(home / "ledger.db") as con:
        # one emissions record in each of two different entries: change its result
        rows = con.execute(
            "SELECT idx, seq, data FROM leaf WHERE kind = 'emissions_record' ORDER BY idx"
        ).fetchall()
        first = rows[0]
        second = next(r for r in rows if r[1] != first[1])
        for idx, _, data in (first, second):
            item = orjson.loads(data)
            item["org"] = item["org"]  # same columns, different bytes below
            changed = bytes(data).replace(b'"activity":"', b'"activity":"x', 1)
            assert changed != bytes(data)
            con.execute("UPDATE leaf SET data = ? WHERE idx = ?", (changed, idx))
    report = _verify(cli, home)
    entries = {e["entry"] for e in report["errors"]}  # type: ignore[attr-defined]
    assert {first[1], second[1]} <= entries, report["errors"]


def test_max_errors_stops_the_list(cli: Run, demo_home: Path, tmp_path: Path) -> None:
    home = _copy(demo_home, tmp_path)
    with sqlite3.connect(home / "ledger.db") as con:
        con.execute("UPDATE leaf SET data = CAST(data || ' ' AS BLOB) WHERE kind = 'site'")
        sites = con.execute("SELECT COUNT(*) FROM leaf WHERE kind = 'site'").fetchone()[0]
    assert sites >= 3
    full = _verify(cli, home)
    assert len(full["errors"]) >= sites  # type: ignore[arg-type]
    cut = _verify(cli, home, "--max-errors", "2")
    assert len(cut["errors"]) == 2
    assert cut["truncated"]


def test_unreferenced_blobs_are_reported_and_pruned(
    cli: Run, demo_home: Path, tmp_path: Path
) -> None:
    home = _copy(demo_home, tmp_path)
    import hashlib

    orphan = b"sealed bytes of an import that was killed before its commit"
    orphan_id = hashlib.sha256(orphan).hexdigest()
    with sqlite3.connect(home / "ledger.db") as con:
        con.execute("INSERT INTO blob VALUES (?, 'northwind', 0, ?)", (orphan_id, orphan))
    report = _verify(cli, home)
    assert report["ok"]
    assert report["unreferenced"] == 1
    assert report["unreferenced_blobs"] == [orphan_id]
    listed = _ok(cli("blobs", "prune", "--home", str(home)))
    assert orphan_id in listed.stdout
    assert "--yes" in listed.stdout
    assert _verify(cli, home)["unreferenced"] == 1  # a dry run deletes nothing
    _ok(cli("blobs", "prune", "--yes", "--home", str(home)))
    after = _verify(cli, home)
    assert after["ok"]
    assert after["unreferenced"] == 0


# -- history: truncation, a lost WAL, a rollback ---------------------------------------


@pytest.fixture
def small_home(cli: Run, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    _ok(cli("init", "--home", str(home)))
    for n in range(3):
        _ok(cli("org", "add", f"org{n}", "--name", f"Org {n}", "--home", str(home)))
    return home


def _size(home: Path) -> int:
    con = sqlite3.connect(home / "ledger.db")
    try:
        return int(con.execute("SELECT COUNT(*) FROM leaf").fetchone()[0])
    finally:
        con.close()


def test_a_ledger_file_truncated_to_zero_bytes_does_not_verify(
    cli: Run, small_home: Path, tmp_path: Path
) -> None:
    home = _copy(small_home, tmp_path)
    size = _size(home)
    (home / "ledger.db").write_bytes(b"")
    res = cli("verify", "--home", str(home))
    _ok(res, 1)
    text = _clean(res.stderr)
    assert f"at size {size}" in text, text
    assert "only 0 leaves" in text, text
    # and nothing is written on top of it (that would replace the remembered checkpoint)
    refused = _ok(cli("org", "add", "late", "--name", "Late", "--home", str(home)), 2)
    assert "committed entries were lost" in _clean(refused.stderr)


def test_a_lost_wal_holding_the_last_commit_does_not_verify(
    cli: Run, small_home: Path, tmp_path: Path
) -> None:
    home = _copy(small_home, tmp_path)  # every earlier commit is in the main file
    before = _size(home)
    # Another reader keeps the file open, so the commit below stays in the WAL.
    keeper = sqlite3.connect(home / "ledger.db")
    keeper.execute("SELECT COUNT(*) FROM tx").fetchone()
    try:
        _ok(cli("org", "add", "late", "--name", "Late Ltd", "--home", str(home)))
        assert (home / "ledger.db-wal").stat().st_size > 0
        lost = tmp_path / "lost"
        shutil.copytree(home, lost, ignore=shutil.ignore_patterns("*-wal", "*-shm"))
    finally:
        keeper.close()
    assert _size(lost) == before  # the commit is really gone from the copy
    report = _verify(cli, lost)
    assert not report["ok"]
    assert f"at size {before + 1}" in _errors(report)
    assert f"only {before} leaves" in _errors(report)


def _replay(con: sqlite3.Connection) -> LedgerState:
    state = LedgerState()
    for body, sig, first, count, when in con.execute(
        "SELECT body, signature, first_leaf, n_leaves, ledger_time FROM tx ORDER BY seq"
    ).fetchall():
        items = [
            bytes(d)
            for (d,) in con.execute(
                "SELECT data FROM leaf WHERE idx >= ? AND idx < ? ORDER BY idx",
                (first, first + count),
            )
        ]
        tx = tx_from_parts(bytes(body), items, bytes(sig))
        apply(state, tx.body, [orjson.loads(i) for i in items], now=when)
    return state


def test_dropping_the_last_commits_and_resigning_does_not_verify(
    cli: Run, small_home: Path, tmp_path: Path
) -> None:
    """The operator removes the last two commits, rebuilds the state snapshot and signs a
    note for the shorter tree with the ledger's own key: the remembered checkpoint still
    names the longer history."""
    small_home = _copy(small_home, tmp_path)
    remembered = (small_home / "ledger.db.checkpoint").read_text()
    full = _size(small_home)
    key = Home(small_home).key(PASS)
    with sqlite3.connect(small_home / "ledger.db") as con:
        last_two = [s for (s,) in con.execute("SELECT seq FROM tx ORDER BY seq DESC LIMIT 2")]
        keep = con.execute("SELECT first_leaf FROM tx WHERE seq = ?", (min(last_two),)).fetchone()[
            0
        ]
        con.execute("DELETE FROM tx WHERE seq >= ?", (min(last_two),))
        con.execute("DELETE FROM leaf WHERE idx >= ?", (keep,))
        con.execute("DELETE FROM node WHERE (idx + 1) << level > ?", (keep,))
        con.execute("DELETE FROM checkpoint WHERE size > ?", (keep,))
        state = _replay(con)
        con.execute("UPDATE meta SET value = ? WHERE key = 'state'", (canonical(state.to_json()),))
        datas = [bytes(d) for (d,) in con.execute("SELECT data FROM leaf ORDER BY idx")]
        root = root_from_leaf_hashes([leaf_hash(d) for d in datas])
        note = signed_checkpoint_note(log_key(key, state.ledger_id), keep, root)
        con.execute("UPDATE meta SET value = ? WHERE key = 'note'", (note.encode(),))
    assert (small_home / "ledger.db.checkpoint").read_text() == remembered
    report = _verify(cli, small_home)
    assert not report["ok"]
    text = _errors(report)
    assert f"at size {full}" in text, text
    assert f"only {keep} leaves" in text, text
    # nothing else is wrong with the file: the rollback itself is consistent
    assert len(report["errors"]) == 1  # type: ignore[arg-type]


def test_an_empty_ledger_file_in_a_home_that_created_one_does_not_verify(
    cli: Run, small_home: Path, tmp_path: Path
) -> None:
    """Even with the remembered checkpoint deleted too, the home knows it made a ledger."""
    home = _copy(small_home, tmp_path)
    (home / "ledger.db").write_bytes(b"")
    (home / "ledger.db.checkpoint").unlink()
    res = _ok(cli("verify", "--home", str(home)), 1)
    assert "holds no entries: the file was truncated or replaced" in _clean(res.stderr)
