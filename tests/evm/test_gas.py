"""Gas of the token operations and of emissions records, against the targets.

Gas is deterministic for given calldata and state, so these are assertions, not
timings. Targets (docs/DESIGN): issue <= 210,000, transfer <= 55,000, retire
<= 60,000, an emissions record <= 10,000 in a batch of 1,000, all of it counted: a
record's sealed details are not in calldata (nodes pass them to each other by hash).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from carbonledger.adapters.evm import EvmLedger
from carbonledger.adapters.evm.packed import decode_call
from carbonledger.core.blobs import referenced_blobs
from carbonledger.core.domain import Bill
from carbonledger.core.typed import unpack_item
from carbonledger.crypto.keys import checksum_address
from carbonledger.factors import FactorCatalog
from carbonledger.services.importer import import_bills
from carbonledger.services.tokens import retire, transfer
from tests.conformance.suite import _rec
from tests.conformance.test_evm import _evm_world
from tests.conformance.world import World


@pytest.fixture
def world(anvil_url: str, tmp_path: Path) -> Iterator[World]:
    w = _evm_world(anvil_url, tmp_path)
    yield w
    w.ledger.close()


def _receipts(ledger: EvmLedger, since: int) -> list[tuple[dict[str, Any], bytes]]:
    """Each EVM transaction mined after block ``since``: its receipt and calldata."""
    out = []
    for number in range(since + 1, int(ledger.rpc.call("eth_blockNumber"), 16) + 1):
        block = ledger.rpc.call("eth_getBlockByNumber", hex(number), True)
        for tx in block["transactions"]:
            receipt = ledger.rpc.call("eth_getTransactionReceipt", tx["hash"])
            out.append((receipt, bytes.fromhex(tx["input"][2:])))
    return out


def _gas_of(ledger: EvmLedger, since: int) -> int:
    ((receipt, _),) = _receipts(ledger, since)
    assert receipt["status"] == "0x1"
    return int(receipt["gasUsed"], 16)


def _block(ledger: EvmLedger) -> int:
    return int(ledger.rpc.call("eth_blockNumber"), 16)


def test_issue_transfer_and_retire_within_their_targets(world: World) -> None:
    w = world
    ledger = w.ledger
    assert isinstance(ledger, EvmLedger)
    before = _block(ledger)
    token = _rec(w, 1000)
    assert _gas_of(ledger, before) <= 210_000
    transfer(ledger, w.alice, token, to="globex/bob", amount=10)  # bob's first balance
    before = _block(ledger)
    transfer(ledger, w.alice, token, to="globex/bob", amount=10)
    assert _gas_of(ledger, before) <= 55_000
    before = _block(ledger)
    retire(ledger, w.alice, token, amount=10, beneficiary="Acme Corp", reason="Scope 2 2023")
    assert _gas_of(ledger, before) <= 60_000


def test_an_emissions_record_within_its_target_in_a_batch_of_1000(world: World) -> None:
    w = world
    ledger = w.ledger
    assert isinstance(ledger, EvmLedger)
    n = 1000
    bills = [
        Bill(
            "acme-chi",
            f"gas-meter-{i}",
            date(2023, 1, 1),
            date(2023, 1, 31),
            Decimal(900 + i),
            "kWh",
        )
        for i in range(n)
    ]
    before = _block(ledger)
    import_bills(ledger, w.alice, FactorCatalog(), bills, store=w.store, batch_size=n)
    gas = 0
    named: set[str] = set()
    for receipt, data in _receipts(ledger, before):
        assert receipt["status"] == "0x1"
        gas += int(receipt["gasUsed"], 16)
        for entry in decode_call(ledger._selectors, data, "test"):
            assert isinstance(entry[0], str)  # typed: packed compact records
            assert entry[7] == ()  # no sealed blob in calldata (nor a key: none wrapped)
            who = checksum_address(entry[1])
            items = [json.loads(unpack_item(entry[0], who, p)) for p in entry[6]]
            named |= {ref.blob for item in items for ref in referenced_blobs(item)}
    # Everything the receipts show, sealed details included: they no longer travel here.
    assert gas / n <= 10_000
    # The records' sealed blobs (one for the records of a signed transaction) are held by
    # this node's store, each by the hash the items name.
    assert named
    for blob_id in named:
        assert hashlib.sha256(ledger.channels.blob(blob_id)).hexdigest() == blob_id


def test_an_enrolment_within_its_bound(world: World) -> None:
    """An enrolment checks its certificate on chain (base64, DER, SHA-256, ecrecover).
    Bound: 350,000 gas; decoding base64 one character at a time cost this enrolment
    450,442 (and the one of the closing note of #14, 465,011)."""
    w = world
    ledger = w.ledger
    assert isinstance(ledger, EvmLedger)
    before = _block(ledger)
    w.user("acme", "zed", ["member"])  # registered, then enrolled: two EVM transactions
    (_, registered), (enrolled, data) = _receipts(ledger, before)
    assert enrolled["status"] == "0x1"
    assert b"BEGIN CERTIFICATE" in data
    assert b"BEGIN CERTIFICATE" not in registered
    assert int(enrolled["gasUsed"], 16) <= 350_000
