"""Loader for the UK government (BEIS/DESNZ, Defra) GHG conversion factors flat file.

Reads the official "flat file" (sheet ``Factors by Category``), xlsx or the
legacy .xls of 2021 and 2022, through :mod:`.sheets`, and extracts:

* UK electricity generation (Scope 2; T&D losses are a separate Scope 3 factor),
* natural gas and the common Scope 1 fuels per kWh (gross CV), litre, m3, tonne,
* business travel (flights by haul, cabin class, with and without radiative
  forcing; rail; taxis; cars by size and fuel; hotel nights by country) and
  freight (HGV, rail, sea, air) for Scope 3 categories 6 and 4/9.

Every layout seen (2020-2025) is handled by column names: ``GHG`` (2020, 2021)
or ``GHG/Unit`` (2022 on), with or without an ``ID`` column.  The package ships
the output as factor CSVs; tests re-derive them from the official files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from carbonledger.core.factor_values import Edition, EmissionFactor
from carbonledger.errors import InvalidInput
from carbonledger.factors.base import bad, make_edition
from carbonledger.factors.countries import normalise_country
from carbonledger.factors.sheets import cell_decimal, cell_text, read_sheet, sheet_names

__all__ = ["FUELS", "extract_defra_xlsx", "is_defra_xlsx"]

SHEET = "Factors by Category"
#: DEFRA "Level 3" fuel name -> our activity name.
FUELS: dict[str, str] = {
    "Natural gas": "natural_gas",
    "LPG": "lpg",
    "Butane": "butane",
    "Propane": "propane",
    "CNG": "cng",
    "LNG": "lng",
    "Burning oil": "burning_oil",
    "Diesel (average biofuel blend)": "diesel",
    "Diesel (100% mineral diesel)": "diesel_mineral",
    "Fuel oil": "fuel_oil",
    "Gas oil": "gas_oil",
    "Petrol (average biofuel blend)": "petrol",
    "Petrol (100% mineral petrol)": "petrol_mineral",
    "Coal (industrial)": "coal_industrial",
    "Coal (domestic)": "coal_domestic",
}
_FUEL_LEVEL2 = {"Gaseous fuels", "Liquid fuels", "Solid fuels"}
# Net-CV kWh factors are left out: UK bills state gross-CV kWh, and one basis
# per unit keeps resolution unambiguous.  Mile factors are left out too: the
# km factor converts exactly (1 mi = 1.609344 km).
_UOM = {
    "kWh (Gross CV)": ("kWh", ""),
    "kWh": ("kWh", ""),
    "litres": ("L", ""),
    "cubic metres": ("m3", ""),
    "tonnes": ("t", ""),
    "passenger.km": ("pkm", ""),
    "tonne.km": ("tkm", ""),
    "km": ("km", ""),
    "Room per night": ("room_night", ""),
}
_GROSS_CV = {"kWh (Gross CV)"}
_GHG = {
    "kg CO2e": "co2e",
    "kg CO2": "co2",
    "kg CO2e of CO2": "co2",
    "kg CO2e of CO2 per unit": "co2",
}
_FACTOR_COL = re.compile(r"GHG Conversion Factor (\d{4})")
_HAUL = {
    "Domestic, to/from UK": "domestic",
    "Short-haul, to/from UK": "short_haul",
    "Long-haul, to/from UK": "long_haul",
    "International, to/from non-UK": "international",
}
_CABIN = {
    "Average passenger": "average",
    "Economy class": "economy",
    "Premium economy class": "premium_economy",
    "Business class": "business",
    "First class": "first",
}
_RF = {"With RF": "with RF", "Without RF": "without RF"}
_RAIL = {
    "National rail": "rail_national",
    "International rail": "rail_international",
    "Light rail and tram": "rail_light",
    "London Underground": "rail_underground",
}
_TAXI = {"Regular taxi": "taxi", "Black cab": "taxi_black_cab"}
_CAR_SIZE = {
    "Small car": "small",
    "Medium car": "medium",
    "Large car": "large",
    "Average car": "average",
}
_CAR_FUEL = {
    "Diesel": "diesel",
    "Petrol": "petrol",
    "Hybrid": "hybrid",
    "CNG": "cng",
    "LPG": "lpg",
    "Unknown": "unknown",
    "Plug-in Hybrid Electric Vehicle": "phev",
    "Battery Electric Vehicle": "bev",
}
_SHIP = {
    "Container ship": "freight_sea_container",
    "Bulk carrier": "freight_sea_bulk",
    "General cargo": "freight_sea_general",
}
_HGV = {
    "HGV (all diesel)": "freight_hgv",
    "HGV refrigerated (all diesel)": "freight_hgv_refrigerated",
}


def is_defra_xlsx(path: Path) -> bool:
    """True if ``path`` is a workbook (xlsx or xls) with a ``Factors by Category`` sheet."""
    try:
        return SHEET in sheet_names(path)
    except InvalidInput:
        return False


def _version(path: Path) -> str:
    if "Front page" not in sheet_names(path):
        return ""
    for row in read_sheet(path, "Front page")[:15]:
        for i, cell in enumerate(row[:-1]):
            if isinstance(cell, str) and cell.strip().lower() == "version:":
                nxt = row[i + 1]
                text = f"{nxt:g}" if isinstance(nxt, float) else str(nxt).strip()
                return f"v{text}"
    return ""


# One branch per DEFRA category keeps the mapping readable against the flat file.
def _classify(  # noqa: PLR0911, PLR0912
    l1: str, l2: str, l3: str, l4: str, text: str
) -> tuple[str, str, str] | None:
    """(activity, basis, region) of a travel or freight row we keep, else None."""
    if l1 == "Business travel- air" and l2 == "Flights":
        if l3 in _HAUL and l4 in _CABIN and text in _RF:
            return f"flight_{_HAUL[l3]}_{_CABIN[l4]}", _RF[text], "GB"
        return None
    if l1 == "Business travel- land":
        if l2 == "Rail" and l3 in _RAIL:
            return _RAIL[l3], "", "GB"
        if l2 == "Taxis" and l3 in _TAXI:
            return _TAXI[l3], "", "GB"
        if l2 == "Cars (by size)" and l3 in _CAR_SIZE and text in _CAR_FUEL:
            return f"car_{_CAR_SIZE[l3]}_{_CAR_FUEL[text]}", "", "GB"
        return None
    if l1 == "Hotel stay" and l2 == "Hotel stay" and l3:
        if l3 == "UK (London)":
            return "hotel_london", "", "GB"
        try:
            return "hotel", "", normalise_country(l3)
        except InvalidInput:
            return None  # "Caribbean Region" (2020) is a group of countries, not one
    if l1 == "Freighting goods":
        if l2 in _HGV and l3 == "All HGVs" and text == "Average laden":
            return _HGV[l2], "", "GB"
        if l2 == "Rail" and l3 == "Freight train":
            return "freight_rail", "", "GB"
        if l2 == "Cargo ship" and l3 in _SHIP and l4 == "Average":
            return _SHIP[l3], "", "GB"
        if l2 == "Freight flights" and l3 in _HAUL and text in _RF:
            return f"freight_air_{_HAUL[l3]}", _RF[text], "GB"
    return None


def extract_defra_xlsx(
    path: Path, *, edition: str | None = None, origin: str = "package"
) -> Edition:
    """Extract electricity, fuel, travel and freight factors from a DEFRA flat file."""
    name = path.name
    if SHEET not in sheet_names(path):
        raise bad(name, "workbook", None, f"no sheet {SHEET!r}: not a DEFRA flat file")
    revision = _version(path)
    rows = read_sheet(path, SHEET)
    header: dict[str, int] = {}
    start = 0
    for number, row in enumerate(rows[:30], start=1):
        cells = [cell_text(row, i) for i in range(len(row))]
        if "Scope" in cells and "Level 1" in cells:
            header = {c: i for i, c in enumerate(cells) if c}
            start = number
            break
    factor_col = next((c for c in header if _FACTOR_COL.fullmatch(c)), None)
    ghg_col = "GHG/Unit" if "GHG/Unit" in header else "GHG"
    needed = ["Scope", "Level 1", "Level 2", "Level 3", "Level 4", "UOM", ghg_col]
    if factor_col is None or any(c not in header for c in needed):
        raise bad(
            name,
            f"sheet {SHEET!r}",
            None,
            "no header row with Scope, Level 1-4, UOM, GHG and "
            "'GHG Conversion Factor YYYY' in the first 30 rows",
        )
    match = _FACTOR_COL.fullmatch(factor_col)
    year = int(match.group(1)) if match else 0
    factors = _rows(
        rows[start:],
        header,
        factor_col,
        ghg_col,
        start=start + 1,
        source=name,
        edition=edition or f"defra{year}",
        revision=revision,
        year=year,
    )
    return make_edition(factors, origin=origin, source=name)


def _rows(
    rows: list[list[Any]],
    header: dict[str, int],
    factor_col: str,
    ghg_col: str,
    *,
    start: int,
    source: str,
    edition: str,
    revision: str,
    year: int,
) -> list[EmissionFactor]:
    col = {k: header[k] for k in ("Scope", "Level 1", "Level 2", "Level 3", "Level 4", "UOM")}
    text_i = header.get("Column Text", -1)
    ghg_i, val_i = header[ghg_col], header[factor_col]
    out: list[EmissionFactor] = []
    seen: set[tuple[str, str, str, str, str]] = set()
    for line, row in enumerate(rows, start=start):
        scope, l1, l2, l3, l4 = (
            cell_text(row, col[k]) for k in ("Scope", "Level 1", "Level 2", "Level 3", "Level 4")
        )
        region, basis = "GB", ""
        if scope == "Scope 1" and l1 == "Fuels" and l2 in _FUEL_LEVEL2 and l3 in FUELS:
            if l4 not in ("", "kWh"):
                continue  # sub-variants (none today for these rows); keep the plain factor
            activity = FUELS[l3]
        elif scope == "Scope 2" and l1 == "UK electricity" and l3 == "Electricity: UK":
            activity = "electricity"
        else:
            found = _classify(l1, l2, l3, l4, cell_text(row, text_i))
            if found is None:
                continue
            activity, basis, region = found
        raw_uom = cell_text(row, col["UOM"])
        uom, gas = _UOM.get(raw_uom), _GHG.get(cell_text(row, ghg_i))
        if uom is None or gas is None:
            continue
        if raw_uom in _GROSS_CV:
            basis = "gross CV"
        raw = row[val_i] if val_i < len(row) else None
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue  # DEFRA leaves combinations it has no data for empty (CNG small car)
        value = cell_decimal(raw)
        where = f"sheet {SHEET!r} row {line}"
        if value is None:
            raise bad(source, where, factor_col, f"expected a number, got {raw!r}")
        key = (activity, region, uom[0], basis, gas)
        if key in seen:
            raise bad(source, where, "Level 3", f"duplicate factor for {key}")
        seen.add(key)
        out.append(
            EmissionFactor(
                dataset="DEFRA",
                edition=edition,
                revision=revision,
                data_year=year,
                region_level="country",
                region_key=region,
                region_name="United Kingdom" if region == "GB" else l3,
                activity=activity,
                basis=basis,
                gas=gas,
                value=value,
                unit=f"kg/{uom[0]}",
                source=source,
            )
        )
    return out
