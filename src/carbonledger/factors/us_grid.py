"""US grid electricity: ZIP (+ utility) -> eGRID subregion -> state -> national.

A fallback happens only where the data lacks a level (a subregion absent from
the chosen edition, a state without a state rate) and is stated; a ZIP, state
or subregion that no data knows is an error naming it.  Puerto Rico is entirely
eGRID subregion PRMS.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from carbonledger.core.factor_values import Edition, Location, Resolution
from carbonledger.errors import FactorNotFound, InvalidInput
from carbonledger.factors.base import DataWarning
from carbonledger.factors.resolver import make_result, pairs_for, pick_edition, pick_year

if TYPE_CHECKING:
    from carbonledger.factors.catalog import FactorCatalog

__all__ = ["US_STATES", "resolve_us"]

#: USPS codes of the states, DC and the territories a US site can be in.
US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "PR",
        "VI",
        "GU",
        "AS",
        "MP",
    ]
)
#: States (territories) that lie entirely in one eGRID subregion.
_WHOLE_STATE = {"PR": "PRMS"}


def _known_subregions(catalog: FactorCatalog) -> set[str]:
    # Only the keys are wanted: an edition's data contradictions are reported when
    # that edition is used, not when its subregion names are read.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return {
            f.region_key
            for info in catalog.infos("eGRID")
            for f in catalog.edition(info.edition).factors
            if f.region_level == "subregion"
        }


# Each level of the fallback is one branch, in the order the README states them.
def resolve_us(  # noqa: PLR0912
    catalog: FactorCatalog,
    location: Location,
    year: int | None,
    edition: str | None,
    steps: list[str],
) -> Resolution:
    """Resolve US electricity; InvalidInput names an unknown subregion, state or ZIP."""
    subregion, state = location.subregion, location.state
    if state and state not in US_STATES:
        raise InvalidInput(f"unknown US state {state!r}: give a two-letter USPS code such as CA")
    ed_name = edition or pick_edition(catalog.infos("eGRID"), year, "eGRID edition", steps)
    ed = catalog.edition(ed_name)
    in_edition = any(f.region_key == subregion for f in ed.factors)
    if subregion and not in_edition and subregion not in _known_subregions(catalog):
        known = ", ".join(sorted(_known_subregions(catalog)))
        raise InvalidInput(f"unknown eGRID subregion {subregion!r}; known subregions: {known}")
    alternatives: list[str] = []
    if subregion is None and location.zip:
        subregion, zip_state = _zip(catalog, location, ed, steps, alternatives)
        if state and zip_state and state != zip_state:
            steps.append(f"ZIP {location.zip} is in {zip_state}, not {state}; used the ZIP")
        state = zip_state or state
    if subregion is None and state in _WHOLE_STATE:
        subregion = _WHOLE_STATE[state]
        steps.append(f"{state} lies entirely in eGRID subregion {subregion}")
    if subregion:
        pairs = pairs_for(ed.factors, "electricity", "subregion", subregion)
        if pairs:
            steps.append(f"{ed.edition}: eGRID subregion {subregion}")
            return make_result(
                "electricity", location, "subregion", pairs, steps=steps, alternatives=alternatives
            )
        steps.append(f"subregion {subregion} is not in {ed.edition}; fell back to the state")
    elif not location.zip:
        steps.append("no ZIP or subregion given; used the state")
    if state:
        infos = catalog.infos("eGRID-state")
        if infos:
            st_name = pick_edition(infos, year, "eGRID state rates", steps)
            pairs = pairs_for(catalog.edition(st_name).factors, "electricity", "state", state)
            if pairs:
                steps.append(f"{st_name}: state rate for {state}")
                return make_result(
                    "electricity", location, "state", pairs, steps=steps, alternatives=alternatives
                )
            steps.append(f"{st_name} has no state rate for {state}; fell back to US national")
        else:
            steps.append("no eGRID state rates loaded; fell back to US national")
    else:
        steps.append("no state known; used the US national rate")
    pairs = pairs_for(ed.factors, "electricity", "national", "US")
    if not pairs:
        raise FactorNotFound(f"{ed.edition} has no US national row; steps: {steps}")
    steps.append(f"{ed.edition}: US national rate")
    return make_result(
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
    zip5 = (location.zip or "").split("-")[0].strip()
    if not (zip5.isdigit() and len(zip5) <= 5):
        raise InvalidInput(f"ZIP {location.zip!r} is not a US ZIP code (5 digits)")
    zip5 = zip5.zfill(5)
    # The chosen year's lookup first, then the others nearest first.
    order = sorted(keys, key=lambda y: (y != chosen, abs(y - chosen), y))
    found = [(y, rows) for y in order if (rows := catalog.zip_lookup(keys[y]).get(zip5))]
    if not found:
        names = ", ".join(keys[y] for y in order)
        raise InvalidInput(f"unknown ZIP {location.zip!r}: not in the eGRID ZIP lookups ({names})")
    year_found, rows = found[0]
    key = keys[year_found]
    if note and year_found == chosen:
        steps.append(f"{ed.edition}: {note}")
    if year_found != chosen:
        steps.append(f"ZIP {zip5} is not in the {keys[chosen]} lookup; used the {key} lookup")
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
