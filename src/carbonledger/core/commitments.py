"""Salted commitments to private record details (pure)."""

from __future__ import annotations

from typing import Any

from carbonledger.core.canonical import canonical
from carbonledger.crypto.sealed import commitment

__all__ = ["detail_commitment"]


def detail_commitment(detail: dict[str, Any]) -> str:
    """SHA-256 commitment to a record's details; the salt travels inside the sealed detail."""
    body = {k: v for k, v in detail.items() if k != "salt"}
    return commitment(bytes.fromhex(str(detail["salt"])), canonical(body))
