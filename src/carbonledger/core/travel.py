"""Business travel and freight: scopes, flight distances and haul classes, pure.

Flights follow the UK government (DEFRA/DESNZ) method: the great-circle distance
between the two airports, plus 8 % for routing and delays; the haul class is
domestic (both ends in the UK), short haul (to/from the UK, up to 3,700 km) or
long haul (to/from the UK, over 3,700 km), and "international" between two
non-UK airports.  With the EPA Hub (US organisations) the class is by miles:
short (< 300), medium (300 to < 2,300) or long (>= 2,300), with no uplift (the
Hub prescribes none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal

from carbonledger.core.factor_values import Resolution
from carbonledger.errors import FactorNotFound, InvalidInput

__all__ = [
    "CABINS",
    "DEFRA_UPLIFT",
    "EARTH_RADIUS_KM",
    "Airport",
    "Flight",
    "great_circle_km",
    "plan_flight",
    "scope_of",
    "with_basis",
]

#: DEFRA's uplift of great-circle distances for indirect routes and delays.
DEFRA_UPLIFT = Decimal("1.08")
#: Mean Earth radius (IUGG), used by the haversine formula.
EARTH_RADIUS_KM = Decimal("6371.0088")
_SHORT_HAUL_MAX_KM = Decimal(3700)
_KM_PER_MILE = Decimal("1.609344")
CABINS = ("average", "economy", "premium_economy", "business", "first")
_TRAVEL = ("flight_", "rail_", "taxi", "car_", "motorbike", "bus", "hotel", "ferry")


def scope_of(activity: str) -> str:
    """``"1"`` for fuels, ``"3-6"`` for business travel, ``"3-4"`` for freight."""
    if activity.startswith("freight_"):
        return "3-4"
    if activity.startswith(_TRAVEL):
        return "3-6"
    return "1"


@dataclass(frozen=True, slots=True)
class Airport:
    """An airport's IATA code, ISO country and coordinates (degrees)."""

    code: str
    country: str
    lat: Decimal
    lon: Decimal
    name: str = ""


@dataclass(frozen=True, slots=True)
class Flight:
    """How a flight is counted: distances, class and the factor activity to use."""

    origin: Airport
    destination: Airport
    great_circle_km: Decimal
    uplift: Decimal
    distance_km: Decimal
    haul: str
    activity: str
    cabin: str
    steps: tuple[str, ...]


def great_circle_km(a: Airport, b: Airport) -> Decimal:
    """Haversine distance in km (to 0.001 km) on a sphere of :data:`EARTH_RADIUS_KM`."""
    lat1, lon1, lat2, lon2 = (math.radians(float(v)) for v in (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    km = 2 * float(EARTH_RADIUS_KM) * math.asin(math.sqrt(h))
    return Decimal(repr(km)).quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)


def plan_flight(
    origin: Airport, destination: Airport, cabin: str, *, dataset: str, cabins_available: set[str]
) -> Flight:
    """Classify a flight for ``dataset`` (``DEFRA`` or ``EPA-Hub``) and pick the factor activity.

    ``cabins_available`` are the cabin classes the dataset publishes for the haul
    class found; a cabin it lacks falls back to ``average`` and says so.
    """
    cabin = "_".join(cabin.strip().lower().replace("-", " ").split())
    if cabin not in CABINS:
        raise InvalidInput(f"unknown cabin class {cabin!r}; known: {', '.join(CABINS)}")
    if origin.code == destination.code:
        raise InvalidInput(f"a flight from {origin.code} to itself has no distance")
    gc = great_circle_km(origin, destination)
    steps = [
        f"great-circle distance {origin.code} ({origin.lat}, {origin.lon}) - "
        f"{destination.code} ({destination.lat}, {destination.lon}): {gc} km (haversine, "
        f"R = {EARTH_RADIUS_KM} km)"
    ]
    if dataset == "EPA-Hub":
        uplift = Decimal(1)
        miles = gc / _KM_PER_MILE
        haul = "short_haul" if miles < 300 else "medium_haul" if miles < 2300 else "long_haul"
        steps.append(f"EPA Hub haul class by distance: {miles:.1f} miles -> {haul}; no uplift")
    else:
        uplift = DEFRA_UPLIFT
        uk = {origin.country, destination.country} & {"GB"}
        if origin.country == destination.country == "GB":
            haul = "domestic"
        elif uk:
            haul = "short_haul" if gc <= _SHORT_HAUL_MAX_KM else "long_haul"
        else:
            haul = "international"
        steps.append(
            f"DEFRA haul class: {haul} ({origin.country} - {destination.country}, "
            f"{gc} km; short haul up to 3700 km to/from the UK); distance uplift 8 %"
        )
    if cabin not in cabins_available:
        steps.append(f"{dataset} has no {cabin} factor for {haul} flights; used average")
        cabin = "average"
    distance = (gc * uplift).quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)
    return Flight(
        origin,
        destination,
        gc,
        uplift,
        distance,
        haul,
        f"flight_{haul}_{cabin}",
        cabin,
        tuple(steps),
    )


def with_basis(resolution: Resolution, basis: str) -> Resolution:
    """The same resolution narrowed to the factors of one ``basis`` (``"without RF"``).

    DEFRA publishes each flight factor with and without radiative forcing; both
    are resolved together and reported side by side.
    """
    pairs = [(resolution.co2e, resolution.co2), *resolution.variants]
    chosen = [p for p in pairs if p[0].basis == basis]
    if not chosen:
        offered = sorted({p[0].basis for p in pairs})
        raise FactorNotFound(f"no {resolution.activity} factor {basis!r}; offered: {offered}")
    (co2e, co2), *rest = chosen
    return replace(
        resolution,
        co2e=co2e,
        co2=co2,
        variants=tuple(rest),
        steps=(*resolution.steps, f"factor {basis}"),
        _plans={},
    )
