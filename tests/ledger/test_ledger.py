"""The embedded ledger: rules, atomic batches, persistence, proofs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.core.merkle import leaf_hash, root_from_leaf_hashes
from carbonledger.core.proofdoc import check_proof
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import (
    Conflict,
    IntegrityError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SignatureInvalid,
)
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.records import find_item
from tests.ledger_helpers import fill, new_ledger, record, tx


def test_records_are_appended_and_verify(ledger_path: Path, admin: PrivateKey) -> None:
    ledger = new_ledger(ledger_path, admin)
    receipts = ledger.submit([tx(admin, "record_emissions", 4, [record("s0", 1), record("s1", 1)])])
    assert (receipts[0].seq, receipts[0].first_leaf, receipts[0].count) == (5, 5, 2)
    report = ledger.verify()
    assert report.ok, report.error
    assert (report.entries, report.leaves, report.checkpoints) == (5, 7, 5)
    # The root is the RFC 6962 root of every stored item, recomputed here independently.
    con = sqlite3.connect(ledger_path)
    datas = [bytes(d) for (d,) in con.execute("SELECT data FROM leaf ORDER BY idx")]
    assert report.root == root_from_leaf_hashes([leaf_hash(d) for d in datas]).hex()


def test_replayed_transaction_is_rejected_and_changes_nothing(
    ledger_path: Path, admin: PrivateKey
) -> None:
    ledger = new_ledger(ledger_path, admin)
    t = tx(admin, "record_emissions", 4, [record("s0", 1)])
    ledger.submit([t])
    with pytest.raises(Conflict, match=r"nonce 4 .* expected 5"):
        ledger.submit([t])
    assert ledger.state().size == 6


def test_non_admin_cannot_write(ledger_path: Path, admin: PrivateKey) -> None:
    ledger = new_ledger(ledger_path, admin)
    intruder = PrivateKey.generate()
    with pytest.raises(PermissionDenied, match="not an enrolled identity"):
        ledger.submit([tx(intruder, "record_emissions", 0, [record("s0", 1)])])


def test_forged_signature_is_rejected(ledger_path: Path, admin: PrivateKey) -> None:
    ledger = new_ledger(ledger_path, admin)
    t = tx(admin, "record_emissions", 4, [record("s0", 1)])
    other = tx(PrivateKey.generate(), "record_emissions", 4, [record("s0", 1)])
    forged = type(t)(t.body, t.body_bytes, t.items, t.item_hashes, other.signature)
    with pytest.raises(SignatureInvalid):
        ledger.submit([forged])


def test_batch_is_atomic(ledger_path: Path, admin: PrivateKey) -> None:
    ledger = new_ledger(ledger_path, admin)
    good = tx(admin, "record_emissions", 4, [record("s0", 1)])
    bad = tx(admin, "record_emissions", 5, [record("nowhere", 1)])
    with pytest.raises(NotFound, match="site 'nowhere' is not registered"):
        ledger.submit([good, bad])
    assert ledger.state().size == 5
    assert list(ledger.items(ItemQuery(kind="emissions_record"))) == []
    ledger.submit([good])  # the same nonce is still free
    assert ledger.verify().ok


def test_same_account_and_period_cannot_be_recorded_twice(
    ledger_path: Path, admin: PrivateKey
) -> None:
    ledger = new_ledger(ledger_path, admin)
    ledger.submit([tx(admin, "record_emissions", 4, [record("s0", 1)])])
    with pytest.raises(Conflict, match="already recorded"):
        ledger.submit([tx(admin, "record_emissions", 5, [record("s0", 1, kwh=5)])])
    assert ledger.verify().ok
    assert ledger.state().next_nonce(admin.address) == 5


def test_record_for_another_orgs_site_is_rejected(ledger_path: Path, admin: PrivateKey) -> None:
    ledger = new_ledger(ledger_path, admin)
    with pytest.raises(PermissionDenied, match="belongs to 'acme'"):
        ledger.submit([tx(admin, "record_emissions", 4, [record("s0", 1, org="other")])])


def test_empty_and_unknown_transactions(admin: PrivateKey) -> None:
    with pytest.raises(InvalidInput, match="at least one item"):
        tx(admin, "record_emissions", 0, [])


def test_state_survives_reopen(ledger_path: Path, admin: PrivateKey) -> None:
    ledger = new_ledger(ledger_path, admin)
    fill(ledger, admin, txs=3, per_tx=37)
    root = ledger.latest_checkpoint().root
    ledger.close()
    again = SqliteLedger(ledger_path, operator=admin)
    assert again.latest_checkpoint().root == root
    assert again.state().next_nonce(admin.address) == 7
    fill(again, admin, txs=2, per_tx=50, site="s1")
    report = again.verify()
    assert report.ok, report.error
    assert report.leaves == 5 + 3 * 37 + 100


def test_reader_without_key_cannot_write(ledger_path: Path, admin: PrivateKey) -> None:
    new_ledger(ledger_path, admin).close()
    reader = SqliteLedger(ledger_path)
    with pytest.raises(Conflict, match="admin's key"):
        reader.submit([tx(admin, "record_emissions", 4, [record("s0", 1)])])
    assert reader.verify().ok


@pytest.mark.parametrize("index", [0, 3, 5, 50, 99, 104])
def test_proofs_check_offline(ledger_path: Path, admin: PrivateKey, index: int) -> None:
    ledger = new_ledger(ledger_path, admin)
    fill(ledger, admin, txs=4, per_tx=25)
    doc = ledger.proof(index).document()
    item = check_proof(doc, expect_signer=admin.address)
    assert item == ledger.items(ItemQuery(offset=index, limit=1)).__next__().item
    with pytest.raises(IntegrityError, match="expected"):
        check_proof(doc, expect_signer=PrivateKey.generate().address)
    tampered = dict(doc, item=doc["item"].replace('"kind"', '"kinD"'))
    with pytest.raises(IntegrityError, match="does not lead to the checkpoint root"):
        check_proof(tampered)
    moved = dict(doc, leaf_index=(index + 1) % 105)
    with pytest.raises(IntegrityError):
        check_proof(moved)


def test_proof_of_missing_leaf(ledger_path: Path, admin: PrivateKey) -> None:
    ledger = new_ledger(ledger_path, admin)
    with pytest.raises(NotFound, match="leaf 99"):
        ledger.proof(99)
    with pytest.raises(NotFound, match="no record"):
        find_item(ledger, "nope")
