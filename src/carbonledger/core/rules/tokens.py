"""Token network rules: certificates, offsets, audited emissions (issue, transfer, retire)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from carbonledger.core.state import LedgerState

__all__ = ["RULES"]

RULES: dict[str, Callable[[LedgerState, dict[str, Any], Sequence[dict[str, Any]]], None]] = {}
