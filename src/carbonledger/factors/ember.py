"""Loader for Ember yearly average grid intensities (co2.js ``average-intensities.json``).

Each entry: ``country_code`` (ISO-3, empty for aggregates such as "World"),
``country_or_region``, ``year`` and ``emissions_intensity_gco2_per_kwh``.
"""

from __future__ import annotations

import json

from carbonledger.core.factor_values import Edition, EmissionFactor
from carbonledger.factors.base import bad, make_edition, parse_decimal
from carbonledger.factors.countries import iso3_to_iso2

__all__ = ["load_ember_json"]

_FIELD = "emissions_intensity_gco2_per_kwh"


def load_ember_json(
    text: str, source: str, *, edition: str = "ember-2024", origin: str = "package"
) -> Edition:
    """Load Ember intensities as CO2 factors in g/kWh keyed by ISO-2 (or region name)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(source, f"line {exc.lineno}", None, f"invalid JSON: {exc.msg}") from exc
    if not isinstance(data, dict) or not data:
        raise bad(source, "top level", None, "expected an object of countries")
    name = source.rsplit("/", 1)[-1]
    factors: list[EmissionFactor] = []
    for key, entry in data.items():
        where = f"entry {key!r}"
        if not isinstance(entry, dict) or _FIELD not in entry:
            raise bad(source, where, _FIELD, "missing")
        value = parse_decimal(entry[_FIELD], source, where, _FIELD)
        if value is None:
            raise bad(source, where, _FIELD, "empty")
        try:
            year = int(entry["year"])
        except (KeyError, TypeError, ValueError):
            raise bad(source, where, "year", "missing or not a year") from None
        iso3 = str(entry.get("country_code") or "").strip()
        iso2 = iso3_to_iso2(iso3) if iso3 else None
        if iso3 and iso2 is None:
            raise bad(source, where, "country_code", f"unknown ISO-3 code {iso3!r}")
        factors.append(
            EmissionFactor(
                dataset="Ember",
                edition=edition,
                revision="",
                data_year=year,
                region_level="country" if iso2 else "region",
                region_key=iso2 or key,
                region_name=str(entry.get("country_or_region", key)),
                activity="electricity",
                gas="co2",
                value=value,
                unit="g/kWh",
                source=name,
            )
        )
    return make_edition(factors, origin=origin, source=name)
