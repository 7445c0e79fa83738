from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from carbonledger.crypto.keys import PrivateKey
from tests.cli_helpers import cli  # noqa: F401  (fixture for the CLI tests)


@pytest.fixture
def admin() -> PrivateKey:
    return PrivateKey.from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    """One anvil for the session (each test deploys its own contracts on it)."""
    from tests.conformance.test_evm import _need_evm

    node = _need_evm().Anvil()
    try:
        yield node.url
    finally:
        node.stop()


@pytest.fixture(scope="session")
def hardhat_url() -> Iterator[str]:
    """One Hardhat node for the session, like :func:`anvil_url`."""
    from tests.conformance.test_hardhat import _need_hardhat

    node = _need_hardhat().Hardhat()
    try:
        yield node.url
    finally:
        node.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What was skipped, grouped by what is missing, with the command that installs it."""
    from tests.skip_summary import paragraph

    text = paragraph(terminalreporter.stats.get("skipped", []))
    if text:
        terminalreporter.write_sep("-", "skipped")
        terminalreporter.write_line(text)
