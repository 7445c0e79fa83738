"""Loader for the US EPA GHG Emission Factors Hub workbook (editions 2021-2025).

Extracts, per gas (CO2 in kg, CH4 and N2O in g, as the Hub publishes them):

* Table 1 stationary combustion for the common fuels, per MMBtu (HHV) and per
  physical unit (scf, gallon, short ton);
* Table 6 electricity: each eGRID subregion's **non-baseload** CO2, CH4 and N2O
  rates (lb/MWh), the annual marginal view EPA recommends for displaced
  electricity (activity ``electricity_nonbaseload``; data year = the eGRID year
  the table cites);
* Table 8 transport (Scope 3 categories 4 and 9) and Table 10 business travel
  (category 6), per vehicle-mile, passenger-mile or short ton-mile.

The Hub gives CH4 and N2O unweighted; the resolver combines them with a named
GWP set (AR5, as the Hub itself uses, by default).  Rows are found by their
labels, not their positions, so the layouts of every edition seen are read.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from carbonledger.core.factor_values import Edition, EmissionFactor
from carbonledger.factors.base import bad, make_edition
from carbonledger.factors.sheets import cell_decimal, cell_text, read_sheet, sheet_names

__all__ = ["HUB_SHEET", "STATIONARY", "extract_epa_hub"]

HUB_SHEET = "Emission Factors Hub"
#: Table 1 fuel name -> our activity name.
STATIONARY: dict[str, str] = {
    "Natural Gas": "natural_gas",
    "Distillate Fuel Oil No. 2": "diesel",
    "Motor Gasoline": "petrol",
    "Propane": "propane",
    "Butane": "butane",
    "Liquefied Petroleum Gases (LPG)": "lpg",
    "Kerosene": "burning_oil",
    "Residual Fuel Oil No. 6": "fuel_oil",
    "Kerosene-Type Jet Fuel": "jet_fuel",
    "Mixed (Commercial Sector)": "coal_commercial",
    "Mixed (Industrial Sector)": "coal_industrial",
}
_PHYSICAL = {"scf": "ft3", "gallon": "gal", "short ton": "short_ton"}
# Table 8 and 10 labels (footnote letters stripped) -> activity, per unit.
_TRANSPORT: dict[tuple[str, str], str] = {
    ("Medium- and Heavy-Duty Truck", "vehicle-mile"): "freight_hgv",
    ("Medium- and Heavy-Duty Truck", "short ton-mile"): "freight_hgv",
    ("Rail", "short ton-mile"): "freight_rail",
    ("Waterborne Craft", "short ton-mile"): "freight_sea",
    ("Aircraft", "short ton-mile"): "freight_air",
    ("Passenger Car", "vehicle-mile"): "car_average_unknown",
    ("Light-Duty Truck", "vehicle-mile"): "car_light_truck",
    ("Motorcycle", "vehicle-mile"): "motorbike",
    ("Intercity Rail - Northeast Corridor", "passenger-mile"): "rail_intercity_northeast",
    ("Intercity Rail - Other Routes", "passenger-mile"): "rail_intercity_other",
    ("Intercity Rail - National Average", "passenger-mile"): "rail_national",
    ("Commuter Rail", "passenger-mile"): "rail_commuter",
    ("Transit Rail (i.e. Subway, Tram)", "passenger-mile"): "rail_light",
    ("Bus", "passenger-mile"): "bus",
    ("Air Travel - Short Haul (< 300 miles)", "passenger-mile"): "flight_short_haul_average",
    ("Air Travel - Medium Haul (>= 300 miles, < 2300 miles)", "passenger-mile"): (
        "flight_medium_haul_average"
    ),
    ("Air Travel - Long Haul (>= 2300 miles)", "passenger-mile"): "flight_long_haul_average",
}
_UNITS = {
    "vehicle-mile": "mi",
    "passenger-mile": "pmi",
    "short ton-mile": "short_ton_mi",
    "ton-mile": "short_ton_mi",  # the 2021 edition's label for the same short ton-mile
}
# The 2021 edition labels the same short ton-mile "ton-mile".
_UNIT_LABEL = {"ton-mile": "short ton-mile"}
_TABLE = re.compile(r"Table (\d+)$")
_EDITION_YEAR = re.compile(r"(20\d\d)")
_EGRID_YEAR = re.compile(r"eGRID\s?(20\d\d)")
_SUBREGION = re.compile(r"([A-Z]{4})\b")


def _cells(row: list[Any]) -> list[Any]:
    return [c for c in row if not (c is None or (isinstance(c, str) and not c.strip()))]


def _label(text: str) -> str:
    """A Table 8/10 label without its footnote letter ("Passenger Car A" -> "Passenger Car")."""
    text = " ".join(text.split())
    return re.sub(r"(?:\s[A-E]|(?<=Truck)C)$", "", text)


def _hub_year(rows: list[list[Any]], name: str) -> int:
    for row in rows[:4]:
        for cell in _cells(row):
            match = re.search(r"Last Modified:.*?(20\d\d)", str(cell))
            if match:
                return int(match.group(1))
    found = _EDITION_YEAR.search(name)
    if found:
        return int(found.group(1))
    raise bad(name, "sheet header", None, "cannot tell the Hub's edition year")


class _Builder:
    """Collects the factors of one workbook."""

    def __init__(self, name: str, edition: str, year: int) -> None:
        self.name, self.edition, self.year = name, edition, year
        self.out: list[EmissionFactor] = []
        self.per_unit = ""
        self.pending: list[tuple[str, str, list[Decimal]]] = []

    def add(  # noqa: PLR0917 - one factor's fields, in the order of EmissionFactor
        self,
        activity: str,
        level: str,
        key: str,
        gas: str,
        value: Decimal,
        unit: str,
        *,
        data_year: int | None = None,
    ) -> None:
        self.out.append(
            EmissionFactor(
                dataset="EPA-Hub",
                edition=self.edition,
                revision="",
                data_year=self.year if data_year is None else data_year,
                region_level=level,
                region_key=key,
                region_name="United States" if level == "country" else key,
                activity=activity,
                gas=gas,
                value=value,
                unit=unit,
                source=self.name,
            )
        )

    def stationary(self, cells: list[Any], first: str, where: str) -> None:
        if first.startswith("mmBtu per "):
            self.per_unit = _PHYSICAL.get(first.removeprefix("mmBtu per "), "")
            return
        activity = STATIONARY.get(first)
        if activity is None or len(cells) < 8:
            return
        nums = [cell_decimal(c) for c in cells[2:8]]
        if any(n is None for n in nums) or not self.per_unit:
            raise bad(self.name, where, first, "expected 7 numbers after the fuel name")
        per_mmbtu = ("kg/MMBtu", "g/MMBtu", "g/MMBtu")
        per_unit = (f"kg/{self.per_unit}", f"g/{self.per_unit}", f"g/{self.per_unit}")
        for i, (gas, value) in enumerate(zip(("co2", "ch4", "n2o") * 2, nums, strict=True)):
            unit = (per_mmbtu + per_unit)[i]
            if value is not None:
                self.add(activity, "country", "US", gas, value, unit)

    def electricity(self, cells: list[Any], first: str) -> None:
        source = _EGRID_YEAR.search(first)
        if source and first.startswith("Source"):
            for key, level, nums in self.pending:
                for gas, value in zip(("co2", "ch4", "n2o"), nums[3:6], strict=True):
                    self.add(
                        "electricity_nonbaseload",
                        level,
                        key,
                        gas,
                        value,
                        "lb/MWh",
                        data_year=int(source.group(1)),
                    )
            self.pending = []
            return
        key_match = _SUBREGION.match(first)
        nums = [n for n in (cell_decimal(c) for c in cells[1:]) if n is not None]
        if first == "US Average" and len(nums) >= 6:
            self.pending.append(("US", "national", nums))
        elif key_match and len(nums) >= 6:
            self.pending.append((key_match.group(1), "subregion", nums))

    def transport(self, cells: list[Any], first: str, where: str) -> None:
        label = cell_text(cells, 4)
        unit = _UNITS.get(label)
        activity = _TRANSPORT.get((_label(first), _UNIT_LABEL.get(label, label)))
        if unit is None or activity is None:
            return
        nums = [cell_decimal(c) for c in cells[1:4]]
        if any(n is None for n in nums):
            raise bad(self.name, where, first, "expected CO2, CH4 and N2O factors")
        if any(f.activity == activity and f.unit == f"kg/{unit}" for f in self.out):
            return  # Table 8 repeats Table 10's passenger car rows
        for gas, value, mass in zip(("co2", "ch4", "n2o"), nums, ("kg", "g", "g"), strict=True):
            if value is not None:
                self.add(activity, "country", "US", gas, value, f"{mass}/{unit}")


def extract_epa_hub(path: Path, *, edition: str | None = None, origin: str = "package") -> Edition:
    """Extract stationary fuels, non-baseload electricity, transport and travel factors."""
    name = path.name
    if HUB_SHEET not in sheet_names(path):
        raise bad(name, "workbook", None, f"no sheet {HUB_SHEET!r}: not an EPA Hub workbook")
    rows = read_sheet(path, HUB_SHEET)
    # The edition's year: from the file name if it says (the 2024 revision is dated
    # June 2024, the 2021 release September 2021), else the "Last Modified" line.
    named = _EDITION_YEAR.search(name)
    year = int(named.group(1)) if named else _hub_year(rows, name)
    build = _Builder(name, edition or f"epa-hub-{year}", year)
    table = 0
    for line, row in enumerate(rows, start=1):
        cells = _cells(row)
        if not cells:
            continue
        first = cell_text(cells, 0)
        found = _TABLE.match(first)
        if found:
            table = int(found.group(1))
            continue
        where = f"sheet {HUB_SHEET!r} row {line}"
        if table == 1:
            build.stationary(cells, first, where)
        elif table == 6:
            build.electricity(cells, first)
        elif table in (8, 10) and len(cells) >= 5:
            build.transport(cells, first, where)
    if build.pending:
        raise bad(name, "Table 6", None, "no 'Source: EPA eGRIDyyyy' line after the table")
    return make_edition(build.out, origin=origin, source=name)
