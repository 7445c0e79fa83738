"""Fixtures of the EVM tests: a chain of their own for each test that asks for ``node``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conformance.test_evm import _need_evm


@pytest.fixture
def node() -> Iterator[Any]:
    """A fresh anvil (mining only when asked), stopped and removed after the test."""
    with _need_evm().Anvil() as running:
        yield running
