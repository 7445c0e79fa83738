"""The ledger's history as a transparency log: verify a home, prune blobs, serve proofs."""

from __future__ import annotations

from typing import Any

from carbonledger.errors import ConfigurationError
from carbonledger.ports.ledger import VerifyReport
from carbonledger.services.home import Home

__all__ = ["prune_blobs", "verify_home"]


def verify_home(home: Home, *, max_errors: int = 100) -> VerifyReport:
    """``verify`` of the home's ledger, plus what only the home knows.

    A home that created a ledger (config.json names it) must find its genesis: an
    empty ledger file there is a lost ledger, not an empty one.
    """
    config = home.config()
    ledger = home.ledger()
    try:
        report = ledger.verify(max_errors=max_errors)
    finally:
        ledger.close()
    if report.entries == 0 and config.get("ledger_id") and config.get("backend") != "evm":
        reason = (
            f"this home created ledger {config['ledger_id']}, but {home.ledger_file} holds"
            " no entries: the file was truncated or replaced"
        )
        report.ok = False
        report.error = report.error or reason
        report.errors.insert(0, {"entry": None, "leaf": None, "error": reason})
    return report


def prune_blobs(home: Home, *, delete: bool) -> list[str]:
    """Unreferenced sealed blobs of the home's embedded ledger; removed with ``delete``."""
    if home.backend != "embedded":
        raise ConfigurationError("blobs prune works on the embedded ledger only")
    ledger = home.ledger()
    try:
        ids: list[Any] = ledger.prune_blobs(delete=delete)
    finally:
        ledger.close()
    return [str(i) for i in ids]
