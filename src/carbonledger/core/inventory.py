"""A greenhouse gas inventory for one organisation and year: grouping and totals, pure.

Each line is the part of one record inside the year (periods split by days).
Lines group into Scope 1, Scope 2 (location-based), Scope 3 category 6
(business travel) and category 4/9 (transport and distribution); the Scope 2
market-based figure comes from the certificates report and is given as is.
Every figure lists the records and the factor editions behind it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["CATEGORIES", "Figure", "Inventory", "InventoryLine", "build_inventory"]

#: Trace scope -> (inventory key, label).
CATEGORIES: dict[str, tuple[str, str]] = {
    "1": ("scope1", "Scope 1: fuels burnt on site"),
    "2-location": ("scope2_location", "Scope 2: purchased electricity, location-based"),
    "3-6": ("scope3_cat6", "Scope 3 category 6: business travel"),
    "3-4": ("scope3_cat4", "Scope 3 category 4/9: transport and distribution"),
}


@dataclass(frozen=True, slots=True)
class InventoryLine:
    """The part of one record counted in the year."""

    record: str
    scope: str
    kg_co2e: Decimal
    edition: str
    activity: str
    days: int = 0
    total_days: int = 0


@dataclass
class Figure:
    """One figure of the inventory and what stands behind it."""

    key: str
    label: str
    kg_co2e: Decimal = Decimal(0)
    records: list[str] = field(default_factory=list)
    editions: set[str] = field(default_factory=set)
    activities: set[str] = field(default_factory=set)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kg_co2e": str(self.kg_co2e),
            "records": list(self.records),
            "factor_editions": sorted(self.editions),
            "activities": sorted(self.activities),
            "note": self.note,
        }


@dataclass
class Inventory:
    """Scope 1, Scope 2 both methods, Scope 3 by category and the totals."""

    org: str
    year: int
    figures: dict[str, Figure]

    @property
    def scope3_kg(self) -> Decimal:
        return self.figures["scope3_cat6"].kg_co2e + self.figures["scope3_cat4"].kg_co2e

    @property
    def total_location_kg(self) -> Decimal:
        f = self.figures
        return f["scope1"].kg_co2e + f["scope2_location"].kg_co2e + self.scope3_kg

    @property
    def total_market_kg(self) -> Decimal:
        f = self.figures
        return f["scope1"].kg_co2e + f["scope2_market"].kg_co2e + self.scope3_kg

    def to_dict(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "year": self.year,
            "figures": {k: f.to_dict() for k, f in self.figures.items()},
            "totals": {
                "scope3_kg_co2e": str(self.scope3_kg),
                "location_based_kg_co2e": str(self.total_location_kg),
                "market_based_kg_co2e": str(self.total_market_kg),
            },
            "method": (
                "each record's kg split across years by days; totals = Scope 1 + Scope 2"
                " (location- or market-based) + Scope 3"
            ),
        }


def build_inventory(
    org: str,
    year: int,
    lines: Iterable[InventoryLine],
    *,
    market_kg: Decimal,
    market_records: Iterable[str] = (),
    market_note: str = "",
) -> Inventory:
    """Group ``lines`` into the inventory's figures; unknown scopes are an error, not dropped."""
    figures = {key: Figure(key, label) for key, label in CATEGORIES.values()}
    for line in lines:
        found = CATEGORIES.get(line.scope)
        if found is None:
            raise ValueError(f"record {line.record}: scope {line.scope!r} has no inventory line")
        fig = figures[found[0]]
        fig.kg_co2e += line.kg_co2e
        fig.records.append(line.record)
        fig.editions.add(line.edition)
        fig.activities.add(line.activity)
    location = figures["scope2_location"]
    market = Figure(
        "scope2_market",
        "Scope 2: purchased electricity, market-based",
        market_kg,
        list(market_records),
        set(location.editions),
        set(location.activities),
        market_note,
    )
    ordered = {
        "scope1": figures["scope1"],
        "scope2_location": location,
        "scope2_market": market,
        "scope3_cat6": figures["scope3_cat6"],
        "scope3_cat4": figures["scope3_cat4"],
    }
    return Inventory(org, year, ordered)
