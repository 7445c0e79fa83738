"""Marginal rates all year: several sources in order, each interval from the first that covers it.

Sources, most specific first (the report names which covered which intervals):

1. a ``timestamp,moer_g_per_kwh`` (or WattTime) CSV the user loads;
2. the shipped WattTime CAISO_NORTH series, for sites in eGRID subregion CAMX
   (June-July 2023 only);
3. EPA AVERT 2023 hourly marginal CO2 rates for the site's AVERT region
   (:data:`AVERT_REGION` maps eGRID subregions to AVERT regions); negative hours
   are kept (more load there lowers emissions);
4. the EPA Hub's annual non-baseload CO2 rate of the site's eGRID subregion, for
   any interval no series covers.

Hour ``h`` of the AVERT file (0..8759) is read as hour ``h`` of 2023 in the
region's local standard time (:data:`AVERT_UTC_OFFSET`, no daylight saving);
the file states no zone, so this reading is an assumption and the notes say so.
Pure: parsing takes text, not files.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from carbonledger.core.tokens.marginal import (
    F64,
    I64,
    MoerSeries,
    interval_rates,
    series_from_arrays,
)
from carbonledger.errors import InvalidInput, RowError

__all__ = [
    "AVERT_REGION",
    "AVERT_UTC_OFFSET",
    "G_PER_KWH_PER_LB_PER_KWH",
    "G_PER_KWH_PER_LB_PER_MWH",
    "Coverage",
    "cascade_rates",
    "parse_avert_csv",
]

#: 1 lb/kWh in g/kWh, and 1 lb/MWh in g/kWh (1 lb = 453.59237 g exactly).
G_PER_KWH_PER_LB_PER_KWH = 453.59237
G_PER_KWH_PER_LB_PER_MWH = 0.45359237

#: eGRID subregion -> AVERT region.  AVERT regions follow balancing authorities
#: (PJM is Mid-Atlantic, MISO Midwest, SPP Central), eGRID subregions follow NERC
#: areas, so the two only approximately coincide; this is the mapping used.
#: AKMS and PRMS have no AVERT region (the non-baseload rate is used there).
AVERT_REGION: dict[str, str] = {
    "CAMX": "CA",
    "AZNM": "SW",
    "NWPP": "NW",
    "RMPA": "RM",
    "ERCT": "TE",
    "SPNO": "CENT",
    "SPSO": "CENT",
    "MROW": "MIDW",
    "MROE": "MIDW",
    "RFCM": "MIDW",
    "SRMW": "MIDW",
    "SRMV": "MIDW",
    "RFCE": "MIDA",
    "RFCW": "MIDA",
    "SRVC": "NCSC",
    "SRSO": "SE",
    "SRTV": "TN",
    "FRCC": "FL",
    "NEWE": "NE",
    "NYCW": "NY",
    "NYLI": "NY",
    "NYUP": "NY",
    "AKGD": "AKGD",
    "HIMS": "HIMS",
    "HIOA": "HIOA",
}
#: Hours from UTC of each AVERT region's local standard time.
AVERT_UTC_OFFSET: dict[str, int] = {
    "CA": -8, "NW": -8, "SW": -7, "RM": -7, "TE": -6, "CENT": -6, "MIDW": -6, "TN": -6,
    "SE": -6, "FL": -5, "NCSC": -5, "MIDA": -5, "NE": -5, "NY": -5, "AKGD": -9,
    "HIMS": -10, "HIOA": -10,
}  # fmt: skip


def parse_avert_csv(text: str, region: str, *, source: str) -> MoerSeries:
    """One region's column of the AVERT hourly file, as a g CO2/kWh series (negatives kept)."""
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in next(rows, [])]
    if header[:2] != ["Month", "Timestamp"]:
        raise InvalidInput(f"{source}: not an AVERT hourly file (header {header[:3]})")
    if region not in header[2:]:
        raise InvalidInput(f"{source}: no AVERT region {region!r}; it has {header[2:]}")
    col = header.index(region)
    hours: list[int] = []
    values: list[float] = []
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        try:
            hours.append(int(row[1]))
            values.append(float(row[col]) * G_PER_KWH_PER_LB_PER_KWH)
        except (ValueError, IndexError) as exc:
            raise RowError(line, region, f"not a number: {row[col : col + 1]}") from exc
    offset = AVERT_UTC_OFFSET.get(region, 0)
    start = datetime(2023, 1, 1, tzinfo=UTC) - timedelta(hours=offset)
    times = np.asarray(hours, dtype=np.int64) * 3600 + int(start.timestamp())
    negative = sum(1 for v in values if v < 0)
    notes = (
        f"hour 0..8759 read as 2023 in the region's local standard time (UTC{offset:+d}); "
        "the file states no zone",
        f"{negative} negative hours kept",
    )
    return series_from_arrays(
        times,
        np.asarray(values, dtype=np.float64),
        region=f"AVERT {region}",
        source=f"{source} (EPA AVERT 2023, lb/kWh x 453.59237)",
        notes=notes,
    )


@dataclass(frozen=True)
class Coverage:
    """Which source gave the rate of which intervals."""

    source: str
    region: str
    intervals: int
    hours: float
    kwh: float
    first: str | None
    last: str | None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "region": self.region,
            "intervals": self.intervals,
            "hours": round(self.hours, 6),
            "kwh": round(self.kwh, 6),
            "from": self.first,
            "to": self.last,
            "notes": list(self.notes),
        }


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def cascade_rates(
    series: list[MoerSeries],
    starts: I64,
    ends: I64,
    kwh: F64,
    *,
    fallback: tuple[float, str, str] | None = None,
) -> tuple[F64, list[Coverage]]:
    """Rate (g/kWh) of each interval from the first series covering it, else ``fallback``.

    ``fallback`` is ``(g_per_kwh, source, region)``, e.g. an annual non-baseload
    rate.  Raises InvalidInput naming the first interval nothing covers.
    """
    starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    if (ends <= starts).any():
        n = int(np.argmax(ends <= starts))
        raise InvalidInput(f"interval {n} ({_iso(int(starts[n]))}) is empty")
    rates = np.full(len(starts), np.nan, dtype=np.float64)
    open_ = np.ones(len(starts), dtype=bool)
    coverage: list[Coverage] = []

    def record(mask: np.ndarray, source: str, region: str, notes: tuple[str, ...]) -> None:
        idx = np.flatnonzero(mask)
        coverage.append(
            Coverage(
                source,
                region,
                len(idx),
                float((ends[idx] - starts[idx]).sum()) / 3600,
                float(kwh[idx].sum()),
                _iso(int(starts[idx].min())) if len(idx) else None,
                _iso(int(ends[idx].max())) if len(idx) else None,
                notes,
            )
        )

    for s in series:
        mask = open_ & (starts >= s.start) & (ends <= s.end)
        if mask.any():
            rates[mask] = interval_rates(s, starts[mask], ends[mask])
            open_ &= ~mask
        record(mask, s.source, s.region, s.notes)
    if open_.any():
        if fallback is None:
            n = int(np.argmax(open_))
            raise InvalidInput(
                f"interval {n} ({_iso(int(starts[n]))}..{_iso(int(ends[n]))}) is covered by no"
                " marginal series; give the site's --subregion or --zip for the non-baseload"
                " rate, or a --moer CSV that covers it"
            )
        rates[open_] = fallback[0]
        record(open_, fallback[1], fallback[2], ())
    return rates, coverage
