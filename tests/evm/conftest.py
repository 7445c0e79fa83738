"""Fixtures of the EVM tests: a chain of their own for each test that asks for ``node``;
the conformance world on the embedded ledger (``embedded``) and on the session's anvil
(``chain``), for the tests that set the same attack against both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carbonledger.crypto.keys import PrivateKey
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort
from tests.conformance.test_evm import _evm_world, _need_evm
from tests.conformance.world import World, build_world


@pytest.fixture
def node() -> Iterator[Any]:
    """A fresh anvil (mining only when asked), stopped and removed after the test."""
    with _need_evm().Anvil() as running:
        yield running


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[World]:
    from carbonledger.adapters.sqlite.ledger import SqliteLedger

    def backend(admin: PrivateKey, path: Path) -> tuple[LedgerPort, ChannelStore]:
        ledger = SqliteLedger(path / "ledger.db", operator=admin)
        return ledger, ledger.channels

    w = build_world(backend, tmp_path)
    yield w
    w.ledger.close()  # type: ignore[attr-defined]


@pytest.fixture
def chain(anvil_url: str, tmp_path: Path) -> Iterator[World]:
    w = _evm_world(anvil_url, tmp_path)
    yield w
    w.ledger.close()  # type: ignore[attr-defined]
