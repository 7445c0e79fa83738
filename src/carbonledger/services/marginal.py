"""The marginal (time-of-use) report over any span: series where they cover, else non-baseload.

See :mod:`carbonledger.core.tokens.marginal_sources` for the order of sources and
the eGRID -> AVERT mapping.  Estimates in float64, labelled as such, beside the
ledger's Decimal figures.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import numpy as np

from carbonledger.core.factor_values import Location
from carbonledger.core.tokens.marginal import F64, I64, MoerSeries
from carbonledger.core.tokens.marginal_sources import (
    AVERT_REGION,
    G_PER_KWH_PER_LB_PER_MWH,
    cascade_rates,
    parse_avert_csv,
)
from carbonledger.errors import InvalidInput
from carbonledger.factors.catalog import FactorCatalog
from carbonledger.factors.resolver import pick_year

__all__ = ["AVERT_FILE", "avert_series", "marginal_report", "non_baseload", "site_subregion"]

AVERT_FILE = "marginal/AVERT_2023_CO2_lb_per_kwh.csv.gz"


def avert_series(region: str) -> MoerSeries:
    """The shipped AVERT 2023 hourly series of one AVERT region."""
    raw = resources.files("carbonledger.data").joinpath(AVERT_FILE).read_bytes()
    return parse_avert_csv(gzip.decompress(raw).decode("utf-8-sig"), region, source=AVERT_FILE)


def site_subregion(
    catalog: FactorCatalog, *, subregion: str | None, zip_code: str | None
) -> tuple[str | None, list[str]]:
    """The eGRID subregion of a site given by subregion or ZIP (validated; errors name it)."""
    if subregion is None and zip_code is None:
        return None, []
    r = catalog.resolve("electricity", Location(subregion=subregion, zip=zip_code))
    if r.level != "subregion":
        raise InvalidInput(f"no eGRID subregion found for {zip_code or subregion!r}")
    return r.co2e.region_key, list(r.steps)


def non_baseload(catalog: FactorCatalog, subregion: str, year: int) -> tuple[float, str, list[str]]:
    """The EPA Hub's annual non-baseload CO2 rate (g/kWh) of ``subregion`` nearest ``year``."""
    found = [
        f
        for info in catalog.infos("EPA-Hub")
        for f in catalog.edition(info.edition).factors
        if f.activity == "electricity_nonbaseload" and f.region_key == subregion and f.gas == "co2"
    ]
    if not found:
        raise InvalidInput(f"the EPA Hub has no non-baseload rate for {subregion}")
    chosen, note = pick_year({f.data_year for f in found}, year, "non-baseload rate")
    f = [f for f in found if f.data_year == chosen][-1]
    label = (
        f"{f.edition} Table 6 non-baseload CO2 {f.value} lb/MWh (eGRID{f.data_year}), "
        f"x 0.45359237 g/kWh per lb/MWh"
    )
    return float(f.value) * G_PER_KWH_PER_LB_PER_MWH, label, [note] if note else []


def marginal_report(
    catalog: FactorCatalog,
    starts: I64,
    ends: I64,
    kwh: F64,
    *,
    user_series: MoerSeries | None = None,
    watttime: MoerSeries | None = None,
    subregion: str | None = None,
    flat_g_per_kwh: float | None = None,
) -> dict[str, Any]:
    """Marginal and flat CO2 of a profile, and which source covered which intervals."""
    if len(starts) == 0:
        raise InvalidInput("no intervals to report")
    series = [s for s in (user_series,) if s is not None]
    steps: list[str] = []
    if watttime is not None and subregion in (None, "CAMX"):
        series.append(watttime)
        steps.append("WattTime CAISO_NORTH applies to eGRID subregion CAMX only")
    region = AVERT_REGION.get(subregion or "")
    if region is not None:
        series.append(avert_series(region))
        steps.append(f"eGRID subregion {subregion} -> AVERT region {region} (stated mapping)")
    elif subregion is not None:
        steps.append(f"eGRID subregion {subregion} has no AVERT region")
    fallback = None
    if subregion is not None:
        mid = datetime.fromtimestamp(int((starts.min() + ends.max()) // 2), UTC).year
        rate, label, notes = non_baseload(catalog, subregion, mid)
        fallback = (rate, label, subregion)
        steps += notes
    rates, coverage = cascade_rates(series, starts, ends, kwh, fallback=fallback)
    widths = (ends - starts).astype(np.float64)
    flat = (
        float((rates * widths).sum() / widths.sum()) if flat_g_per_kwh is None else flat_g_per_kwh
    )
    marginal_g = float(kwh @ rates)
    total_kwh = float(kwh.sum())
    return {
        "estimate": "float64; marginal CO2 only (CH4 and N2O not included)",
        "subregion": subregion,
        "intervals": len(starts),
        "kwh": round(total_kwh, 3),
        "marginal_kg_co2": round(marginal_g / 1000, 3),
        "flat_kg_co2": round(total_kwh * flat / 1000, 3),
        "flat_g_per_kwh": flat,
        "flat_is": "the given --flat"
        if flat_g_per_kwh is not None
        else ("the time-weighted mean of the marginal rates used"),
        "effective_marginal_g_per_kwh": marginal_g / total_kwh if total_kwh else None,
        "negative_rate_intervals": int((rates < 0).sum()),
        "coverage": [c.to_dict() for c in coverage if c.intervals],
        "steps": steps,
        "formula": "marginal_g = sum(kwh_i x rate_i); flat_g = sum(kwh_i) x flat",
    }
