"""``EvmLedger.submit_many``: many atomic batches, pipelined in chunks, on anvil.

Each batch is one EVM transaction; chunks are sent one after another (the next is
signed while one is mined, and the store takes each while it is mined). When
the chain refuses a transaction in the middle, what it accepted is mirrored, the
chunks after it are never sent, the error is raised, and the ledger goes on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carbonledger.core.tx import SignedTx
from carbonledger.errors import CarbonLedgerError
from tests.conformance.suite import _rec
from tests.conformance.test_evm import _evm_world
from tests.conformance.world import World, alice_to_bob

CHUNK = 20


@pytest.fixture
def w(anvil_url: str, tmp_path: Path) -> Iterator[World]:
    world = _evm_world(anvil_url, tmp_path)
    _rec(world, 1_000, token_id="rec-many")
    yield world
    world.ledger.close()  # type: ignore[attr-defined]


def _transfers(w: World, n: int) -> list[list[SignedTx]]:
    """``n`` one-transfer batches of 1 MWh from alice to bob, consecutive nonces."""
    return [[t] for t in alice_to_bob(w, "rec-many", n, "t")]


def _bob(w: World) -> int:
    return int(w.ledger.state().balances[f"{w.bob.address}/rec-many"]["available"])


def _on_chain(w: World) -> int:
    return len(w.ledger.chain_entries())  # type: ignore[attr-defined]


def test_three_chunks_are_all_recorded_in_order(w: World) -> None:
    before = _on_chain(w)
    batches = _transfers(w, 3 * CHUNK - 5)
    receipts = w.ledger.submit_many(batches, chunk=CHUNK)  # type: ignore[attr-defined]
    assert [len(r) for r in receipts] == [1] * len(batches)
    # In order: each receipt is the next entry, for its own transaction.
    seqs = [r[0].seq for r in receipts]
    assert seqs == list(range(seqs[0], seqs[0] + len(batches)))
    assert _bob(w) == len(batches)
    assert _on_chain(w) == before + len(batches)
    report = w.ledger.verify()
    assert report.ok, report.error


@pytest.mark.parametrize(
    ("starve", "error"),
    [
        # Too little gas: mined, and reverted.
        ("gas", "ran out of gas"),
        # Dropped by the node after it was sent (with the operator's later ones, which
        # wait behind the gap in its nonces): not mined within the receipt timeout.
        ("dropped", "did not mine the transaction within 2 s"),
    ],
)
def test_a_refusal_in_the_second_chunk_keeps_what_the_chain_accepted(
    w: World, monkeypatch: pytest.MonkeyPatch, starve: str, error: str
) -> None:
    from carbonledger.adapters.evm.chain import _Sender
    from carbonledger.adapters.evm.ledger import EvmLedger

    ledger = w.ledger
    assert isinstance(ledger, EvmLedger)
    ledger.receipt_timeout = 2
    before = _on_chain(w)
    batches = _transfers(w, 3 * CHUNK)
    bad = batches[CHUNK + 7][0].body["nonce"]
    bad_data: list[bytes] = []
    bad_hash: list[str] = []
    prepare, sign, mine = EvmLedger._prepare, _Sender.sign, EvmLedger._mined

    def starved(self: EvmLedger, state: Any, batch: Any, *args: Any, **kw: Any) -> Any:
        # The eighth transaction of the second chunk is starved: the chain refuses it,
        # and (its nonce never used) every later one of alice's in the chunk.
        data, gas, checked = prepare(self, state, batch, *args, **kw)
        if batch[0].body["nonce"] != bad:
            return data, gas, checked
        bad_data.append(data)
        # 35,000 gas: above a transfer's intrinsic cost and calldata floor (the node
        # takes it), below what the contract spends on it (about 55,000).
        return data, 35_000 if starve == "gas" else gas, checked

    def signed(self: _Sender, to: str | None, data: bytes, gas: int, **kw: Any) -> Any:
        raw, tx_hash = sign(self, to, data, gas, **kw)
        if data in bad_data:
            bad_hash.append(tx_hash)
        return raw, tx_hash

    def dropping(self: EvmLedger, hashes: Any, *args: Any) -> Any:
        for h in set(bad_hash) & set(hashes):
            self.rpc.call("anvil_dropTransaction", h)
        return mine(self, hashes, *args)

    monkeypatch.setattr(EvmLedger, "_prepare", starved)
    if starve == "dropped":
        monkeypatch.setattr(_Sender, "sign", signed)
        monkeypatch.setattr(EvmLedger, "_mined", dropping)
    with pytest.raises(CarbonLedgerError, match=error):
        ledger.submit_many(batches, chunk=CHUNK)
    monkeypatch.undo()

    # Nothing of the operator's is left waiting in the node.
    operator = ledger._sender.address  # type: ignore[union-attr]
    counts = [
        ledger.rpc.call("eth_getTransactionCount", operator, b) for b in ("latest", "pending")
    ]
    assert counts[0] == counts[1]
    accepted = CHUNK + 7  # the first chunk and seven of the second; the third never sent
    assert _on_chain(w) == before + accepted
    assert _bob(w) == accepted
    report = ledger.verify()
    assert report.ok, report.error
    # The ledger goes on: the refused transfers again, with fresh nonces.
    ledger.submit_many(_transfers(w, 2), chunk=CHUNK)
    assert _bob(w) == accepted + 2
    assert _on_chain(w) == before + accepted + 2
    assert ledger.verify().ok


def test_a_store_failure_mid_way_is_caught_up_from_the_chain(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = w.ledger
    before = _on_chain(w)
    batches = _transfers(w, 3 * CHUNK)
    mirror = ledger.mirror  # type: ignore[attr-defined]
    submit = type(mirror).submit
    calls = [0]

    def failing(self: Any, *args: Any, **kw: Any) -> Any:
        calls[0] += 1
        if calls[0] == 2:  # the second chunk, sent: the store takes it while it is mined
            raise OSError("disk full")
        return submit(self, *args, **kw)

    monkeypatch.setattr(type(mirror), "submit", failing)
    with pytest.raises(OSError, match="disk full"):
        ledger.submit_many(batches, chunk=CHUNK)  # type: ignore[attr-defined]
    monkeypatch.undo()
    # The second chunk was on its way when the store failed: the chain mined it, and the
    # store has read back from the chain what it failed to take. The third was never sent.
    assert _on_chain(w) == before + 2 * CHUNK
    assert _bob(w) == 2 * CHUNK
    report = ledger.verify()
    assert report.ok, report.error
