"""Choose the emission factors for an activity at a location, stating every step.

Electricity (Scope 2, location-based):

* US: (ZIP + EIA utility) -> eGRID subregion via the Power Profiler lookup
  (without a utility, the ZIP's predominant utility; the others are listed as
  alternatives) -> eGRID state CO2e rate -> eGRID US national row.
* UK: DEFRA.  EU member states: EEA.  Anywhere else: Ember.

Natural gas and other fuels (Scope 1): DEFRA for any country unless an
edition is named.  Years: the data year equal to the one asked for, else the
nearest earlier, else the earliest later.  Every choice is a step, never silent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from carbonledger.core.factors import Edition, EmissionFactor, Location, Resolution
from carbonledger.errors import FactorNotFound, InvalidInput
from carbonledger.factors.countries import EU_MEMBERS, normalise_country

if TYPE_CHECKING:
    from carbonledger.factors.catalog import EditionInfo, FactorCatalog

__all__ = ["ACTIVITY_ALIASES", "normalise_activity", "pick_year", "resolve"]

ACTIVITY_ALIASES = {
    "gas": "natural_gas",
    "natgas": "natural_gas",
    "kerosene": "burning_oil",
    "power": "electricity",
    "elec": "electricity",
}
_Pair = tuple[EmissionFactor, EmissionFactor | None]


def normalise_activity(activity: str) -> str:
    """``"Natural gas"`` -> ``"natural_gas"``; aliases such as ``gas``, ``kerosene``."""
    key = "_".join(activity.strip().lower().replace("-", " ").split())
    return ACTIVITY_ALIASES.get(key, key)


def pick_year(years: Iterable[int], year: int | None, what: str) -> tuple[int, str | None]:
    """Apply the year rule; return the year chosen and a step if it is not ``year``."""
    ordered = sorted(set(years))
    if not ordered:
        raise FactorNotFound(f"no {what}")
    if year is None:
        return ordered[-1], f"no year given; used the latest {what}: {ordered[-1]}"
    if year in ordered:
        return year, None
    earlier = [y for y in ordered if y < year]
    if earlier:
        return earlier[-1], f"no {what} for {year}; used the nearest earlier year {earlier[-1]}"
    return ordered[0], (
        f"no {what} for {year} or earlier; used the earliest later year {ordered[0]}"
    )


def _pick_edition(
    infos: Sequence[EditionInfo], year: int | None, what: str, steps: list[str]
) -> str:
    chosen, note = pick_year([i.data_year for i in infos], year, what)
    if note:
        steps.append(note)
    same = [i for i in infos if i.data_year == chosen]
    # Later revisions and user-loaded editions supersede earlier ones of the same year.
    best = max(same, key=lambda i: (i.origin == "user", i.revision))
    if len(same) > 1:
        others = ", ".join(i.edition for i in same if i is not best)
        steps.append(f"{best.edition} supersedes {others} for data year {chosen}")
    return best.edition


def _pairs(
    factors: Iterable[EmissionFactor],
    activity: str,
    level: str | None,
    key: str,
    year: int | None = None,
) -> list[_Pair]:
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
    out: list[_Pair] = []
    for gases in by_unit.values():
        co2 = gases.get("co2")
        co2e = gases.get("co2e") or co2
        if co2e is not None:
            out.append((co2e, co2))
    # Energy units first so the primary factor of a fuel is per kWh.
    out.sort(key=lambda p: (p[0].activity_unit not in ("kWh", "MWh"), p[0].unit))
    return out


def _result(
    activity: str,
    location: Location,
    level: str,
    pairs: list[_Pair],
    *,
    steps: list[str],
    alternatives: Sequence[str] = (),
) -> Resolution:
    (co2e, co2), variants = pairs[0], tuple(pairs[1:])
    proxy = co2e.gas != "co2e"
    if proxy:
        steps.append(
            f"{co2e.edition} publishes no CO2e rate for {co2e.region_key}; kg_co2e "
            "uses its CO2 rate (CH4 and N2O not included)"
        )
    elif co2 is not None and co2e.value < co2.value:
        steps.append(
            f"warning: {co2e.edition} gives {co2e.region_key} CO2e {co2e.value} below "
            f"CO2 {co2.value} {co2e.unit}; the source contradicts itself (a later "
            "revision may correct it)"
        )
    return Resolution(
        activity=activity,
        location=location,
        level=level,
        scope="2-location" if activity == "electricity" else "1",
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
) -> Resolution:
    """Resolve factors; raises FactorNotFound (with the steps tried) when none apply."""
    if year is not None and (not isinstance(year, int) or not 1900 <= year <= 2200):
        raise InvalidInput(f"year must be an integer between 1900 and 2200, got {year!r}")
    act = normalise_activity(activity)
    steps: list[str] = []
    country = normalise_country(location.country) if location.country else None
    us_hint = location.zip or location.subregion or location.state or location.utility_id
    if country is None and us_hint:
        country = "US"
        steps.append("no country given; US assumed from the ZIP/subregion/state given")
    if act != "electricity":
        return _fuel(catalog, act, location, country, year=year, edition=edition, steps=steps)
    if edition is not None:
        pinned = catalog.edition(edition)
        if pinned.dataset != "eGRID":
            return _by_country(
                catalog, act, location, country, year=year, editions=[pinned], steps=steps
            )
    if country == "US":
        return _us(catalog, location, year, edition, steps)
    if country is None:
        raise FactorNotFound(
            "electricity needs a location: give a country, or a US ZIP, subregion or state"
        )
    if country == "GB":
        dataset = "DEFRA"
    elif country in EU_MEMBERS:
        dataset = "EEA"
    else:
        dataset = "Ember"
    steps.append(f"country {country}: electricity factors from {dataset}")
    editions = [catalog.edition(i.edition) for i in catalog.infos(dataset)]
    try:
        return _by_country(
            catalog, act, location, country, year=year, editions=editions, steps=steps
        )
    except FactorNotFound:
        if dataset == "Ember":
            raise
        steps.append(f"{dataset} has no electricity factor for {country}; fell back to Ember")
        editions = [catalog.edition(i.edition) for i in catalog.infos("Ember")]
        return _by_country(
            catalog, act, location, country, year=year, editions=editions, steps=steps
        )


def _by_country(
    catalog: FactorCatalog,
    act: str,
    location: Location,
    country: str | None,
    *,
    year: int | None,
    editions: Sequence[Edition],
    steps: list[str],
) -> Resolution:
    if country is None:
        raise FactorNotFound(f"{act}: give a country to use {editions[0].edition}")
    key = country
    found = [
        (ed, f) for ed in editions for f in ed.factors if f.activity == act and f.region_key == key
    ]
    if not found:
        names = ", ".join(ed.edition for ed in editions)
        raise FactorNotFound(f"no {act} factor for {key} in {names}; steps: {steps}")
    chosen, note = pick_year(
        [f.data_year for _, f in found], year, f"{found[0][1].dataset} data for {key}"
    )
    if note:
        steps.append(note)
    # The last edition holding that year wins: user editions come after package ones.
    ed = [e for e, f in found if f.data_year == chosen][-1]
    pairs = _pairs(ed.factors, act, None, key, chosen)
    steps.append(f"{ed.edition}: {act} factor for {key}, data year {chosen}")
    return _result(act, location, pairs[0][0].region_level, pairs, steps=steps)


def _fuel(
    catalog: FactorCatalog,
    act: str,
    location: Location,
    country: str | None,
    *,
    year: int | None,
    edition: str | None,
    steps: list[str],
) -> Resolution:
    if edition is not None:
        editions = [catalog.edition(edition)]
        steps.append(f"edition {edition} chosen by the user for {act}")
    else:
        editions = [catalog.edition(i.edition) for i in catalog.infos("DEFRA")]
        where = country or "an unspecified location"
        steps.append(
            f"Scope 1 {act} factors from DEFRA (UK government) used for {where}; "
            "name an edition to use another dataset"
        )
    known = sorted({f.activity for ed in editions for f in ed.factors})
    if act not in known:
        raise FactorNotFound(f"no factors for activity {act!r}; known: {', '.join(known)}")
    keys = {f.region_key for ed in editions for f in ed.factors if f.activity == act}
    key = country if country in keys else sorted(keys)[0]
    return _by_country(catalog, act, location, key, year=year, editions=editions, steps=steps)


def _us(
    catalog: FactorCatalog,
    location: Location,
    year: int | None,
    edition: str | None,
    steps: list[str],
) -> Resolution:
    ed_name = edition or _pick_edition(catalog.infos("eGRID"), year, "eGRID edition", steps)
    ed = catalog.edition(ed_name)
    subregion, state = location.subregion, location.state
    alternatives: list[str] = []
    if subregion is None and location.zip:
        subregion, zip_state = _zip(catalog, location, ed, steps, alternatives)
        state = state or zip_state
    if subregion:
        pairs = _pairs(ed.factors, "electricity", "subregion", subregion)
        if pairs:
            steps.append(f"{ed.edition}: eGRID subregion {subregion}")
            return _result(
                "electricity", location, "subregion", pairs, steps=steps, alternatives=alternatives
            )
        steps.append(f"subregion {subregion} not in {ed.edition}; fell back to state")
    elif not location.zip:
        steps.append("no ZIP or subregion given; tried the state")
    if state:
        infos = catalog.infos("eGRID-state")
        if infos:
            st_name = _pick_edition(infos, year, "eGRID state rates", steps)
            pairs = _pairs(catalog.edition(st_name).factors, "electricity", "state", state)
            if pairs:
                steps.append(f"{st_name}: state rate for {state}")
                return _result(
                    "electricity", location, "state", pairs, steps=steps, alternatives=alternatives
                )
            steps.append(f"no state rate for {state} in {st_name}; fell back to US national")
        else:
            steps.append("no eGRID state rates loaded; fell back to US national")
    else:
        steps.append("no state known; fell back to US national")
    pairs = _pairs(ed.factors, "electricity", "national", "US")
    if not pairs:
        raise FactorNotFound(f"{ed.edition} has no US national row; steps: {steps}")
    steps.append(f"{ed.edition}: US national rate")
    return _result(
        "electricity", location, "national", pairs, steps=steps, alternatives=alternatives
    )


def _zip(
    catalog: FactorCatalog,
    location: Location,
    ed: Edition,
    steps: list[str],
    alternatives: list[str],
) -> tuple[str | None, str | None]:
    keys = {int(k[5:9]): k for k in catalog.zip_keys() if k[5:9].isdigit()}
    chosen, note = pick_year(keys, ed.data_year, "eGRID ZIP lookup")
    key = keys[chosen]
    if note:
        steps.append(f"{ed.edition}: {note}")
    zip5 = (location.zip or "").split("-")[0].strip().zfill(5)
    rows = catalog.zip_lookup(key).get(zip5)
    if not rows:
        steps.append(f"ZIP {location.zip} not in {key} lookup; fell back to state")
        return None, None
    row = None
    if location.utility_id:
        matches = [r for r in rows if r.utility_id == location.utility_id.strip()]
        if matches:
            row = max(matches, key=lambda r: r.predominant)
            steps.append(
                f"ZIP {zip5} + utility {row.utility_id} ({row.utility_name}) -> "
                f"subregion {row.subregion} ({key} lookup)"
            )
        else:
            steps.append(
                f"utility {location.utility_id} not listed for ZIP {zip5} in {key}; "
                "used the predominant utility"
            )
    if row is None:
        row = next((r for r in rows if r.predominant), rows[0])
        many = f"{len(rows)} utilities; " if len(rows) > 1 else ""
        steps.append(
            f"ZIP {zip5}: {many}predominant utility {row.utility_name} "
            f"({row.utility_id}) -> subregion {row.subregion} ({key} lookup)"
        )
    alternatives.extend(
        f"utility {r.utility_name} ({r.utility_id}) -> subregion {r.subregion}"
        for r in rows
        if r is not row
    )
    if alternatives:
        steps.append(f"alternatives for ZIP {zip5}: {'; '.join(alternatives)}")
    return row.subregion, row.state
