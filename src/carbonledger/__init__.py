"""carbonledger: utility bills to emissions, with real factors and a full trace,
recorded on a tamper-evident ledger."""

from __future__ import annotations

from carbonledger.errors import CarbonLedgerError

__all__ = ["CarbonLedgerError", "__version__"]

__version__ = "0.1.0"
