"""Governance rules: the DAO's token, proposals, votes, timelock and execution."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from carbonledger.core.state import LedgerState

__all__ = ["RULES"]

RULES: dict[str, Callable[[LedgerState, dict[str, Any], Sequence[dict[str, Any]]], None]] = {}
