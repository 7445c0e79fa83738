"""Compact encodings: emissions records as their fields, typed-data transactions packed.

A record's compact form gives back its exact JSON, or the record is sent as JSON;
a transfer signed once as EIP-712 typed data holds on the contract and on the
embedded ledger, and a changed byte of its packed form is refused by both.

Expected sizes by hand: the fixed part is 169 bytes (a marker, four SHA-256s,
a UUID's 16 bytes, a 4-byte epoch, two 10-character dates), and the texts here
are "electricity" (11), "acme" (4), "acme-chi" (8), "carbonledger.trace/1" (20)
and "2" (1), each with a length byte: 169 + 5 + 44 = 218 bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from carbonledger.adapters.evm import EvmLedger
from carbonledger.adapters.evm.compact import compact_record, expand
from carbonledger.adapters.evm.packed import (
    Selectors,
    decode_call,
    encode_call,
    encode_typed,
    typed_tx,
)
from carbonledger.adapters.sqlite import SqliteLedger
from carbonledger.core.canonical import canonical
from carbonledger.core.tx import SignedTx, tx_from_parts
from carbonledger.core.typed import pack_items, typed_digest, unpack_item
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError, SignatureInvalid
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort
from tests.conformance.suite import _rec
from tests.conformance.test_evm import _evm_world, evm_backend
from tests.conformance.world import LEDGER_ID, World, alice_to_bob, build_world


def _item(**changes: Any) -> dict[str, Any]:
    item = {
        "kind": "emissions_record",
        "id": "0b6f3c1e-5d2a-5f4b-9c3d-2e1f0a9b8c7d",
        "org": "acme",
        "site": "acme-chi",
        "account": hashlib.sha256(b"meter").hexdigest(),
        "activity": "electricity",
        "period": {"start": "2024-01-01", "end": "2024-01-31"},
        "trace": {"schema": "carbonledger.trace/1", "basis": "ab" * 32, "scope": "2"},
        "detail": {"channel": "acme", "epoch": 12, "blob": "cd" * 32, "commitment": "ef" * 32},
    }
    item.update(changes)
    return item


def test_a_record_round_trips_in_218_bytes() -> None:
    item = _item()
    data = canonical(item)
    small = compact_record(data, item)
    assert small is not None
    assert len(small) == 218
    assert expand(small) == data
    assert len(data) > 2.5 * len(small)


@pytest.mark.parametrize(
    "changes",
    [
        {"id": "not-a-uuid"},
        {"site": 'acme"chi'},
        {"site": "acme\\chi"},
        {"account": "AB" * 32},  # hex in capitals: expanding gives lowercase
        {"detail": {"channel": "globex", "epoch": 0, "blob": "cd" * 32, "commitment": "ef" * 32}},
        {"period": {"start": "2024-1-1", "end": "2024-01-31"}},
        {"kind": "calculation_basis"},
        {"extra": 1},
    ],
)
def test_anything_else_travels_as_json(changes: dict[str, Any]) -> None:
    item = _item(**changes)
    assert compact_record(canonical(item), item) is None


def test_a_compact_record_that_would_inject_structure_is_refused() -> None:
    small = compact_record(canonical(_item()), _item())
    assert small is not None
    forged = small.replace(b"\x08acme-chi", b'\x08acme"chi')
    with pytest.raises(ValueError, match="quote"):
        expand(forged)


# -- typed-data transactions on the chain and on the embedded ledger -------------------


def _embedded(admin: PrivateKey, path: Path) -> tuple[LedgerPort, ChannelStore]:
    ledger = SqliteLedger(path / "ledger.db", operator=admin)
    return ledger, ledger.channels


def _twin_worlds(anvil_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[World]:
    """The same network twice, on the chain and on the embedded ledger: the same keys
    (one sequence of keys handed out in the same order) and the same history, so a
    transaction signed once fits both; alice holds 100 of REC token rec-1 in each."""
    keys = [PrivateKey.generate() for _ in range(32)]
    worlds = []
    for name, backend in (("chain", evm_backend(anvil_url)), ("embedded", _embedded)):
        handed = iter(keys)
        (tmp_path / name).mkdir()
        with monkeypatch.context() as m:
            m.setattr(PrivateKey, "generate", classmethod(lambda cls, h=handed: next(h)))
            w = build_world(backend, tmp_path / name)
        _rec(w, 100)
        worlds.append(w)
    return worlds


def test_a_transfer_signed_once_is_accepted_by_the_contract_and_the_embedded_ledger(
    anvil_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain, embedded = _twin_worlds(anvil_url, tmp_path, monkeypatch)
    try:
        assert chain.alice.address == embedded.alice.address
        (tx,) = alice_to_bob(chain, "rec-1", 1, "once-")
        assert tx.body["v"] == 2  # EIP-712 typed data over the packed transfer
        for w in (chain, embedded):
            w.ledger.submit([tx])
            assert w.ledger.state().balances[f"{w.bob.address}/rec-1"]["available"] == 1
            assert w.ledger.verify().ok
        # The contract recovered alice from the typed-data digest of those packed bytes,
        # and its entry commits to that digest.
        assert isinstance(chain.ledger, EvmLedger)
        entry = chain.ledger.chain_entries()[-1]
        assert entry["tx_hash"] == typed_digest(tx.body).hex()
        assert entry["sender"] == tx.sender.lower()
    finally:
        for w in (chain, embedded):
            w.ledger.close()  # type: ignore[attr-defined]


def _tampered_amount(packed: bytes) -> bytes:
    """A packed transfer (to 20 bytes, amount 8, ...) moving 50 instead."""
    return packed[:20] + (50).to_bytes(8, "big") + packed[28:]


def test_a_tampered_packed_transfer_is_refused_by_the_contract_and_the_core(
    anvil_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carbonledger.adapters.evm import calls as evm_ledger

    chain, embedded = _twin_worlds(anvil_url, tmp_path, monkeypatch)
    try:
        (tx,) = alice_to_bob(chain, "rec-1", 1, "t-")
        real = evm_ledger.encode_typed

        def tamper(t: SignedTx, packed: Sequence[bytes], carried: Sequence[bytes]) -> bytes:
            return real(t, [_tampered_amount(p) for p in packed], carried)

        # The contract, with the core's rules off: the digest of the changed bytes
        # recovers someone other than alice.
        size = chain.ledger.state().size
        with monkeypatch.context() as m:
            m.setattr(evm_ledger, "apply", lambda *args, **kwargs: None)
            m.setattr(evm_ledger, "encode_typed", tamper)
            with pytest.raises(SignatureInvalid, match="BadSignature"):
                chain.ledger.submit([tx])
        assert chain.ledger.state().size == size
        # The core, reading the same calldata back (a node syncing) or taking it as a
        # transaction (the embedded ledger): refused.
        packed = pack_items(tx.type, tx.sender, tx.items)
        assert packed is not None
        selectors = Selectors(b"old!", b"new!", frozenset())
        data = encode_call(selectors, [tamper(tx, packed, [])])
        (typed,) = decode_call(selectors, data, "test")
        with pytest.raises(CarbonLedgerError):
            typed_tx(LEDGER_ID, typed, ())  # type: ignore[arg-type]
        moved = unpack_item(tx.type, tx.sender, _tampered_amount(packed[0]))
        with pytest.raises(CarbonLedgerError):
            embedded.ledger.submit([tx_from_parts(tx.body_bytes, [moved], tx.signature)])
        assert f"{embedded.bob.address}/rec-1" not in embedded.ledger.state().balances
        # Untampered, the same transaction still holds on both.
        for w in (chain, embedded):
            w.ledger.submit([tx])
    finally:
        for w in (chain, embedded):
            w.ledger.close()  # type: ignore[attr-defined]


def test_a_node_refuses_a_typed_entry_whose_signed_items_root_is_not_its_items(
    anvil_url: str, tmp_path: Path
) -> None:
    """The contract takes a typed transaction's items root as signed (it reads no JSON);
    every node's core checks it. alice's wallet signs (eth_account, EIP-712) a real
    transfer under a made-up items root and sends it straight to the contract, which
    accepts it; a node syncing the chain refuses to follow it, naming the entry."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    from carbonledger.core.merkle import leaf_hash
    from carbonledger.core.typed import items_hash, typed_data
    from carbonledger.errors import IntegrityError
    from tests.evm.test_follow_rules import new_node, refusal, send_raw

    w = _evm_world(anvil_url, tmp_path)
    ledger: Any = w.ledger
    try:
        _rec(w, 100)
        (honest,) = alice_to_bob(w, "rec-1", 1, "root-")
        packed = pack_items(honest.type, honest.sender, honest.items)
        assert packed is not None
        body = {**honest.body, "items_root": "ab" * 32, "packed": items_hash(packed).hex()}
        message = encode_typed_data(full_message=typed_data(body, packed))
        signature = bytes(Account.sign_message(message, w.alice.to_bytes()).signature)
        forged = SignedTx(
            body,  # type: ignore[arg-type]
            canonical(body),
            honest.items,
            (leaf_hash(honest.items[0]),),
            signature,
        )
        entries = len(ledger.chain_entries())
        data = encode_call(ledger._selectors, [encode_typed(forged, packed, [])])
        tx_hash = send_raw(ledger, data, 200_000)
        assert len(ledger.chain_entries()) == entries + 1

        node = new_node(ledger, tmp_path / "node")
        try:
            pattern = refusal(entries + 1, w.alice.address, honest.nonce, tx_hash, ".*items_root.*")
            with pytest.raises(IntegrityError, match=pattern):
                node.sync()
            assert len(node._mirror_rows()) == entries
        finally:
            node.close()
    finally:
        ledger.close()
