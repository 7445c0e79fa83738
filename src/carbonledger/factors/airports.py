"""Airports by IATA code, from the maintained ``airportsdata`` package."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

from carbonledger.core.travel import Airport
from carbonledger.errors import InvalidInput

__all__ = ["airport"]


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    import airportsdata

    table: dict[str, Any] = airportsdata.load("IATA")
    return table


def airport(code: str) -> Airport:
    """The airport with IATA ``code``; InvalidInput naming an unknown code."""
    key = code.strip().upper()
    row = _table().get(key)
    if row is None:
        raise InvalidInput(f"unknown airport {code!r}: not an IATA code in airportsdata")
    return Airport(
        code=key,
        country=str(row["country"]),
        lat=Decimal(repr(float(row["lat"]))),
        lon=Decimal(repr(float(row["lon"]))),
        name=str(row.get("name", "")),
    )
