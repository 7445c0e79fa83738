"""The conformance suite on the EVM backend with Hardhat's node (npm ``hardhat`` 2.x in
contracts/, set up by contracts/hardhat.config.js) as the chain: a second JSON-RPC
implementation beside anvil.

Skipped when Hardhat or the ``[evm]`` extra is absent; with ``CARBONLEDGER_REQUIRE_EVM=1``
(CI) those fail instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from carbonledger.crypto.keys import PrivateKey
from tests.conformance import test_evm
from tests.conformance.world import LEDGER_ID


def _need_hardhat() -> Any:
    try:
        from carbonledger.adapters.evm import hardhat
    except ImportError as exc:
        if test_evm.REQUIRED:
            raise
        pytest.skip(reason=f"the [evm] extra is not installed ({exc})")
    if hardhat.find_hardhat() is None:
        if test_evm.REQUIRED:
            pytest.fail(
                "hardhat is required (CARBONLEDGER_REQUIRE_EVM=1): run npm ci in contracts/"
            )
        pytest.skip(
            reason="hardhat not found: run `npm ci` in contracts/ (or set CARBONLEDGER_HARDHAT)"
        )
    return hardhat


def test_the_node_is_hardhat_and_the_adapter_mines_it(hardhat_url: str, admin: PrivateKey) -> None:
    """The suite below really runs on Hardhat's node, and the adapter treats it as a node it
    mines: a deployment funds the operator (with ``hardhat_setBalance``; the key holds
    nothing before) and mines its block with ``evm_mine``, so the Governor's time skew is 0."""
    from carbonledger.adapters.evm import Rpc, deploy

    rpc = Rpc(hardhat_url)
    assert str(rpc.call("web3_clientVersion")).startswith("HardhatNetwork/")
    assert int(rpc.call("eth_getBalance", admin.address, "latest"), 16) == 0
    info = deploy(rpc, admin, LEDGER_ID)
    assert info["time_skew_ms"] == 0
    assert info["chain_id"] == 31337  # contracts/hardhat.config.js, as anvil's default
    assert int(rpc.call("eth_getBalance", admin.address, "latest"), 16) > 0
    assert rpc.call("eth_getCode", info["address"], "latest") not in ("0x", None)


class TestHardhatLedger(test_evm.TestEvmLedger):
    """The whole suite (:class:`~tests.conformance.backend.BackendConformance`), as on anvil,
    with its off-chain mirror in SQLite."""

    @pytest.fixture
    def chain_url(self, hardhat_url: str) -> str:
        return hardhat_url


def test_the_chain_enforces_limited_mode_on_hardhat(
    hardhat_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    test_evm.test_the_chain_enforces_limited_mode(hardhat_url, tmp_path, monkeypatch)


def test_the_chain_refuses_what_the_dao_rules_refuse_on_hardhat(
    hardhat_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    test_evm.test_the_chain_refuses_what_the_dao_rules_refuse(hardhat_url, tmp_path, monkeypatch)
