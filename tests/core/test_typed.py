"""Transfers, retirements and emissions records signed as EIP-712 typed data.

The digest is checked against eth_account's own EIP-712 encoder (an independent
implementation: any difference in the domain, the struct or the ``bytes[]``
hashing shows), a wallet's recovery of the signature gives the sender, and the
embedded ledger accepts the typed transaction and refuses any change to it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from carbonledger.adapters.sqlite import SqliteLedger
from carbonledger.core.canonical import canonical
from carbonledger.core.tx import SignedTx, build_tx, tx_from_parts, utc_now
from carbonledger.core.typed import pack_items, typed_data, typed_digest, unpack_item
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError, InvalidInput, SignatureInvalid
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort
from tests.conformance.suite import _rec
from tests.conformance.world import LEDGER_ID, World, alice_to_bob, build_world

ALICE = PrivateKey.generate()
BOB = PrivateKey.generate()


def _transfer(amount: int = 10) -> dict[str, Any]:
    return {
        "kind": "token_transfer",
        "id": "xfer-0123456789abcdef",
        "token": "rec-1",
        "from": ALICE.address,
        "to": BOB.address,
        "amount": amount,
    }


def _retirement() -> dict[str, Any]:
    return {
        "kind": "token_retirement",
        "id": "ret-0123456789abcdef",
        "token": "rec-1",
        "holder": ALICE.address,
        "amount": 5,
        "serial": {"prefix": "W-", "start": 1, "end": 5},
        "beneficiary": "Acme Corp",
        "reason": "Scope 2 2023",
        "org": None,
        "site": None,
        "period": None,
    }


def _record(n: int) -> dict[str, Any]:
    return {
        "kind": "emissions_record",
        "id": f"0b6f3c1e-5d2a-5f4b-9c3d-2e1f0a9b8c{n:02x}",
        "org": "acme",
        "site": "acme-chi",
        "account": hashlib.sha256(b"meter %d" % n).hexdigest(),
        "activity": "electricity",
        "period": {"start": "2024-01-01", "end": "2024-01-31"},
        "trace": {"schema": "carbonledger.trace/1", "basis": "ab" * 32, "scope": "2"},
        "detail": {"channel": "acme", "epoch": 3, "blob": "cd" * 32, "commitment": "ef" * 32},
    }


CASES = {
    "transfer_token": [_transfer()],
    "retire_token": [_retirement()],
    "record_emissions": [_record(n) for n in range(3)]
    + [{"kind": "calculation_basis", "id": "b1", "basis": {"factor": "1"}}],
}


def _signed(tx_type: str, items: list[dict[str, Any]]) -> SignedTx:
    return build_tx(
        ALICE, tx_type=tx_type, ledger_id=LEDGER_ID, nonce=7, created=utc_now(), items=items
    )


@pytest.mark.parametrize("tx_type", sorted(CASES))
def test_the_digest_is_eip712_as_eth_account_encodes_it(tx_type: str) -> None:
    tx = _signed(tx_type, CASES[tx_type])
    assert tx.body["v"] == 2
    packed = pack_items(tx.type, tx.sender, tx.items)
    assert packed is not None
    message = encode_typed_data(full_message=typed_data(tx.body, packed))
    # EIP-712: keccak256(0x19 || 0x01 || domainSeparator || hashStruct(message)).
    theirs = keccak(b"\x19" + message.version + message.header + message.body)
    assert theirs == typed_digest(tx.body)
    assert Account.recover_message(message, signature=tx.signature) == ALICE.address
    # Received as bytes, the core checks the same signature.
    assert tx_from_parts(tx.body_bytes, tx.items, tx.signature).sender == ALICE.address


@pytest.mark.parametrize("tx_type", sorted(CASES))
def test_packed_items_give_back_their_exact_json(tx_type: str) -> None:
    tx = _signed(tx_type, CASES[tx_type])
    packed = pack_items(tx.type, tx.sender, tx.items)
    assert packed is not None
    assert [unpack_item(tx.type, tx.sender, p) for p in packed] == list(tx.items)


def test_a_transfer_packs_into_fixed_fields() -> None:
    # to (20) + amount (8) + token length (1) + "rec-1" (5) + "xfer-0123456789abcdef" (21)
    (packed,) = pack_items("transfer_token", ALICE.address, [canonical(_transfer())]) or [b""]
    assert len(packed) == 20 + 8 + 1 + 5 + 21
    assert packed[:20] == bytes.fromhex(BOB.address[2:])
    assert int.from_bytes(packed[20:28], "big") == 10


@pytest.mark.parametrize(
    "item",
    [
        {**_transfer(), "from": BOB.address},  # from is not the signer: JSON form
        {**_transfer(), "memo": "x"},  # a field the packing does not know
        {**_transfer(), "to": BOB.address.lower()},  # not checksummed: would not round trip
        {**_transfer(), "amount": 0},  # the rules refuse it; it does not pack
    ],
)
def test_what_does_not_pack_exactly_is_signed_as_json(item: dict[str, Any]) -> None:
    tx = _signed("transfer_token", [item])
    assert tx.body["v"] == 1
    assert tx_from_parts(tx.body_bytes, tx.items, tx.signature).body["v"] == 1


def test_a_changed_item_or_body_is_refused() -> None:
    tx = _signed("transfer_token", [_transfer()])
    more = canonical(_transfer(amount=11))
    with pytest.raises(InvalidInput, match="items_root"):
        tx_from_parts(tx.body_bytes, [more], tx.signature)
    # A signed field of the body changed (the sender's clock): the signature fails.
    body = json.loads(tx.body_bytes)
    body["created"] = "2020-01-01T00:00:00.000Z"
    with pytest.raises(SignatureInvalid):
        tx_from_parts(canonical(body), tx.items, tx.signature)
    # The packed hash alone changed.
    body = json.loads(tx.body_bytes)
    body["packed"] = "00" * 32
    with pytest.raises(InvalidInput, match="packed"):
        tx_from_parts(canonical(body), tx.items, tx.signature)
    # Another ledger: the domain differs, so the same signature recovers someone else.
    body = json.loads(tx.body_bytes)
    body["ledger"] = "another-ledger"
    with pytest.raises(SignatureInvalid):
        tx_from_parts(canonical(body), tx.items, tx.signature)


def _embedded(admin: PrivateKey, path: Path) -> tuple[LedgerPort, ChannelStore]:
    ledger = SqliteLedger(path / "ledger.db", operator=admin)
    return ledger, ledger.channels


@pytest.fixture
def world(tmp_path: Path) -> tuple[World, str]:
    """An embedded ledger where alice holds 100 of a REC token."""
    return (w := build_world(_embedded, tmp_path)), _rec(w, 100)


def test_the_embedded_ledger_takes_a_typed_transfer_and_verifies_it(
    world: tuple[World, str],
) -> None:
    w, token = world
    (tx,) = alice_to_bob(w, token, 1, "t")
    assert tx.body["v"] == 2
    w.ledger.submit([tx])
    assert w.ledger.state().balances[f"{w.bob.address}/{token}"]["available"] == 1
    assert w.ledger.verify().ok


def test_the_embedded_ledger_refuses_a_typed_transfer_with_a_changed_item(
    world: tuple[World, str],
) -> None:
    w, token = world
    (tx,) = alice_to_bob(w, token, 1, "t")
    item = json.loads(tx.items[0])
    item["amount"] = 50
    size = w.ledger.state().size
    with pytest.raises(CarbonLedgerError):
        w.ledger.submit([tx_from_parts(tx.body_bytes, [canonical(item)], tx.signature)])
    assert w.ledger.state().size == size
