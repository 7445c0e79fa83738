"""The conformance suite through group commit: the wrapper is one more implementation
of the port (the API puts it in front of whichever backend a home uses)."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonledger.adapters.group_commit import GroupCommitLedger
from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.crypto.keys import PrivateKey
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort
from tests.conformance.backend import BackendConformance
from tests.conformance.world import Backend


class TestGroupCommitOverEmbedded(BackendConformance):
    @pytest.fixture
    def backend(self) -> Backend:
        def open_ledger(admin: PrivateKey, path: Path) -> tuple[LedgerPort, ChannelStore]:
            ledger = GroupCommitLedger(SqliteLedger(path / "ledger.db", operator=admin))
            return ledger, ledger.channels

        return open_ledger
