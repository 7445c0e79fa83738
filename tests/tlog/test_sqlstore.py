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
