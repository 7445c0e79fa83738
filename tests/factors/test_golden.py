"""Golden values for each factor family, read straight from the official workbooks (not
through the extractor), with the hand calculation beside each."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook

from carbonledger.core.calculator import calculate
from carbonledger.factors import FactorCatalog, Location

OFFICIAL = Path(__file__).parents[1] / "data" / "official"
DEFRA_2024 = OFFICIAL / "ghg-conversion-factors-2024-FlatFormat_v1_1.xlsx"
Q = Decimal("0.000001")


@pytest.fixture(scope="module")
def cat() -> FactorCatalog:
    return FactorCatalog()


@pytest.fixture(scope="module")
def defra_rows() -> dict[str, list[Any]]:
    rows = CalamineWorkbook.from_path(str(DEFRA_2024)).get_sheet_by_name("Factors by Category")
    return {str(r[0]): r for r in rows.to_python() if r and str(r[0])[:1].isdigit()}


def official(rows: dict[str, list[Any]], row_id: str) -> Decimal:
    """Column J (the 2024 factor) of the row with that ID, as Excel shows it."""
    return Decimal(f"{rows[row_id][9]:.15g}")


@pytest.mark.parametrize(
    ("row_id", "activity", "unit", "amount", "kg"),
    [
        # long-haul economy with RF, 0.20011 kg/pkm: 1000 pkm -> 200.11 kg
        ("21_316_3170_11_1", "flight_long_haul_economy", "pkm", "1000", "200.11"),
        # national rail 0.03546 kg/pkm: 250 pkm -> 8.865 kg
        ("25_315_3147_11_1", "rail_national", "pkm", "250", "8.865"),
        # freight train 0.02779 kg/tkm: 1000 tkm -> 27.79 kg
        ("27_315_3151_14_1", "freight_rail", "tkm", "1000", "27.79"),
        # hotel, Germany, 13.2 kg per room night: 3 nights -> 39.6 kg
        ("29_600_4017_13_1", "hotel", "room_night", "3", "39.6"),
    ],
)
def test_defra_2024_travel_and_freight(
    cat: FactorCatalog,
    defra_rows: dict[str, list[Any]],
    row_id: str,
    activity: str,
    unit: str,
    amount: str,
    kg: str,
) -> None:
    country = "DE" if activity == "hotel" else "GB"
    r = cat.resolve(activity, Location(country=country), year=2024)
    assert r.co2e.edition == "defra2024"
    assert r.co2e.value == official(defra_rows, row_id)
    assert calculate(Decimal(amount), unit, r).kg_co2e == Decimal(kg)


def test_defra_2024_freight_rail_row_is_the_one_named(defra_rows: dict[str, list[Any]]) -> None:
    row = defra_rows["27_315_3151_14_1"]
    assert (row[3], row[4], row[7]) == ("Rail", "Freight train", "tonne.km")


def test_epa_hub_rail_per_passenger_mile(cat: FactorCatalog) -> None:
    # Hub 2024 Table 10, Intercity Rail - National Average: 0.113 kg CO2, 0.0092 g CH4,
    # 0.0026 g N2O per passenger-mile; AR5: 0.113 + 0.0092 x 28/1000 + 0.0026 x 265/1000
    # = 0.113 + 0.0002576 + 0.000689 = 0.1139466 kg; 100 passenger-miles -> 11.39466 kg.
    r = cat.resolve("rail_national", Location(country="US"), year=2024)
    assert r.co2e.value == Decimal("0.1139466")
    assert calculate(Decimal(100), "pmi", r).kg_co2e == Decimal("11.39466")
    # the same 100 passenger-miles given in km: 160.9344 km
    assert calculate(Decimal("160.9344"), "pkm", r).kg_co2e == Decimal("11.39466")


def test_epa_hub_freight_rail_per_short_ton_mile(cat: FactorCatalog) -> None:
    # Hub 2025 Table 8, Rail: 0.021 kg CO2, 0.0016 g CH4, 0.0005 g N2O per short ton-mile;
    # 0.021 + 0.0448e-3 + 0.1325e-3 = 0.0211773 kg; 1000 short ton-miles -> 21.1773 kg.
    r = cat.resolve("freight_rail", Location(country="US"), year=2025)
    assert r.co2e.value == Decimal("0.0211773")
    assert r.scope == "3-4"
    assert calculate(Decimal(1000), "short ton-mile", r).kg_co2e == Decimal("21.1773")


@pytest.mark.parametrize(
    ("year", "edition", "therm_kg"),
    [
        # natural gas 53.06 kg CO2 + 1.0 g CH4 + 0.1 g N2O per MMBtu in every edition
        (2021, "epa-hub-2021", "531.145"),
        (2023, "epa-hub-2023", "531.145"),
        (2025, "epa-hub-2025", "531.145"),
    ],
)
def test_epa_gas_each_edition(cat: FactorCatalog, year: int, edition: str, therm_kg: str) -> None:
    r = cat.resolve("natural_gas", Location(zip="60601"), year=year)
    assert r.co2e.edition == edition
    assert calculate(Decimal(100), "therm", r).kg_co2e == Decimal(therm_kg)


@pytest.mark.parametrize(
    ("row_id", "country", "activity"),
    [
        # DEFRA's own names: "Turkey", "Korea", "Hong Kong, China"; London is its own factor
        ("29_600_4051_13_1", "TR", "hotel"),
        ("29_600_4028_13_1", "KR", "hotel"),
        ("29_600_4019_13_1", "HK", "hotel"),
        ("29_600_4001_13_1", "GB", "hotel_london"),
    ],
)
def test_defra_hotel_names_that_are_not_iso_names(
    cat: FactorCatalog, defra_rows: dict[str, list[Any]], row_id: str, country: str, activity: str
) -> None:
    r = cat.resolve(activity, Location(country=country), year=2024)
    assert r.co2e.value == official(defra_rows, row_id)
