"""The same account and period recorded by two nodes at the same moment.

Two members of one organisation, each on their own node, record the same bill: each
node checks the record against its store, which does not hold the other's yet, and the
chain takes both (it cannot check periods within its gas). The first in chain order
wins on every node; the later entry is kept in every node's log, void: nothing of it
is recorded, but its signer's nonce is taken, as the chain took it. The node whose
entry lost says so (its import reports the bill rejected, naming the account and the
period, and does not count it), and its signer's next transaction is accepted
everywhere. ``verify`` judges every entry void or not again, names the void one, and
catches an entry stored as void that was no conflict, and a reason for being void
stored (``void:SEQ`` in the store's meta) that is not the one the replay gives. Every
test runs with the nodes' stores in SQLite files and in PostgreSQL databases alike.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from carbonledger.core.domain import Bill
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import RowError
from carbonledger.factors import FactorCatalog
from carbonledger.ports.ledger import ItemQuery
from tests.evm.test_concurrent_nodes import member_nodes


def _bill(month: int, day_end: int) -> Bill:
    """1,000 kWh at acme-chi's meter 1 for one month of 2023."""
    return Bill(
        "acme-chi",
        "meter-1",
        date(2023, month, 1),
        date(2023, month, day_end),
        Decimal(1000),
        "kWh",
    )


@dataclass
class Race:
    """Three nodes of one chain after the race: ``first`` won it, ``second`` lost it."""

    first: Any
    second: Any
    third: Any
    world: Any
    carol: PrivateKey
    lost: RowError
    void_entry: int
    #: The third node's store and its key's address (to open it again after an edit).
    third_store: str | Path
    third_signer: str


def _stores(kind: str, tmp_path: Path) -> Iterator[tuple[str | Path, str | Path]]:
    """The second and the third node's stores: files under ``tmp_path``, or two fresh
    PostgreSQL databases."""
    if kind == "sqlite":
        (tmp_path / "third").mkdir()  # the second's folder is made with its node
        yield tmp_path / "second" / "offchain.db", tmp_path / "third" / "offchain.db"
        return
    from tests.conformance.pg import fresh_database, server_url

    url = server_url()
    second, third = fresh_database(url), fresh_database(url)
    try:
        yield next(second), next(third)
    finally:
        third.close()
        second.close()


def _edit(store: str | Path, sql: str, *params: Any) -> None:
    """Change a node's store behind its back: ``sql`` (``?`` placeholders) on the raw
    SQLite file or the PostgreSQL database, as anyone holding it can."""
    if isinstance(store, Path):
        conn = sqlite3.connect(store)
        with conn:
            conn.execute(sql, params)
        conn.close()
        return
    import psycopg

    from tests.conformance.pg import admin_params

    with psycopg.connect(**admin_params(store)) as conn:  # type: ignore[arg-type]
        conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]


