"""Choose the emission factors for an activity at a location, stating every step.

Electricity (Scope 2, location-based):

* US: see :mod:`.us_grid` (ZIP + utility -> eGRID subregion -> state -> national,
  each fallback only where the data lacks that level; Puerto Rico is PRMS).
* Elsewhere: every source that covers the country (DEFRA for the UK, EEA for EU
  members, Ember for 200+ countries) is a candidate; the year rule below picks
  among all of them, and on a tie of years the country's primary source wins.

Fuels (Scope 1) and travel and freight (Scope 3): see :mod:`.fuels`.

Years: the data year equal to the activity's year; else the closest year (the
earlier on a tie).  A factor more than one year from the activity's year is
flagged in the steps.  What the user typed is never silently replaced: an
unknown country, subregion, state or ZIP is an error naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from carbonledger.core.factor_values import Edition, EmissionFactor, Location, Resolution
from carbonledger.errors import FactorNotFound, InvalidInput
from carbonledger.factors.countries import EU_MEMBERS, normalise_country

if TYPE_CHECKING:
    from carbonledger.factors.catalog import EditionInfo, FactorCatalog

__all__ = [
    "ACTIVITY_ALIASES",
    "by_country",
    "make_result",
    "normalise_activity",
    "pairs_for",
    "pick_edition",
    "pick_year",
    "resolve",
]

ACTIVITY_ALIASES = {
    "gas": "natural_gas",
    "natgas": "natural_gas",
    "kerosene": "burning_oil",
    "power": "electricity",
    "elec": "electricity",
}
Pair = tuple[EmissionFactor, EmissionFactor | None]
#: Datasets of grid electricity outside the US, most specific first.
_PRIMARY = ("DEFRA", "EEA", "Ember")


@lru_cache(maxsize=1024)  # imports ask once per row; files name a handful of activities
def normalise_activity(activity: str) -> str:
    """``"Natural gas"`` -> ``"natural_gas"``; aliases such as ``gas``, ``kerosene``."""
    key = "_".join(activity.strip().lower().replace("-", " ").split())
    return ACTIVITY_ALIASES.get(key, key)


def pick_year(years: Iterable[int], year: int | None, what: str) -> tuple[int, str | None]:
    """Apply the year rule; return the year chosen and a step if it is not ``year``.

    The same year if present, else the closest (the earlier on a tie).  The step
    flags a factor more than one year from ``year``.
    """
    ordered = sorted(set(years))
    if not ordered:
        raise FactorNotFound(f"no {what}")
    if year is None:
        return ordered[-1], f"no year given; used the latest {what}: {ordered[-1]}"
    if year in ordered:
        return year, None
    chosen = min(ordered, key=lambda y: (abs(y - year), y))
    if chosen < year:
        note = f"no {what} for {year}; used the nearest earlier year {chosen}"
    elif all(y > year for y in ordered):
        note = f"no {what} for {year} or earlier; used the earliest later year {chosen}"
    else:
        note = f"no {what} for {year}; used the nearest later year {chosen}"
    gap = abs(chosen - year)
    if gap > 1:
        note += f" (warning: the factor is {gap} years from the activity's year)"
    return chosen, note


def pick_edition(
    infos: Sequence[EditionInfo], year: int | None, what: str, steps: list[str]
) -> str:
    """Pick one edition of a dataset by the year rule; later revisions and user editions win."""
    chosen, note = pick_year([i.data_year for i in infos], year, what)
    if note:
        steps.append(note)
    same = [i for i in infos if i.data_year == chosen]
    best = max(same, key=lambda i: (i.origin == "user", i.revision))
    if len(same) > 1:
        others = ", ".join(i.edition for i in same if i is not best)
        steps.append(f"{best.edition} supersedes {others} for data year {chosen}")
    return best.edition


def pairs_for(
    factors: Iterable[EmissionFactor],
    activity: str,
    level: str | None,
    key: str,
    year: int | None = None,
) -> list[Pair]:
    """Group one region's factors by unit into (co2e-or-proxy, co2) pairs."""
    by_unit: dict[tuple[str, str], dict[str, EmissionFactor]] = {}
    for f in factors:
        if (
            f.activity == activity
            and f.region_key == key
            and (level is None or f.region_level == level)
            and (year is None or f.data_year == year)
        ):
            by_unit.setdefault((f.unit, f.basis), {})[f.gas] = f
    out: list[Pair] = []
    for gases in by_unit.values():
        co2 = gases.get("co2")
        co2e = gases.get("co2e") or co2
        if co2e is not None:
            out.append((co2e, co2))
    # Energy units first so the primary factor of a fuel is per kWh.
    out.sort(key=lambda p: (p[0].activity_unit not in ("kWh", "MWh"), p[0].unit, p[0].basis))
    return out


