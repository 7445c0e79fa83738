"""Governance on a chain the adapter does not mine: anvil mining a block every second.

There the adapter cannot choose its blocks' time, so a governance transaction's
ledger time (its rules' ``now``) lags its block by up to the block interval plus
the network's delay. The Governor accepts a lag up to the deployment's time skew
(``DEFAULT_TIME_SKEW_MS`` where the operator does not mine), never a ledger time
after its block's second, and never one before an earlier governance transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import Conflict
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort
from tests.conformance.test_evm import _need_evm
from tests.conformance.world import LEDGER_ID, build_world


@pytest.fixture(scope="module")
def interval_chain() -> Iterator[str]:
    node = _need_evm().Anvil(block_time=1)
    try:
        yield node.url
    finally:
        node.stop()


def test_governance_on_a_chain_with_its_own_block_time(
    interval_chain: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carbonledger.adapters.evm import EvmLedger, Rpc, deploy
    from carbonledger.adapters.evm.ledger import DEFAULT_TIME_SKEW_MS
    from carbonledger.services import dao

    deployed: dict[str, Any] = {}

    def backend(admin: PrivateKey, path: Path) -> tuple[LedgerPort, ChannelStore]:
        rpc = Rpc(interval_chain)
        deployed.update(deploy(rpc, admin, LEDGER_ID, mine=False))
        ledger = EvmLedger(
            rpc,
            deployed["address"],
            path / "offchain.db",
            admin,
            deploy_block=deployed["block"],
            mine=False,
        )
        return ledger, ledger.channels

    w = build_world(backend, tmp_path)
    ledger = w.ledger
    assert isinstance(ledger, EvmLedger)
    try:
        assert deployed["time_skew_ms"] == DEFAULT_TIME_SKEW_MS
        assert ledger.status()["time_skew_ms"] == DEFAULT_TIME_SKEW_MS
        dao.setup(ledger, w.admin, params={"transferable": True})
        dao.issue_tokens(ledger, w.admin, {"acme/alice": 5_000, "treasury": 1_000})
        dao.transfer_tokens(ledger, w.alice, to="globex/bob", amount=1_000)
        # The Governor holds the same balances as the off-chain state.
        rows = dao.holders(ledger.state())["holders"]
        off_chain = {r["holder"]: r["available"] for r in rows if r["holder"].startswith("0x")}
        on_chain = {h: _available(ledger, deployed["governor"], h) for h in off_chain}
        assert on_chain == off_chain == {w.alice.address: 4_000, w.bob.address: 1_000}
        # A ledger time further behind its block than the skew, or before the previous
        # governance transaction's (within the skew), is refused; nothing is recorded.
        size = ledger.state().size
        # (15 s: within the skew, and longer than the few seconds since the last one.)
        for lag_ms in (2 * DEFAULT_TIME_SKEW_MS, 15_000):
            with monkeypatch.context() as m:
                _lag(m, lag_ms)
                with pytest.raises(Conflict, match="LedgerTime"):
                    dao.transfer_tokens(ledger, w.alice, to="globex/bob", amount=1)
        assert ledger.state().size == size
        dao.transfer_tokens(ledger, w.alice, to="globex/bob", amount=1)
        report = ledger.verify()
        assert report.ok, report.error
    finally:
        ledger.close()  # type: ignore[attr-defined]


def _lag(m: pytest.MonkeyPatch, lag_ms: int) -> None:
    """Make the adapter send a governance transaction's ledger time ``lag_ms`` early."""
    from carbonledger.adapters.evm.ledger import EvmLedger

    hints = EvmLedger._hints
    m.setattr(EvmLedger, "_hints", staticmethod(lambda s, t, i, now: hints(s, t, i, now - lag_ms)))


def _available(ledger: Any, governor: str, holder: str) -> int:
    """``Governor.holders(holder).available``, read from the chain."""
    from carbonledger.crypto.keys import keccak256

    call = keccak256(b"holders(address)")[:4] + bytes(12) + bytes.fromhex(holder[2:])
    out = ledger.rpc.call("eth_call", {"to": governor, "data": "0x" + call.hex()}, "latest")
    return int(out[2:66], 16)