def _reopen(race: Race) -> Any:
    """The third node again, on its store as it now is."""
    from carbonledger.adapters.evm import EvmLedger

    return EvmLedger(
        race.first.rpc.url,  # its own client: closing a node closes its client
        race.first.address,
        race.third_store,
        deploy_block=race.first.deploy_block,
        checkpoint_signer=race.third_signer,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def race(anvil_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Race]:
    from carbonledger.adapters.evm import EvmLedger
    from carbonledger.adapters.evm.exchange import StoreBlobs
    from carbonledger.services.importer import ImportSession, import_bills

    stores = _stores(request.param, tmp_path)
    second_store, third_store = next(stores)
    w, carol, first, second = member_nodes(anvil_url, tmp_path, second_store)
    third = None
    catalog = FactorCatalog()
    january = _bill(1, 31)
    try:
        entries = len(first.chain_entries())
        late = ImportSession(second, carol, catalog, store=second.channels)
        late.add([january])  # checked against the second node's store: not recorded yet
        start = second._start
        mined: list[Any] = []

        def first_mined_meanwhile(*args: Any, **kwargs: Any) -> Any:
            # The second node has read the chain and will check carol's record against
            # what it read; before it takes the time of its entry (so its block comes
            # after), the first node's import of the same bill is mined.
            if not mined:
                mined.append(import_bills(first, w.alice, catalog, [january], store=w.store))
            return start(*args, **kwargs)

        second._start = first_mined_meanwhile
        try:
            report = late.finish()
        finally:
            late.out.close()
            del second._start
        assert mined[0].recorded == 1
        assert (report.rows, report.recorded, report.kg_co2e, report.record_ids) == (1, 0, 0, [])
        (lost,) = report.rejected
        # The chain took both: alice's entry, then carol's (its basis and record).
        assert len(first.chain_entries()) == entries + 2
        third_key = PrivateKey.generate()  # a node attached after the race
        third = EvmLedger(
            first.rpc.url,
            first.address,
            third_store,
            third_key,
            deploy_block=first.deploy_block,
            checkpoint_signer=third_key.address,
        )
        third.exchange = StoreBlobs(second.channels)
        yield Race(
            first,
            second,
            third,
            w,
            carol,
            lost,
            entries + 2,
            third_store,
            third_key.address,
        )
    finally:
        for node in (third, second, first):
            if node is not None:
                node.close()
        stores.close()


def test_the_first_in_chain_order_wins_on_every_node(race: Race) -> None:
    # The losing node names the account (its reference, as the ledger holds it) and the
    # period; nothing was counted recorded.
    assert race.lost.field == "period"
    message = race.lost.reason
    assert message.startswith("recorded first by another writer, not recorded: ")
    assert f"account acme-chi/{_bill(1, 31).account_ref}, period 2023-01-01..2023-01-31" in message
    for ledger in (race.first, race.second, race.third):
        ledger.sync()  # each follows past the void entry
        records = list(ledger.items(ItemQuery(kind="emissions_record", site="acme-chi")))
        assert len(records) == 1  # January, once: alice's entry, the earlier one
        assert records[0].seq < race.void_entry
        assert records[0].item["period"] == {"start": "2023-01-01", "end": "2023-01-31"}
        assert ledger.mirror.voids().keys() == {race.void_entry}
        report = ledger.verify()
        assert report.ok, report.error
        assert any(
            note.startswith(f"entry {race.void_entry} is void: ")
            and f"account acme-chi/{_bill(1, 31).account_ref}, period 2023-01-01..2023-01-31"
            in note
            for note in report.notes
        ), report.notes


def test_the_losing_signer_writes_on_everywhere(race: Race) -> None:
    from carbonledger.services.importer import import_bills

    # Carol's nonce was taken by the void entry on every node: her next one follows it.
    nodes = (race.first, race.second, race.third)
    for ledger in nodes:
        ledger.sync()
    nonces = {ledger.state().next_nonce(race.carol.address) for ledger in nodes}
    assert len(nonces) == 1
    (nonce,) = nonces
    february = import_bills(
        race.second, race.carol, FactorCatalog(), [_bill(2, 28)], store=race.second.channels
    )
    assert february.recorded == 1
    for ledger in nodes:
        ledger.sync()
        periods = sorted(
            r.item["period"]["start"]
            for r in ledger.items(ItemQuery(kind="emissions_record", site="acme-chi"))
        )
        assert periods == ["2023-01-01", "2023-02-01"]
        assert ledger.state().next_nonce(race.carol.address) == nonce + 1
        report = ledger.verify()
        assert report.ok, report.error


def test_an_entry_forged_void_in_the_store_is_caught(race: Race) -> None:
    race.third.sync()
    winner = race.void_entry - 1  # alice's entry: no conflict, a record like any other
    race.third.close()
    _edit(
        race.third_store,
        "UPDATE leaf SET kind = 'void', rid = NULL, org = NULL, site = NULL,"
        " account = NULL, pstart = NULL, pend = NULL WHERE seq = ?",
        winner,
    )
    reopened = _reopen(race)  # the third node again, its store edited
    try:
        report = reopened.verify()
        assert not report.ok
        assert (
            f"entry {winner}: its leaves are stored as void, but no earlier entry recorded"
            in str(report.error)
        ), report.error
    finally:
        reopened.close()


def _reason(race: Race) -> str:
    """Why the void entry is void, as every node derives it (the winner's account and
    period, as in the losing node's error)."""
    return race.first.mirror.voids()[race.void_entry]


def test_a_void_entry_whose_stored_reason_was_edited_is_named(race: Race) -> None:
    race.third.sync()
    race.first.sync()
    derived = _reason(race)
    race.third.close()
    forged = derived.replace("2023-01-01..2023-01-31", "2023-03-01..2023-03-31")
    assert forged != derived
    _edit(
        race.third_store,
        "UPDATE meta SET value = ? WHERE key = ?",
        forged.encode(),
        f"void:{race.void_entry}",
    )
    reopened = _reopen(race)
    try:
        assert reopened.mirror.voids() == {race.void_entry: forged}  # listed as stored
        report = reopened.verify()
        assert not report.ok
        assert report.entry == race.void_entry
        assert f"entry {race.void_entry} is void ({derived})" in str(report.error)
        assert f"its stored reason differs: {forged!r}" in str(report.error), report.error
    finally:
        reopened.close()


def test_a_void_entry_whose_stored_reason_was_removed_is_named(race: Race) -> None:
    race.third.sync()
    race.third.close()
    _edit(race.third_store, "DELETE FROM meta WHERE key = ?", f"void:{race.void_entry}")
    reopened = _reopen(race)
    try:
        report = reopened.verify()
        assert not report.ok
        assert report.entry == race.void_entry
        assert f"entry {race.void_entry} is void (" in str(report.error)
        assert "but no reason is stored for it" in str(report.error), report.error
    finally:
        reopened.close()


@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_reason_stored_for_an_entry_that_is_not_void_is_named(
    race: Race, workers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a worker process (a SQLite file) or in one: the check must not be skipped.
    monkeypatch.setenv("CARBONLEDGER_VERIFY_WORKERS", workers)
    race.third.sync()
    winner = race.void_entry - 1
    race.third.close()
    _edit(
        race.third_store,
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        f"void:{winner}",
        b"the account was recorded first by another entry",
    )
    reopened = _reopen(race)
    try:
        report = reopened.verify()
        assert not report.ok
        assert report.entry == winner
        assert (
            f"entry {winner}: a reason for being void is stored for it"
            " (the account was recorded first by another entry), but it is not void"
        ) in str(report.error), report.error
    finally:
        reopened.close()
