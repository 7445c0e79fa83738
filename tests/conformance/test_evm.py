"""The conformance suite on the EVM backend: CarbonLedger on anvil, an off-chain mirror.

Skipped when anvil (npm ``@foundry-rs/anvil`` in contracts/) or the ``[evm]``
extra is absent; with ``CARBONLEDGER_REQUIRE_EVM=1`` (CI) those fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from carbonledger.crypto.keys import PrivateKey
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort
from tests.conformance.suite import LedgerConformance
from tests.conformance.world import LEDGER_ID, Backend

REQUIRED = os.environ.get("CARBONLEDGER_REQUIRE_EVM") == "1"


def _need_evm() -> Any:
    try:
        from carbonledger.adapters.evm import anvil
    except ImportError as exc:
        if REQUIRED:
            raise
        pytest.skip(f"the [evm] extra is not installed ({exc})")
    if anvil.find_anvil() is None:
        if REQUIRED:
            pytest.fail("anvil is required (CARBONLEDGER_REQUIRE_EVM=1): run npm ci in contracts/")
        pytest.skip("anvil not found: run `npm ci` in contracts/ (or set CARBONLEDGER_ANVIL)")
    return anvil


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    anvil = _need_evm()
    node = anvil.Anvil()
    yield node.url
    node.stop()


class TestEvmLedger(LedgerConformance):
    @pytest.fixture
    def backend(self, anvil_url: str) -> Backend:
        from carbonledger.adapters.evm import EvmLedger, Rpc, deploy

        def open_ledger(admin: PrivateKey, path: Path) -> tuple[LedgerPort, ChannelStore]:
            rpc = Rpc(anvil_url)
            info = deploy(rpc, admin, LEDGER_ID)
            ledger = EvmLedger(
                rpc, info["address"], path / "offchain.db", admin, deploy_block=info["block"]
            )
            return ledger, ledger.channels

        return open_ledger


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
