"""The embedded ledger's own file; the ledger's behaviour on every backend is the
conformance suite (``tests/conformance/``: ``suite.py`` and ``suite_log.py``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from carbonledger.core.merkle import leaf_hash, root_from_leaf_hashes
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import InvalidInput
from tests.ledger_helpers import new_ledger, record, tx


def test_the_root_is_that_of_the_rows_in_the_file(ledger_path: Path, admin: PrivateKey) -> None:
    ledger = new_ledger(ledger_path, admin)
    receipts = ledger.submit([tx(admin, "record_emissions", 4, [record("s0", 1), record("s1", 1)])])
    assert (receipts[0].seq, receipts[0].first_leaf, receipts[0].count) == (5, 5, 2)
    report = ledger.verify()
    assert report.ok, report.error
    assert (report.entries, report.leaves, report.checkpoints) == (5, 7, 5)
    # The root is the RFC 6962 root of every leaf row of the file, read with plain sqlite3.
    con = sqlite3.connect(ledger_path)
    datas = [bytes(d) for (d,) in con.execute("SELECT data FROM leaf ORDER BY idx")]
    con.close()
    assert report.root == root_from_leaf_hashes([leaf_hash(d) for d in datas]).hex()


def test_a_transaction_needs_an_item(admin: PrivateKey) -> None:
    with pytest.raises(InvalidInput, match="at least one item"):
        tx(admin, "record_emissions", 0, [])
