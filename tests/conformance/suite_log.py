"""The ledger log through the port: appends, records, persistence, proofs (every backend).

Part of :class:`tests.conformance.suite.LedgerConformance`. Records here are signed
items sent straight to the ledger, past every service (the builders of
``tests/ledger_helpers.py``), so what is checked is the backend and the core's rules.
"""

from __future__ import annotations

from typing import Any

import pytest

from carbonledger.core.merkle import leaf_hash, root_from_leaf_hashes
from carbonledger.core.proofdoc import check_proof
from carbonledger.core.tx import SignedTx
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError, Conflict, IntegrityError, NotFound
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.records import find_item
from tests.conformance.world import LEDGER_ID, World, reopen
from tests.ledger_helpers import BASIS_ITEM, record, tx

SITE = "acme-chi"


def _signed(w: World, items: list[dict[str, Any]], nonce: int | None = None) -> SignedTx:
    """Alice (a member of acme) records ``items``."""
    if nonce is None:
        nonce = w.ledger.state().next_nonce(w.alice.address)
    return tx(w.alice, "record_emissions", nonce, items, ledger_id=LEDGER_ID)


def _with_basis(w: World) -> None:
    w.ledger.submit([_signed(w, [BASIS_ITEM])])


def _months(w: World, months: range, *, per_tx: int = 1) -> None:
    """Records of ``months`` (one each), ``per_tx`` to a transaction, in one batch."""
    nonce = w.ledger.state().next_nonce(w.alice.address)
    items = [record(SITE, m, year=2000) for m in months]
    batch = [
        _signed(w, items[i : i + per_tx], nonce + n)
        for n, i in enumerate(range(0, len(items), per_tx))
    ]
    w.ledger.submit(batch)


class LogConformance:
    """Mixed into :class:`~tests.conformance.suite.LedgerConformance` (its ``w`` fixture)."""

    def test_records_are_appended_and_the_root_is_rfc6962(self, w: World) -> None:
        _with_basis(w)
        before = w.ledger.verify()
        receipts = w.ledger.submit([_signed(w, [record(SITE, 1), record(SITE, 2)])])
        # The new entry follows the last one (entries count from 1, leaves from 0) and
        # holds the two items, after every leaf.
        assert (receipts[0].seq, receipts[0].first_leaf, receipts[0].count) == (
            before.entries + 1,
            before.leaves,
            2,
        )
        report = w.ledger.verify()
        assert report.ok, report.error
        assert (report.entries, report.leaves) == (before.entries + 1, before.leaves + 2)
        assert report.checkpoints == before.checkpoints + 1  # one signed checkpoint a batch
        # The root is the RFC 6962 root of every stored item, recomputed here independently.
        datas = [s.data for s in w.ledger.items(ItemQuery())]
        assert len(datas) == report.leaves
        assert report.root == root_from_leaf_hashes([leaf_hash(d) for d in datas]).hex()

    def test_same_account_and_period_cannot_be_recorded_twice(self, w: World) -> None:
        _with_basis(w)
        w.ledger.submit([_signed(w, [record(SITE, 1)])])
        nonce = w.ledger.state().next_nonce(w.alice.address)
        with pytest.raises(Conflict, match="already recorded"):
            w.ledger.submit([_signed(w, [record(SITE, 1, kwh=5)])])
        assert w.ledger.state().next_nonce(w.alice.address) == nonce  # nothing was taken
        report = w.ledger.verify()
        assert report.ok, report.error

    def test_state_survives_reopen(self, w: World) -> None:
        _with_basis(w)
        _months(w, range(1, 112), per_tx=37)  # 3 transactions of 37 records
        size, nonce = w.ledger.state().size, w.ledger.state().next_nonce(w.alice.address)
        state = w.ledger.state().to_json()
        w.ledger = again = reopen(w.ledger, w.admin)
        assert again.state().to_json() == state  # the state is the entries' replay
        assert (again.state().size, again.state().next_nonce(w.alice.address)) == (size, nonce)
        _months(w, range(112, 212), per_tx=50)
        report = again.verify()
        assert report.ok, report.error
        assert report.leaves == size + 100

    def test_a_reader_without_the_operator_key_cannot_write(self, w: World) -> None:
        _with_basis(w)
        size = w.ledger.state().size
        w.ledger = reader = reopen(w.ledger, None)
        with pytest.raises(CarbonLedgerError):
            reader.submit([_signed(w, [record(SITE, 1)])])
        assert reader.state().size == size
        report = reader.verify()
        assert report.ok, report.error

    @pytest.mark.parametrize("offset", [0, 3, 40, 99])
    def test_proofs_check_offline(self, w: World, offset: int) -> None:
        _with_basis(w)
        first = w.ledger.state().size
        _months(w, range(1, 101), per_tx=25)
        index = first + offset
        doc = w.ledger.proof(index).document()
        item = check_proof(doc, expect_signer=w.admin.address)
        assert item == next(iter(w.ledger.items(ItemQuery(offset=index, limit=1)))).item
        with pytest.raises(IntegrityError, match="expected"):
            check_proof(doc, expect_signer=PrivateKey.generate().address)
        tampered = dict(doc, item=doc["item"].replace('"kind"', '"kinD"'))
        with pytest.raises(IntegrityError, match="does not lead to the checkpoint root"):
            check_proof(tampered)
        moved = dict(doc, leaf_index=index + 1)
        with pytest.raises(IntegrityError):
            check_proof(moved)

    def test_proof_of_a_missing_leaf(self, w: World) -> None:
        size = w.ledger.state().size
        with pytest.raises(NotFound, match=f"leaf {size}"):
            w.ledger.proof(size)
        with pytest.raises(NotFound, match="no record"):
            find_item(w.ledger, "nope")
