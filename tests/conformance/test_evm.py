"""The conformance suite on the EVM backend: CarbonLedger on anvil, an off-chain mirror.

Skipped when anvil (npm ``@foundry-rs/anvil`` in contracts/) or the ``[evm]``
extra is absent; with ``CARBONLEDGER_REQUIRE_EVM=1`` (CI) those fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carbonledger.crypto.keys import PrivateKey
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort
from tests.conformance.backend import BackendConformance
from tests.conformance.world import LEDGER_ID, Backend

REQUIRED = os.environ.get("CARBONLEDGER_REQUIRE_EVM") == "1"


def _need_evm() -> Any:
    try:
        from carbonledger.adapters.evm import anvil
    except ImportError as exc:
        if REQUIRED:
            raise
        pytest.skip(reason=f"the [evm] extra is not installed ({exc})")
    if anvil.find_anvil() is None:
        if REQUIRED:
            pytest.fail("anvil is required (CARBONLEDGER_REQUIRE_EVM=1): run npm ci in contracts/")
        pytest.skip(
            reason="anvil not found: run `npm ci` in contracts/ (or set CARBONLEDGER_ANVIL)"
        )
    return anvil


def evm_backend(url: str) -> Backend:
    """The EVM backend on the node at ``url``: a fresh deployment for each world, its
    off-chain mirror in SQLite."""
    from carbonledger.adapters.evm import EvmLedger, Rpc, deploy

    def open_ledger(admin: PrivateKey, path: Path) -> tuple[LedgerPort, ChannelStore]:
        rpc = Rpc(url)
        info = deploy(rpc, admin, LEDGER_ID)
        ledger = EvmLedger(
            rpc, info["address"], path / "offchain.db", admin, deploy_block=info["block"]
        )
        return ledger, ledger.channels

    return open_ledger


class TestEvmLedger(BackendConformance):
    FOLLOWS_CHAIN = True

    @pytest.fixture
    def chain_url(self, anvil_url: str) -> str:
        """The node the suite runs on (a subclass may give another)."""
        return anvil_url

    @pytest.fixture
    def backend(self, chain_url: str) -> Backend:
        return evm_backend(chain_url)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    from tests.conformance.pg import server_url

    return server_url()


class TestEvmPostgresLedger(TestEvmLedger):
    """The whole suite again on anvil, with the off-chain store in PostgreSQL (one database
    per test, schema by the alembic scripts): skipped when PostgreSQL is absent, failing
    instead under ``CARBONLEDGER_REQUIRE_EVM=1``."""

    @pytest.fixture
    def backend(self, anvil_url: str, postgres_server: str) -> Iterator[Backend]:
        from carbonledger.adapters.evm import EvmLedger, Rpc, deploy
        from tests.conformance.pg import fresh_database

        databases = fresh_database(postgres_server)
        url = next(databases)

        def open_ledger(admin: PrivateKey, path: Path) -> tuple[LedgerPort, ChannelStore]:
            rpc = Rpc(anvil_url)
            info = deploy(rpc, admin, LEDGER_ID)
            ledger = EvmLedger(rpc, info["address"], url, admin, deploy_block=info["block"])
            return ledger, ledger.channels

        yield open_ledger
        databases.close()


def _evm_world(anvil_url: str, path: Path) -> Any:
    from tests.conformance.world import build_world

    return build_world(evm_backend(anvil_url), path)


def test_the_chain_enforces_limited_mode(
    anvil_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carbonledger.adapters.evm import calls as evm_calls
    from carbonledger.errors import PermissionDenied
    from carbonledger.services import dao
    from tests.conformance.suite import DAO_PARAMS, _rec

    w = _evm_world(anvil_url, tmp_path)
    dao.setup(w.ledger, w.admin, params={**DAO_PARAMS, "limited_mode": True})
    monkeypatch.setattr(evm_calls, "apply", lambda *args, **kwargs: None)
    with pytest.raises(PermissionDenied, match=r"limited mode: .* LimitedMode"):
        _rec(w, 10)


def test_the_chain_refuses_what_the_dao_rules_refuse(
    anvil_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DAO transactions sent with the core's rules skipped: the Governor alone refuses them,
    with the error class the embedded backend raises; none reaches the mirror."""
    from carbonledger.adapters.evm import calls as evm_calls
    from carbonledger.adapters.evm import ledger as evm_ledger
    from carbonledger.core.tx import build_tx, utc_now
    from carbonledger.errors import Conflict, DuplicateEntity, InvalidInput, PermissionDenied
    from carbonledger.services import dao
    from tests.conformance.suite import _fund_proposal, _wait_for

    w = _evm_world(anvil_url, tmp_path)
    pid = _fund_proposal(w)

    def raw(key: PrivateKey, tx_type: str, item: dict[str, Any], *, lag_ms: int = 0) -> None:
        nonce = w.ledger.state().next_nonce(key.address)
        tx = build_tx(
            key, tx_type=tx_type, ledger_id=LEDGER_ID, nonce=nonce, created=utc_now(), items=[item]
        )
        with monkeypatch.context() as m:
            m.setattr(evm_calls, "apply", lambda *args, **kwargs: None)
            if lag_ms:
                hints = evm_ledger.EvmLedger._hints
                m.setattr(
                    evm_ledger.EvmLedger,
                    "_hints",
                    staticmethod(lambda s, t, i, now_ms: hints(s, t, i, now_ms - lag_ms)),
                )
            w.ledger.submit([tx])

    def vote(amount: int, choices: list[str]) -> dict[str, Any]:
        return {"kind": "vote", "proposal": pid, "amount": amount, "choices": choices}

    size = w.ledger.state().size
    with pytest.raises(Conflict, match="voting has not opened yet"):
        raw(w.bob, "dao_vote", vote(10, ["for"]))
    issue = {"kind": "dao_issue", "id": "more", "to": w.alice.address, "amount": 5}
    with pytest.raises(PermissionDenied, match="not the network admin"):
        raw(w.alice, "dao_issue", issue)
    give = {"kind": "dao_transfer", "id": "all", "to": w.alice.address, "amount": 100_001}
    with pytest.raises(Conflict, match="more DAO tokens asked than available"):
        raw(w.bob, "dao_transfer", give)
    _wait_for(w.ledger.state().dao[f"proposal:{pid}"]["vote_start"])
    # The ledger time travels in the hints: the chain bounds it by its block's second
    # (the time skew of a deployment the adapter mines is 0).
    with pytest.raises(Conflict, match="not within the block's second"):
        raw(w.bob, "dao_vote", vote(10, ["for"]), lag_ms=5_000)
    with pytest.raises(InvalidInput, match="BadChoices"):
        raw(w.bob, "dao_vote", vote(10, ["for", "for"]))
    dao.vote(w.ledger, w.bob, pid, amount=100_000, choice="for")
    with pytest.raises(DuplicateEntity, match="already voted"):
        raw(w.bob, "dao_vote", vote(10, ["for"]))
    _wait_for(w.ledger.state().dao[f"proposal:{pid}"]["vote_end"], 1)
    with pytest.raises(Conflict, match=r"voting is closed \(the proposal is Succeeded\)"):
        raw(w.offsets, "dao_vote", vote(10, ["for"]))
    execute = {"kind": "dao_execute", "proposal": pid}
    with pytest.raises(Conflict, match="the proposal is Succeeded"):
        raw(w.bob, "dao_execute", execute)
    dao.queue(w.ledger, w.bob, pid)
    with pytest.raises(Conflict, match="the timelock runs until"):
        raw(w.bob, "dao_execute", execute)
    assert w.ledger.state().size == size + 2  # the vote and the queue
    report = w.ledger.verify()
    assert report.ok, report.error
