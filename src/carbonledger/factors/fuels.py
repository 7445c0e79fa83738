"""Scope 1 fuels and Scope 3 travel and freight: which dataset, which factor.

* US sites and organisations: the EPA GHG Emission Factors Hub (CO2, CH4 and N2O
  combined with a named GWP set, AR5 by default as the Hub uses).  Where the Hub
  has no factor for the activity (hotel nights, taxis, cabin classes) DEFRA is
  used and the steps say so.
* The UK, and any other country: DEFRA (fuel combustion factors are fuel
  properties; DEFRA's travel factors are the published international default).
  The steps say so for a country other than the UK.
* Hotel nights: DEFRA's factor for the country of the stay (no other level).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from carbonledger.core.calculator import co2e_from_gases
from carbonledger.core.factor_values import Edition, EmissionFactor, Location, Resolution
from carbonledger.core.travel import scope_of
from carbonledger.errors import FactorNotFound
from carbonledger.factors.resolver import Pair, by_country, make_result, pick_year

if TYPE_CHECKING:
    from carbonledger.factors.catalog import FactorCatalog

__all__ = ["resolve_fuel"]


def _known(editions: list[Edition]) -> set[str]:
    return {f.activity for ed in editions for f in ed.factors}


def resolve_fuel(
    catalog: FactorCatalog,
    act: str,
    location: Location,
    country: str | None,
    *,
    year: int | None,
    edition: str | None,
    gwp: str,
    steps: list[str],
) -> Resolution:
    """Resolve a fuel, travel or freight activity (see the module docstring)."""
    scope = scope_of(act)
    if edition is not None:
        pinned = catalog.edition(edition)
        steps.append(f"edition {edition} chosen by the user for {act}")
        if pinned.dataset == "EPA-Hub":
            return _epa(
                act,
                location=location,
                editions=[pinned],
                year=year,
                gwp=gwp,
                steps=steps,
                scope=scope,
            )
        return _defra(
            act,
            location=location,
            country=country,
            editions=[pinned],
            year=year,
            steps=steps,
            scope=scope,
        )
    defra = [catalog.edition(i.edition) for i in catalog.infos("DEFRA")]
    epa = [catalog.edition(i.edition) for i in catalog.infos("EPA-Hub")]
    if act not in _known(defra) | _known(epa):
        known = ", ".join(sorted(_known(defra) | _known(epa)))
        raise FactorNotFound(f"no factors for activity {act!r}; known: {known}")
    if country == "US":
        if act in _known(epa):
            steps.append(f"US: {act} factors from the EPA GHG Emission Factors Hub")
            return _epa(
                act, location=location, editions=epa, year=year, gwp=gwp, steps=steps, scope=scope
            )
        steps.append(f"the EPA Hub has no {act} factor; DEFRA (UK government) used for the US")
    elif country == "GB":
        steps.append(f"UK: {act} factors from DEFRA")
    elif act != "hotel":
        where = country or "an unspecified location"
        steps.append(
            f"{act} factors from DEFRA (UK government) used for {where}; "
            "name an edition to use another dataset"
        )
    return _defra(
        act, location=location, country=country, editions=defra, year=year, steps=steps, scope=scope
    )


def _defra(
    act: str,
    *,
    location: Location,
    country: str | None,
    editions: list[Edition],
    year: int | None,
    steps: list[str],
    scope: str,
) -> Resolution:
    keys = {f.region_key for ed in editions for f in ed.factors if f.activity == act}
    if not keys:
        names = ", ".join(ed.edition for ed in editions)
        raise FactorNotFound(f"no {act} factor in {names}")
    if act == "hotel":
        if country is None:
            raise FactorNotFound("a hotel stay needs the country it was in (--country)")
        if country not in keys:
            raise FactorNotFound(
                f"DEFRA has no hotel factor for {country}; it covers {', '.join(sorted(keys))}"
            )
        key = country
    else:
        key = country if country in keys else sorted(keys)[0]
    sources = [(ed.dataset, ed) for ed in editions]
    return by_country(act, location, key, sources, year=year, steps=steps, scope=scope)


def _epa(
    act: str,
    *,
    location: Location,
    editions: list[Edition],
    year: int | None,
    gwp: str,
    steps: list[str],
    scope: str,
) -> Resolution:
    found = [(ed, f) for ed in editions for f in ed.factors if f.activity == act]
    if not found:
        raise FactorNotFound(f"no {act} factor in {', '.join(e.edition for e in editions)}")
    chosen, note = pick_year({f.data_year for _, f in found}, year, f"EPA Hub {act} data")
    if note:
        steps.append(note)
    ed = [e for e, f in found if f.data_year == chosen][-1]
    by_unit: dict[str, dict[str, EmissionFactor]] = {}
    for f in ed.factors:
        if f.activity == act and f.data_year == chosen:
            by_unit.setdefault(f.activity_unit, {})[f.gas] = f
    pairs: list[Pair] = []
    for unit in sorted(by_unit, key=lambda u: (u not in ("MMBtu", "MWh"), u)):
        combined, sentence = co2e_from_gases(by_unit[unit], gwp)
        co2 = by_unit[unit]["co2"]
        pairs.append((combined, co2))
        steps.append(f"{ed.edition}: {sentence}")
    steps.append(f"{ed.edition} (EPA Hub, GWP {gwp.upper()}): {act}, data year {chosen}")
    return make_result(act, location, "country", pairs, steps=steps, scope=scope)
