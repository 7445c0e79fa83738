"""Loader for the EEA "CO2 emission intensity of electricity generation" CSV.

Columns ``Date:year, Member State:text, index:number, Indicative level - high,
Indicative level - low``; ``index`` is g CO2/kWh.  Rows with only indicative
levels (the 2030 outlook) are not measurements and are skipped.
"""

from __future__ import annotations

import csv
import io

from carbonledger.core.factor_values import Edition, EmissionFactor
from carbonledger.errors import InvalidInput
from carbonledger.factors.base import bad, make_edition, parse_decimal
from carbonledger.factors.countries import normalise_country

__all__ = ["EEA_COLUMNS", "load_eea_csv"]

EEA_COLUMNS = ("Date:year", "Member State:text", "index:number")
# EU aggregates keep a readable key; they are regions, not countries.
_AGGREGATES = {
    "European Union - 27 countries (from 2020)": "EU27",
    "European Union - 28 countries (2013-2020)": "EU28",
}


def load_eea_csv(
    text: str, source: str, *, edition: str = "eea-co2-intensity-6", origin: str = "package"
) -> Edition:
    """Load the EEA intensity CSV as CO2 factors in g/kWh, one per country and year."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in EEA_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise bad(source, "line 1 (header)", None, f"not an EEA intensity CSV: missing {missing}")
    name = source.rsplit("/", 1)[-1]
    factors: list[EmissionFactor] = []
    for line, row in enumerate(reader, start=2):
        where = f"line {line}"
        value = parse_decimal(row["index:number"], source, where, "index:number")
        if value is None:
            continue  # indicative-only row (2030 outlook)
        try:
            year = int(row["Date:year"])
        except ValueError:
            raise bad(source, where, "Date:year", f"not a year: {row['Date:year']!r}") from None
        state = row["Member State:text"].strip()
        if state in _AGGREGATES:
            level, key = "region", _AGGREGATES[state]
        else:
            try:
                level, key = "country", normalise_country(state)
            except InvalidInput as exc:
                raise bad(source, where, "Member State:text", str(exc)) from exc
        factors.append(
            EmissionFactor(
                dataset="EEA",
                edition=edition,
                revision="",
                data_year=year,
                region_level=level,
                region_key=key,
                region_name=state,
                activity="electricity",
                gas="co2",
                value=value,
                unit="g/kWh",
                source=name,
            )
        )
    return make_edition(factors, origin=origin, source=name)
