"""verify on the SQLAlchemy store (SQLite and PostgreSQL) names every bad entry, and its
commits carry the checkpoint as a signed note like the embedded ledger's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from carbonledger.adapters.sqlstore import SqlLedger
from carbonledger.core.note import Verifier, parse_checkpoint, parse_note, verify_note
from carbonledger.crypto.keys import PrivateKey
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import ItemQuery, LedgerPort
from tests.conformance.world import build_world


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        from tests.conformance.pg import fresh_database, server_url

        yield from fresh_database(server_url())


def test_two_bad_entries_are_both_named_and_notes_are_kept(url: str, tmp_path: Path) -> None:
    def backend(key: PrivateKey, path: Path) -> tuple[LedgerPort, ChannelStore]:
        ledger = SqlLedger(url, operator=key)
        return ledger, ledger.channels

    world = build_world(backend, tmp_path)
    ledger = world.ledger
    assert isinstance(ledger, SqlLedger)
    report = ledger.verify()
    assert report.ok, report.errors
    with ledger.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT key, value FROM meta")).all())
    note = parse_note(bytes(rows["note"]))
    verify_note(note, [Verifier.from_vkey(bytes(rows["log_vkey"]).decode())])
    assert parse_checkpoint(note.text).size == report.leaves
    items = list(ledger.items(ItemQuery()))
    seqs: dict[int, int] = {}
    for item in items:
        if item.item.get("kind") in ("site", "organisation"):
            seqs.setdefault(item.seq, item.leaf_index)
    assert len(seqs) >= 2, "the world has sites and organisations in separate entries"
    targets = list(seqs.items())[:2]
    with ledger.engine.begin() as conn:
        for _, idx in targets:
            conn.execute(
                text("UPDATE leaf SET data = :d WHERE idx = :i"),
                {"d": items[idx].data + b" ", "i": idx},
            )
    report = ledger.verify()
    assert not report.ok
    named = {e["entry"] for e in report.errors}
    assert {seq for seq, _ in targets} <= named, report.errors
    assert ledger.verify(max_errors=1).truncated
    ledger.close()


def test_commits_after_the_snapshot_are_replayed_and_an_edited_snapshot_is_named(
    url: str,
) -> None:
    """The store writes its state snapshot now and then: reopened between two, it
    replays the entries after it (nothing lost, no record counted twice); the snapshot
    edited is named by verify."""
    import orjson

    from carbonledger.core.canonical import canonical
    from carbonledger.errors import Conflict
    from tests.ledger_helpers import record, setup, tx

    key = PrivateKey.from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
    ledger = SqlLedger(url, operator=key)
    setup(ledger, key, sites=300)  # a snapshot of tens of kilobytes
    for month in range(1, 9):  # a record a commit
        nonce = ledger.state().next_nonce(key.address)
        ledger.submit([tx(key, "record_emissions", nonce, [record("s1", month)])])
    expected = canonical(ledger.state().to_json())
    ledger.engine.dispose()
    again = SqlLedger(url, operator=key)
    with again.engine.connect() as conn:
        snap = conn.execute(text("SELECT value FROM meta WHERE key = 'state'")).scalar_one()
        leaves = conn.execute(text("SELECT COUNT(*) FROM leaf")).scalar_one()
    assert orjson.loads(snap)["size"] < leaves  # entries after the snapshot
    assert canonical(again.state().to_json()) == expected
    nonce = again.state().next_nonce(key.address)
    with pytest.raises(Conflict, match="already recorded"):
        again.submit([tx(key, "record_emissions", nonce, [record("s1", 8)])])
    again.submit([tx(key, "record_emissions", nonce, [record("s1", 9)])])
    report = again.verify()
    assert report.ok, report.error
    data = orjson.loads(snap)
    del data["sites"]["s7"]
    with again.engine.begin() as conn:
        conn.execute(text("UPDATE meta SET value = :v WHERE key = 'state'"), {"v": canonical(data)})
    report = again.verify()
    assert not report.ok
    assert "state snapshot" in (report.error or ""), report.error
    again.engine.dispose()
