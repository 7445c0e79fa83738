"""Emission factors, editions, locations and resolutions as pure values.

Nothing here reads a file: loaders in :mod:`carbonledger.factors` build these
values, the calculator consumes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from carbonledger.core.units import split_rate_unit
from carbonledger.errors import InvalidInput

__all__ = [
    "FACTOR_FIELDS",
    "Edition",
    "EmissionFactor",
    "Location",
    "Resolution",
]

#: Column order of the factor CSV format (the shipped DEFRA extracts, user editions).
FACTOR_FIELDS: tuple[str, ...] = (
    "dataset",
    "edition",
    "revision",
    "data_year",
    "region_level",
    "region_key",
    "region_name",
    "activity",
    "basis",
    "gas",
    "value",
    "unit",
    "renewable_pct",
    "nonrenewable_pct",
    "source",
)


def _opt(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class EmissionFactor:
    """Mass of one gas emitted per unit of activity, for one region and year.

    ``unit`` is ``MASS/ACTIVITY`` (``"lb/MWh"``, ``"g/kWh"``, ``"kg/m3"``);
    ``basis`` qualifies the activity unit where the source does (DEFRA fuels:
    ``"gross CV"``).  ``renewable_pct``/``nonrenewable_pct`` are the region's
    generation fuel mix, for electricity only.
    """

    dataset: str
    edition: str
    revision: str
    data_year: int
    region_level: str
    region_key: str
    activity: str
    gas: str
    value: Decimal
    unit: str
    source: str
    region_name: str = ""
    basis: str = ""
    renewable_pct: Decimal | None = None
    nonrenewable_pct: Decimal | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.value, Decimal) or not self.value.is_finite():
            raise InvalidInput(f"factor value must be a finite Decimal, got {self.value!r}")
        split_rate_unit(self.unit)  # raises on a malformed unit

    @property
    def mass_unit(self) -> str:
        """Canonical mass unit of the numerator (``"lb"``)."""
        return split_rate_unit(self.unit)[0]

    @property
    def activity_unit(self) -> str:
        """Canonical activity unit of the denominator (``"MWh"``)."""
        return split_rate_unit(self.unit)[1]

    def to_dict(self) -> dict[str, str | int | None]:
        """Return a JSON-able dict; Decimals become strings, never floats."""
        return {
            "dataset": self.dataset,
            "edition": self.edition,
            "revision": self.revision,
            "data_year": self.data_year,
            "region_level": self.region_level,
            "region_key": self.region_key,
            "region_name": self.region_name,
            "activity": self.activity,
            "basis": self.basis,
            "gas": self.gas,
            "value": str(self.value),
            "unit": self.unit,
            "renewable_pct": _opt(self.renewable_pct),
            "nonrenewable_pct": _opt(self.nonrenewable_pct),
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class Edition:
    """One loaded edition of a dataset (``egrid2022``, ``defra2024`` ...).

    ``data_year`` is the latest data year in the edition (EEA editions hold a
    series of years; each factor carries its own).  ``warnings`` lists the
    contradictions found in the data at load time.
    """

    dataset: str
    edition: str
    revision: str
    data_year: int
    source: str
    factors: tuple[EmissionFactor, ...]
    warnings: tuple[str, ...] = ()
    origin: str = "package"

    def summary(self) -> dict[str, Any]:
        """Return a JSON-able summary (no factor values)."""
        return {
            "dataset": self.dataset,
            "edition": self.edition,
            "revision": self.revision,
            "data_year": self.data_year,
            "factors": len(self.factors),
            "source": self.source,
            "origin": self.origin,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class Location:
    """Where an activity happened; give as much as is known.

    ``utility_id`` is the EIA utility number.  ``country`` may be ISO-2, ISO-3
    or an English name; the resolver normalises it.
    """

    zip: str | None = None
    utility_id: str | None = None
    subregion: str | None = None
    state: str | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        for name in ("zip", "utility_id", "subregion", "state", "country"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidInput(f"location {name} must be a string, got {value!r}")
            if value is not None:
                cleaned = value.strip()
                if name in ("subregion", "state"):
                    cleaned = cleaned.upper()
                object.__setattr__(self, name, cleaned or None)

    def to_dict(self) -> dict[str, str | None]:
        """Return the fields that were given, as a JSON-able dict."""
        return {
            "zip": self.zip,
            "utility_id": self.utility_id,
            "subregion": self.subregion,
            "state": self.state,
            "country": self.country,
        }


@dataclass(frozen=True, slots=True)
class Resolution:
    """The factors chosen for an activity at a location, and how they were chosen.

    ``co2e`` is the factor used for ``kg_co2e``; when the dataset publishes no
    CO2e rate (EEA, Ember, eGRID2020) it is the CO2 factor and
    ``co2e_is_co2_proxy`` is true, which the steps and the trace state.
    ``variants`` holds the same region's factors per other activity unit
    (DEFRA natural gas per kWh, m3 and tonne) so one resolution serves bills in
    any unit.  ``steps`` records every choice and fallback, in order.
    """

    activity: str
    location: Location
    level: str
    scope: str
    co2e: EmissionFactor
    co2: EmissionFactor | None
    steps: tuple[str, ...]
    co2e_is_co2_proxy: bool = False
    alternatives: tuple[str, ...] = ()
    variants: tuple[tuple[EmissionFactor, EmissionFactor | None], ...] = ()
    # Per-unit calculation plans built by the calculator; a cache, not state.
    _plans: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able description of the resolution."""
        return {
            "activity": self.activity,
            "location": self.location.to_dict(),
            "level": self.level,
            "scope": self.scope,
            "co2e_is_co2_proxy": self.co2e_is_co2_proxy,
            "steps": list(self.steps),
            "alternatives": list(self.alternatives),
            "factor": self.co2e.to_dict(),
            "factor_co2": None if self.co2 is None else self.co2.to_dict(),
        }