def make_result(
    activity: str,
    location: Location,
    level: str,
    pairs: list[Pair],
    *,
    steps: list[str],
    alternatives: Sequence[str] = (),
    scope: str | None = None,
) -> Resolution:
    """Build the :class:`Resolution` for the first pair (the others become variants)."""
    (co2e, co2), variants = pairs[0], tuple(pairs[1:])
    proxy = co2e.gas != "co2e"
    if proxy:
        steps.append(
            f"{co2e.edition} publishes no CO2e rate for {co2e.region_key}; kg_co2e "
            "uses its CO2 rate (CH4 and N2O not included)"
        )
    elif co2 is not None and co2e.value < co2.value and co2e.unit == co2.unit:
        steps.append(
            f"warning: {co2e.edition} gives {co2e.region_key} CO2e {co2e.value} below "
            f"CO2 {co2.value} {co2e.unit}; the source contradicts itself (a later "
            "revision may correct it)"
        )
    return Resolution(
        activity=activity,
        location=location,
        level=level,
        scope=scope or ("2-location" if activity == "electricity" else "1"),
        co2e=co2e,
        co2=co2,
        steps=tuple(steps),
        co2e_is_co2_proxy=proxy,
        alternatives=tuple(alternatives),
        variants=variants,
    )


def resolve(
    catalog: FactorCatalog,
    activity: str,
    location: Location,
    *,
    year: int | None = None,
    edition: str | None = None,
    gwp: str = "AR5",
) -> Resolution:
    """Resolve factors; raises FactorNotFound (with the steps tried) when none apply.

    Raises InvalidInput naming an unknown country, subregion, state or ZIP.
    """
    if year is not None and (not isinstance(year, int) or not 1900 <= year <= 2200):
        raise InvalidInput(f"year must be an integer between 1900 and 2200, got {year!r}")
    act = normalise_activity(activity)
    steps: list[str] = []
    country = normalise_country(location.country) if location.country else None
    us_hint = location.zip or location.subregion or location.state or location.utility_id
    if country is None and us_hint:
        country = "US"
        steps.append("no country given; US assumed from the ZIP/subregion/state given")
    if country not in (None, "US") and us_hint:
        raise InvalidInput(
            f"country {country} with a US ZIP, subregion, state or utility: give one or the other"
        )
    if act != "electricity":
        from carbonledger.factors.fuels import resolve_fuel

        return resolve_fuel(
            catalog, act, location, country, year=year, edition=edition, gwp=gwp, steps=steps
        )
    if edition is not None:
        pinned = catalog.edition(edition)
        if pinned.dataset != "eGRID":
            if country is None:
                raise FactorNotFound(f"electricity: give a country to use {edition}")
            return by_country(
                act, location, country, [(pinned.dataset, pinned)], year=year, steps=steps
            )
    if country == "US":
        from carbonledger.factors.us_grid import resolve_us

        return resolve_us(catalog, location, year, edition, steps)
    if country is None:
        raise FactorNotFound(
            "electricity needs a location: give a country, or a US ZIP, subregion or state"
        )
    sources = [
        (i.dataset, catalog.edition(i.edition))
        for dataset in _PRIMARY
        for i in catalog.infos(dataset)
        if dataset != "DEFRA" or country == "GB"
        if dataset != "EEA" or country in EU_MEMBERS
    ]
    return by_country(act, location, country, sources, year=year, steps=steps)


def by_country(
    act: str,
    location: Location,
    country: str,
    sources: Sequence[tuple[str, Edition]],
    *,
    year: int | None,
    steps: list[str],
    scope: str | None = None,
) -> Resolution:
    """Pick the factor for ``country`` among editions of several datasets by the year rule."""
    found: list[tuple[str, Edition, int]] = []
    for dataset, ed in sources:
        years = {f.data_year for f in ed.factors if f.activity == act and f.region_key == country}
        found += [(dataset, ed, y) for y in sorted(years)]
    if not found:
        names = ", ".join(sorted({ed.edition for _, ed in sources}))
        raise FactorNotFound(f"no {act} factor for {country} in {names or 'any dataset'}")
    covering: dict[str, list[int]] = {}
    for dataset, _, y in found:
        covering.setdefault(dataset, []).append(y)
    if len(covering) > 1:
        listed = "; ".join(f"{d} {min(ys)}-{max(ys)}" for d, ys in covering.items())
        steps.append(f"sources with {act} data for {country}: {listed}")
    chosen, note = pick_year([y for _, _, y in found], year, f"{act} data for {country}")
    if note:
        steps.append(note)
    order = {d: i for i, d in enumerate(dict.fromkeys(d for d, _, _ in found))}
    # Same year: the country's primary source wins; within it the last edition
    # (user editions come after package ones).
    candidates = [(order[d], i, d, ed) for i, (d, ed, y) in enumerate(found) if y == chosen]
    _, _, dataset, ed = min(candidates, key=lambda c: (c[0], -c[1]))
    pairs = pairs_for(ed.factors, act, None, country, chosen)
    what = (
        f"data year {chosen}"
        if year is None or chosen == year
        else (f"data year {chosen} for a {year} activity")
    )
    steps.append(f"{ed.edition} ({dataset}): {act} factor for {country}, {what}")
    return make_result(act, location, pairs[0][0].region_level, pairs, steps=steps, scope=scope)
