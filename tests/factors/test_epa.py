"""EPA GHG Emission Factors Hub: extracts re-derived from the official workbooks, golden
calculations by hand, the GWP set named in the trace, non-baseload rates."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from carbonledger.core.calculator import calculate, recompute
from carbonledger.errors import InvalidInput
from carbonledger.factors import FactorCatalog, Location
from carbonledger.factors.base import write_factor_csv
from carbonledger.factors.epa_hub import extract_epa_hub

OFFICIAL = Path(__file__).parents[1] / "data" / "official"
HUB_YEARS = (2021, 2023, 2024, 2025)


@pytest.fixture(scope="module")
def cat() -> FactorCatalog:
    return FactorCatalog()


@pytest.mark.parametrize("year", HUB_YEARS)
def test_hub_extract_rederives_from_the_official_workbook(year: int) -> None:
    derived = extract_epa_hub(OFFICIAL / f"ghg-emission-factors-hub-{year}.xlsx")
    shipped = resources.files("carbonledger.data").joinpath(f"epa/epa-hub-{year}_extract.csv")
    assert derived.edition == f"epa-hub-{year}"
    assert write_factor_csv(derived.factors) == shipped.read_text("utf-8")


def test_natural_gas_per_therm_golden(cat: FactorCatalog) -> None:
    # Hub 2024 Table 1: natural gas 53.06 kg CO2, 1.0 g CH4, 0.10 g N2O per MMBtu; AR5.
    # 100 therms = 10 MMBtu; 10 x (53.06 + 0.001 x 28 + 0.0001 x 265) = 531.145 kg CO2e.
    r = cat.resolve("natural_gas", Location(country="US"), year=2024)
    res = calculate(Decimal(100), "therm", r)
    assert res.kg_co2e == Decimal("531.145")
    assert res.kg_co2 == Decimal("530.6")  # 10 x 53.06
    assert res.trace["factor"]["basis"] == (
        "AR5 GWP: 53.06 kg CO2 + 1 g CH4 x 28 + 0.1 g N2O x 265 per MMBtu"
    )
    assert recompute(res.trace)["kg_co2e"] == res.kg_co2e
    assert any("EPA GHG Emission Factors Hub" in s for s in r.steps)


def test_natural_gas_per_ccf_golden(cat: FactorCatalog) -> None:
    # Hub 2024 Table 1 per scf: 0.05444 kg CO2, 0.00103 g CH4, 0.0001 g N2O.
    # 100 ccf = 10,000 scf; 10,000 x (0.05444 + 0.00000103 x 28 + 0.0000001 x 265)
    # = 10,000 x 0.05449534 = 544.9534 kg CO2e.
    r = cat.resolve("natural_gas", Location(state="IL"), year=2024)
    assert calculate(Decimal(100), "ccf", r).kg_co2e == Decimal("544.9534")


def test_diesel_per_gallon_golden(cat: FactorCatalog) -> None:
    # Hub 2024 Table 1, Distillate Fuel Oil No. 2: 10.21 kg CO2, 0.41 g CH4, 0.08 g N2O
    # per gallon; 10.21 + 0.00041 x 28 + 0.00008 x 265 = 10.24268 kg CO2e per gallon.
    r = cat.resolve("diesel", Location(country="US"), year=2024)
    assert calculate(Decimal(1), "gal", r).kg_co2e == Decimal("10.24268")


def test_ar6_is_available_and_named(cat: FactorCatalog) -> None:
    # AR6 (fossil CH4 29.8, N2O 273): 10 x (53.06 + 0.001 x 29.8 + 0.0001 x 273)
    # = 10 x 53.1171 = 531.171 kg CO2e.
    r = cat.resolve("natural_gas", Location(country="US"), year=2024, gwp="AR6")
    res = calculate(Decimal(100), "therm", r)
    assert res.kg_co2e == Decimal("531.171")
    assert res.trace["factor"]["basis"].startswith("AR6 GWP:")
    with pytest.raises(InvalidInput, match="unknown GWP set 'AR9'"):
        cat.resolve("natural_gas", Location(country="US"), year=2024, gwp="AR9")


def test_hub_edition_follows_the_year(cat: FactorCatalog) -> None:
    r = cat.resolve("natural_gas", Location(country="US"), year=2022)
    # 2021 and 2023 are equally close; the earlier wins and the choice is stated.
    assert r.co2e.edition == "epa-hub-2021"
    assert any("nearest earlier year 2021" in s for s in r.steps)


@pytest.mark.parametrize(
    ("edition", "key", "co2"),
    [
        # Table 6, non-baseload CO2 lb/MWh (Hub 2024 cites eGRID2022)
        ("epa-hub-2024", "CAMX", "1054.982"),
        ("epa-hub-2024", "US", "1405.322"),
        ("epa-hub-2025", "CAMX", "1033.985"),
        ("epa-hub-2021", "US", "1420.2"),
    ],
)
def test_non_baseload_rates(cat: FactorCatalog, edition: str, key: str, co2: str) -> None:
    found = [
        f
        for f in cat.factors(edition)
        if f.activity == "electricity_nonbaseload" and f.region_key == key and f.gas == "co2"
    ]
    assert [f.value for f in found] == [Decimal(co2)]
    assert found[0].unit == "lb/MWh"


def test_non_baseload_data_year_is_the_egrid_year(cat: FactorCatalog) -> None:
    years = {
        f.data_year for f in cat.factors("epa-hub-2024") if f.activity == "electricity_nonbaseload"
    }
    assert years == {2022}
