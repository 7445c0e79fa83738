"""Two nodes mining one development chain: another node's block, mined at a later
second between this node's choice of its ledger time and its own ``evm_mine``, does
not make the write fail; the block is mined at the chain's next second instead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carbonledger.adapters.evm import Rpc
from tests.conformance.suite import _rec
from tests.conformance.test_evm import _evm_world, _need_evm
from tests.conformance.world import World, alice_to_bob


@pytest.fixture
def own_chain() -> Iterator[str]:
    """A chain of this test's own: the other node's clock moves it ahead of this machine's."""
    node = _need_evm().Anvil()
    try:
        yield node.url
    finally:
        node.stop()


@pytest.fixture
def w(own_chain: str, tmp_path: Path) -> Iterator[World]:
    world = _evm_world(own_chain, tmp_path)
    _rec(world, 10, token_id="rec-clock")
    yield world
    world.ledger.close()  # type: ignore[attr-defined]


def test_a_later_block_mined_by_another_node_before_ours(
    w: World, own_chain: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger: Any = w.ledger
    other = Rpc(own_chain)  # another node's own client
    send = ledger.rpc.batch_raw
    later: list[int] = []  # the other node's block: its second, its number

    def another_node_mines_first(calls: Any) -> Any:
        if not later and any(method == "eth_sendRawTransaction" for method, _ in calls):
            ts = int(other.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
            later.append(ts + 30)  # its clock runs 30 s ahead of this node's
            other.call("evm_mine", ts + 30)
            later.append(int(other.call("eth_blockNumber"), 16))
        return send(calls)

    monkeypatch.setattr(ledger.rpc, "batch_raw", another_node_mines_first)
    batch = alice_to_bob(w, "rec-clock", 1, "clock")
    receipts = ledger.submit(batch)
    assert later, "the other node's block was mined in the window"
    assert len(receipts) == 1
    assert int(ledger.state().balances[f"{w.bob.address}/rec-clock"]["available"]) == 1
    # Ours is the block after the other node's, at its second or later.
    last = ledger.chain_entries()[-1]
    assert last["block"] > later[1]
    block = other.call("eth_getBlockByNumber", hex(last["block"]), False)
    assert int(block["timestamp"], 16) >= later[0]
    report = ledger.verify()
    assert report.ok, report.error
