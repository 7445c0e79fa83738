"""The conformance suite on the embedded SQLite ledger (the reference backend)."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.crypto.keys import PrivateKey
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort
from tests.conformance.backend import BackendConformance
from tests.conformance.world import Backend


class TestEmbeddedLedger(BackendConformance):
    @pytest.fixture
    def backend(self) -> Backend:
        def open_ledger(admin: PrivateKey, path: Path) -> tuple[LedgerPort, ChannelStore]:
            ledger = SqliteLedger(path / "ledger.db", operator=admin)
            return ledger, ledger.channels

        return open_ledger
