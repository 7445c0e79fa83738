"""Devices, meters and utilities: registration of their DIDs to sites and accounts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from carbonledger.core.state import LedgerState

__all__ = ["RULES"]

RULES: dict[str, Callable[[LedgerState, dict[str, Any], Sequence[dict[str, Any]]], None]] = {}
