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


def test_a_group_commit_settles_what_it_queued_for_later(tmp_path: Path) -> None:
    """Deferred submissions return no receipt at once; ``settle`` returns once they are
    in the ledger, and says so of the backend it wraps (an EVM node's, in
    tests/evm/test_losing_import.py)."""
    from tests.conformance.suite_nodes import _announce
    from tests.conformance.world import build_world

    def open_ledger(admin: PrivateKey, path: Path) -> tuple[LedgerPort, ChannelStore]:
        ledger = GroupCommitLedger(SqliteLedger(path / "ledger.db", operator=admin))
        return ledger, ledger.channels

    w = build_world(open_ledger, tmp_path)
    ledger = w.ledger
    assert isinstance(ledger, GroupCommitLedger)
    try:
        assert ledger.follows_chain is False
        size = ledger.state().size
        with ledger.deferred():
            assert ledger.submit([_announce(w, w.admin, "https://acme.example")]) == []
        ledger.settle()
        assert ledger.inner.state().size == size + 1  # in the wrapped ledger itself
    finally:
        ledger.close()
