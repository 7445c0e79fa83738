"""Business travel: a flight from two airport codes, calculated with its trace.

The distance comes from the airports' coordinates (``airportsdata``); the haul
class, uplift and dataset follow :mod:`carbonledger.core.travel`.  With DEFRA both
results are given, with and without radiative forcing; the EPA Hub (used for a
US organisation) publishes one factor per haul class.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from carbonledger.core.calculator import CalculationResult, calculate
from carbonledger.core.factor_values import Location
from carbonledger.core.travel import Flight, plan_flight, with_basis
from carbonledger.errors import InvalidInput
from carbonledger.factors.airports import airport
from carbonledger.factors.catalog import FactorCatalog
from carbonledger.factors.countries import normalise_country

__all__ = ["FlightResult", "flight"]


@dataclass(frozen=True, slots=True)
class FlightResult:
    """A flight's plan and its result per factor basis (``with RF``, ``without RF`` or ``""``)."""

    plan: Flight
    passengers: int
    pkm: Decimal
    results: dict[str, CalculationResult]

    @property
    def kg_co2e(self) -> Decimal:
        """The headline figure: with radiative forcing where the dataset gives it."""
        return self.results.get("with RF", next(iter(self.results.values()))).kg_co2e

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: distances, class, factors and traces per basis."""
        p = self.plan
        return {
            "from": {"code": p.origin.code, "country": p.origin.country, "name": p.origin.name},
            "to": {
                "code": p.destination.code,
                "country": p.destination.country,
                "name": p.destination.name,
            },
            "great_circle_km": str(p.great_circle_km),
            "uplift": str(p.uplift),
            "distance_km": str(p.distance_km),
            "passengers": self.passengers,
            "passenger_km": str(self.pkm),
            "haul": p.haul,
            "cabin": p.cabin,
            "kg_co2e": str(self.kg_co2e),
            "by_basis": {
                basis or "single": {
                    "kg_co2e": str(r.kg_co2e),
                    "factor": r.trace["factor"],
                    "trace": r.trace,
                }
                for basis, r in self.results.items()
            },
        }


def flight(
    catalog: FactorCatalog,
    origin: str,
    destination: str,
    *,
    cabin: str = "average",
    passengers: int = 1,
    year: int | None = None,
    country: str | None = None,
    gwp: str = "AR5",
) -> FlightResult:
    """Emissions of one flight; ``country`` is the reporting organisation's (US -> EPA Hub)."""
    if passengers < 1:
        raise InvalidInput(f"passengers must be at least 1, got {passengers}")
    org = normalise_country(country) if country else None
    dataset = "EPA-Hub" if org == "US" else "DEFRA"
    a, b = airport(origin), airport(destination)
    probe = plan_flight(a, b, "average", dataset=dataset, cabins_available={"average"})
    prefix = f"flight_{probe.haul}_"
    editions = [catalog.edition(i.edition) for i in catalog.infos(dataset)]
    cabins = {
        f.activity.removeprefix(prefix)
        for ed in editions
        for f in ed.factors
        if f.activity.startswith(prefix)
    }
    plan = plan_flight(a, b, cabin, dataset=dataset, cabins_available=cabins)
    location = Location(country=org or "GB")
    resolution = catalog.resolve(plan.activity, location, year=year, gwp=gwp)
    resolution = replace(resolution, steps=(*plan.steps, *resolution.steps), _plans={})
    pkm = plan.distance_km * passengers
    bases = sorted({p[0].basis for p in [(resolution.co2e, None), *resolution.variants]})
    if len(bases) == 1:  # one factor (the EPA Hub): no radiative forcing variants
        results = {"": calculate(pkm, "pkm", resolution)}
    else:
        results = {b: calculate(pkm, "pkm", with_basis(resolution, b)) for b in bases}
    return FlightResult(plan, passengers, pkm, results)
