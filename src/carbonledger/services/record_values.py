"""The one place reports read a record's results (kg CO2e), whichever side holds them.

A record's result may be public on the ledger item or, for a member, only in
its trace once the sealed details are opened; reports call :func:`record_kg`
and never read the item's field directly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from carbonledger.errors import PermissionDenied

__all__ = ["record_kg"]


def record_kg(record: dict[str, Any], trace: dict[str, Any] | None = None) -> Decimal:
    """kg CO2e of ``record``: from its full ``trace`` if given, else its public field."""
    results = (trace or {}).get("results") or {}
    value = results.get("kg_co2e", record.get("kg_co2e"))
    if value is None:
        raise PermissionDenied(
            f"record {record.get('id')}: its result is sealed; a member's key is needed"
        )
    return Decimal(str(value))
