"""What is made from a Green Button document: intervals, summaries and bills (frozen values).

The resources read from the file are in :mod:`carbonledger.greenbutton.model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from carbonledger.greenbutton.model import ReadingType, UsageSummary

if TYPE_CHECKING:
    from carbonledger.core.domain import Bill

__all__ = ["BillsFromGreenButton", "Interval", "MeterSummary", "Summary", "UsagePointSummary"]


@dataclass(frozen=True, slots=True)
class Interval:
    """One interval reading in the reading's own unit (``"Wh"``, ``"therm"`` ...)."""

    usage_point: str | None
    meter_reading: str | None
    start: datetime
    end: datetime
    amount: Decimal
    unit: str
    flow: str
    cost: Decimal | None = None
    currency: str | None = None
    quality: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class MeterSummary:
    """One meter reading: what it measures and its totals.

    ``total`` is in ``total_unit`` (kWh for electric energy, therm for gas
    billed in therms); it is ``None`` when the unit is not convertible or the
    values are register reads that cannot be summed.
    """

    href: str | None
    title: str | None
    reading_type: ReadingType | None
    uom: str
    flow: str
    readings: int
    start: datetime | None
    end: datetime | None
    total: Decimal | None
    total_unit: str | None
    cost: Decimal | None
    currency: str | None


@dataclass(frozen=True, slots=True)
class UsagePointSummary:
    href: str | None
    title: str | None
    kind: int | None
    kind_name: str
    meter_readings: tuple[MeterSummary, ...]
    readings: int
    start: datetime | None
    end: datetime | None
    consumption: Decimal | None
    consumption_unit: str | None
    received: Decimal | None
    cost: Decimal | None
    currency: str | None
    usage_summaries: tuple[UsageSummary, ...]


@dataclass(frozen=True, slots=True)
class Summary:
    source: str
    usage_points: tuple[UsagePointSummary, ...]
    notes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form: Decimals as strings, times as ISO 8601 UTC."""
        out: dict[str, Any] = _jsonable(self)
        return out


@dataclass(frozen=True, slots=True)
class BillsFromGreenButton:
    """Bills for the ledger and notes on what they leave out (partial months ...)."""

    bills: tuple[Bill, ...]
    notes: tuple[str, ...]


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if hasattr(value, "__dataclass_fields__"):
        out = {name: _jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
        for extra in ("unit", "uom_name", "currency_code", "kind_name"):
            if hasattr(type(value), extra) and isinstance(getattr(type(value), extra), property):
                out[extra] = getattr(value, extra)
        return out
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
