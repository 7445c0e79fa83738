"""Market-based Scope 2 (GHG Protocol Scope 2 Guidance, 2015), beside location-based. Pure.

Inputs are electricity consumption per site and month (from the emissions
records: kWh, the recorded location-based kg CO2e and the location factor) and
the RECs *retired for the organisation*. Each retirement is applied under the
Guidance's quality criteria as follows:

* **market boundary** (criterion 6): with ``boundary="grid_region"`` (default) the
  certificate's grid region must equal the site's (its eGRID subregion in the US,
  its country elsewhere); with ``boundary="country"`` the countries must match
  (eGRID subregions count as ``US``), the looser US practice;
* **vintage** (criterion 5, "as close as possible to the period of consumption"):
  the whole generation period must lie within the consumption's calendar year,
  widened by :class:`VintageRule` ``months_before`` (default 6) and
  ``months_after`` (default 3): the Green-e Energy window;
* a retirement that names a site applies only to that site, one that names a
  period only to consumption months overlapping it;
* **each certificate once, capped at consumption** (criteria 3 and 4): every
  retirement has its kWh (MWh x 1000) to give; a site-month takes at most its own
  consumption. Site-months are served in month order, then site id; each takes
  first the retirements naming it, then the others, oldest generation first,
  then ledger order. Whatever is left is reported as unapplied, with the reason.

Emissions, per site and month (kg CO2e, Decimal, quantum 0.000001 half-even)::

    location_kg = sum of the records' kg_co2e (as recorded)
    covered_kwh = sum of kWh applied from certificates        (<= consumption)
    market_kg   = covered_kwh x certificate rate (0 for renewable RECs)
                + residual                                    where
    residual    = round(uncovered_kwh x residual_mix[region])  when a residual mix is loaded
                = location_kg - round(covered_kwh x location factor)  otherwise

The fallback (no residual mix for the region) prices uncovered consumption at
the location-based factor and says so in the row's trace; the Guidance notes this
overstates no one's renewable claim but double counts the renewable share of
the grid mix, which is why a residual mix should be loaded where one exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from carbonledger.core.tokens.model import EGRID_SUBREGIONS
from carbonledger.errors import InvalidInput

__all__ = [
    "Certificate",
    "Consumption",
    "ResidualMix",
    "Scope2Result",
    "Scope2Row",
    "VintageRule",
    "aggregate",
    "allocate",
    "market_country",
]

KG_QUANTUM = Decimal("0.000001")
Boundary = Literal["grid_region", "country"]


def _q(value: Decimal) -> Decimal:
    return value.quantize(KG_QUANTUM, rounding=ROUND_HALF_EVEN)


def market_country(region: str) -> str:
    return "US" if region in EGRID_SUBREGIONS else region


@dataclass(frozen=True, slots=True)
class Consumption:
    """Electricity used at a site in one month, with its location-based result."""

    site: str
    month: str  # YYYY-MM
    region: str  # eGRID subregion or ISO-2 country
    kwh: Decimal
    location_kg: Decimal
    location_kg_per_kwh: Decimal
    factor: str = ""  # e.g. "egrid2023r2 RFCW 916.054 lb/MWh"
    records: tuple[str, ...] = ()

    @property
    def start(self) -> date:
        return date.fromisoformat(self.month + "-01")

    @property
    def end(self) -> date:
        y, m = self.start.year, self.start.month
        return date.fromordinal(date(y + (m == 12), m % 12 + 1, 1).toordinal() - 1)


@dataclass(frozen=True, slots=True)
class Certificate:
    """A REC retirement for the organisation: what it can cover, where and when."""

    id: str  # the retirement's ledger id
    token: str
    serial: str
    kwh: Decimal
    region: str
    generation_start: date
    generation_end: date
    site: str | None = None
    period: tuple[date, date] | None = None
    kg_per_kwh: Decimal = Decimal(0)
    order: int = 0  # ledger position


@dataclass(frozen=True, slots=True)
class ResidualMix:
    region: str
    kg_per_kwh: Decimal
    source: str


@dataclass(frozen=True, slots=True)
class VintageRule:
    """Generation must lie in the consumption year widened by these months."""

    months_before: int = 6
    months_after: int = 3

    def window(self, year: int) -> tuple[date, date]:
        def shift(y: int, m: int, months: int) -> tuple[int, int]:
            total = y * 12 + (m - 1) + months
            return total // 12, total % 12 + 1

        y0, m0 = shift(year, 1, -self.months_before)
        y1, m1 = shift(year, 12, self.months_after)
        end = date.fromordinal(date(y1 + (m1 == 12), m1 % 12 + 1, 1).toordinal() - 1)
        return date(y0, m0, 1), end

    def describe(self) -> str:
        return (
            f"generation within the consumption year, from {self.months_before} months before"
            f" to {self.months_after} months after"
        )


@dataclass
class Scope2Row:
    site: str
    month: str
    region: str
    kwh: Decimal
    covered_kwh: Decimal
    location_kg: Decimal
    market_kg: Decimal
    applied: list[dict[str, str]] = field(default_factory=list)
    trace: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "month": self.month,
            "region": self.region,
            "kwh": str(self.kwh),
            "covered_kwh": str(self.covered_kwh),
            "uncovered_kwh": str(self.kwh - self.covered_kwh),
            "location_kg_co2e": str(self.location_kg),
            "market_kg_co2e": str(self.market_kg),
            "applied": self.applied,
            "trace": self.trace,
        }


@dataclass
class Scope2Result:
    rows: list[Scope2Row]
    unapplied: list[dict[str, str]]
    criteria: dict[str, str]

    @property
    def location_kg(self) -> Decimal:
        return sum((r.location_kg for r in self.rows), Decimal(0))

    @property
    def market_kg(self) -> Decimal:
        return sum((r.market_kg for r in self.rows), Decimal(0))

    @property
    def kwh(self) -> Decimal:
        return sum((r.kwh for r in self.rows), Decimal(0))

    @property
    def covered_kwh(self) -> Decimal:
        return sum((r.covered_kwh for r in self.rows), Decimal(0))

    def by_site(self) -> dict[str, dict[str, Decimal]]:
        out: dict[str, dict[str, Decimal]] = {}
        for r in self.rows:
            s = out.setdefault(
                r.site,
                {
                    "kwh": Decimal(0),
                    "covered_kwh": Decimal(0),
                    "location_kg": Decimal(0),
                    "market_kg": Decimal(0),
                },
            )
            s["kwh"] += r.kwh
            s["covered_kwh"] += r.covered_kwh
            s["location_kg"] += r.location_kg
            s["market_kg"] += r.market_kg
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "totals": {
                "kwh": str(self.kwh),
                "covered_kwh": str(self.covered_kwh),
                "location_kg_co2e": str(self.location_kg),
                "market_kg_co2e": str(self.market_kg),
            },
            "criteria": self.criteria,
            "rows": [r.to_dict() for r in self.rows],
            "unapplied": self.unapplied,
        }


def _eligible(
    cert: Certificate, row: Consumption, boundary: Boundary, vintage: VintageRule
) -> str | None:
    """Why ``cert`` may not cover ``row`` (None if it may)."""
    if cert.site is not None and cert.site != row.site:
        return f"retired for site {cert.site}"
    if boundary == "grid_region" and cert.region != row.region:
        return f"grid region {cert.region} is not the site's {row.region}"
    if boundary == "country" and market_country(cert.region) != market_country(row.region):
        return (
            f"market {market_country(cert.region)} is not the site's {market_country(row.region)}"
        )
    lo, hi = vintage.window(row.start.year)
    if cert.generation_start < lo or cert.generation_end > hi:
        return f"generation {cert.generation_start}..{cert.generation_end} is outside {lo}..{hi}"
    if cert.period is not None and (cert.period[1] < row.start or cert.period[0] > row.end):
        return f"retired for {cert.period[0]}..{cert.period[1]}"
    return None


def allocate(
    consumption: Sequence[Consumption],
    certificates: Sequence[Certificate],
    residual: Mapping[str, ResidualMix] | None = None,
    *,
    boundary: Boundary = "grid_region",
    vintage: VintageRule | None = None,
) -> Scope2Result:
    """Apply ``certificates`` to ``consumption``; location and market based per site-month."""
    if boundary not in ("grid_region", "country"):
        raise InvalidInput(f"boundary must be 'grid_region' or 'country', got {boundary!r}")
    vintage = vintage or VintageRule()
    residual = residual or {}
    for c in consumption:
        if c.kwh < 0 or c.location_kg < 0:
            raise InvalidInput(f"consumption of {c.site} in {c.month} is negative")
    left = {c.id: c.kwh for c in certificates}
    if len(left) != len(certificates):
        raise InvalidInput("a certificate retirement is listed twice")
    ordered = sorted(certificates, key=lambda c: (c.generation_start, c.order, c.id))
    rows: list[Scope2Row] = []
    last_reason: dict[str, str] = {}
    for row in sorted(consumption, key=lambda c: (c.month, c.site)):
        need = row.kwh
        applied: list[dict[str, str]] = []
        covered_kg = Decimal(0)
        for cert in sorted(ordered, key=lambda c: c.site != row.site):  # stable: named first
            if need == 0:
                break
            if left[cert.id] == 0:
                continue
            reason = _eligible(cert, row, boundary, vintage)
            if reason is not None:
                last_reason[cert.id] = reason
                continue
            take = min(left[cert.id], need)
            left[cert.id] -= take
            need -= take
            covered_kg += take * cert.kg_per_kwh
            applied.append(
                {
                    "retirement": cert.id,
                    "token": cert.token,
                    "serial": cert.serial,
                    "kwh": str(take),
                }
            )
        rows.append(_row(row, row.kwh - need, _q(covered_kg), applied, residual.get(row.region)))
    unapplied = [
        {
            "retirement": c.id,
            "token": c.token,
            "kwh": str(left[c.id]),
            "reason": last_reason.get(c.id, "no eligible consumption left to cover"),
        }
        for c in certificates
        if left[c.id] > 0
    ]
    criteria = {
        "boundary": boundary,
        "vintage": vintage.describe(),
        "order": "site-months in month then site order; named retirements first, then oldest"
        " generation, then ledger order",
        "residual_fallback": "location-based factor where no residual mix is loaded",
    }
    return Scope2Result(rows, unapplied, criteria)


def _row(
    row: Consumption,
    covered: Decimal,
    covered_kg: Decimal,
    applied: list[dict[str, str]],
    mix: ResidualMix | None,
) -> Scope2Row:
    uncovered = row.kwh - covered
    trace: dict[str, Any] = {
        "records": list(row.records),
        "location_factor": row.factor,
        "location_kg_per_kwh": str(row.location_kg_per_kwh),
        "certificates_kg": str(covered_kg),
    }
    if uncovered == 0:
        rest = Decimal(0)
        trace["residual"] = "all consumption covered by certificates"
    elif mix is not None:
        rest = _q(uncovered * mix.kg_per_kwh)
        trace["residual"] = {
            "formula": "round(uncovered_kwh x residual_kg_per_kwh, 0.000001)",
            "region": mix.region,
            "kg_per_kwh": str(mix.kg_per_kwh),
            "source": mix.source,
        }
    else:
        rest = max(row.location_kg - _q(covered * row.location_kg_per_kwh), Decimal(0))
        trace["residual"] = {
            "formula": "location_kg - round(covered_kwh x location_kg_per_kwh, 0.000001)",
            "fallback": f"no residual mix loaded for {row.region}: uncovered consumption takes"
            f" the location-based factor ({row.factor})",
        }
    return Scope2Row(
        row.site,
        row.month,
        row.region,
        row.kwh,
        covered,
        row.location_kg,
        covered_kg + rest,
        applied,
        trace,
    )


def aggregate(rows: Iterable[Consumption]) -> list[Consumption]:
    """Merge consumption of the same site, month and location factor."""
    out: dict[tuple[str, str, Decimal], Consumption] = {}
    for c in rows:
        key = (c.site, c.month, c.location_kg_per_kwh)
        old = out.get(key)
        out[key] = (
            c
            if old is None
            else Consumption(
                c.site,
                c.month,
                c.region,
                old.kwh + c.kwh,
                old.location_kg + c.location_kg,
                c.location_kg_per_kwh,
                c.factor,
                old.records + c.records,
            )
        )
    return list(out.values())
