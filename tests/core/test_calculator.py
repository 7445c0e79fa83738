"""Calculator: golden values from the official files, trace recomputation, errors."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from importlib import resources

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonledger.core.calculator import QUANTUM, calculate, recompute
from carbonledger.errors import FactorNotFound, InvalidInput, UnknownUnit
from carbonledger.factors import DataWarning, FactorCatalog, Location

LB = Decimal("0.45359237")  # kg per lb, exact


@pytest.fixture(scope="module")
def cat() -> FactorCatalog:
    return FactorCatalog()


def test_rfcw_2022_golden(cat: FactorCatalog) -> None:
    r = cat.resolve("electricity", Location(subregion="RFCW"), edition="egrid2022")
    res = calculate(Decimal(1000), "MWh", r)
    # 1005.904 lb/MWh x 1000 MWh = 1,005,904 lb x 0.45359237 kg/lb = 456,270.37935... kg
    assert res.kg_co2e == Decimal("456270.379352")
    assert round(res.kg_co2e / 1000, 3) == Decimal("456.270")  # t CO2e
    # 1000.053 lb/MWh x 1000 MWh = 1,000,053 lb x 0.45359237 = 453,616.41039... kg
    assert res.kg_co2 == Decimal("453616.410396")
    assert round(res.kg_co2 / 1000, 3) == Decimal("453.616")
    # renewable share 7.9 % of 1,000,000 kWh = 79,000 kWh; non-renewable 92.1 % = 921,000
    assert res.renewable_kwh == Decimal(79000)
    assert res.nonrenewable_kwh == Decimal(921000)
    assert res.scope == "2-location"
    assert res.trace["factor"]["value"] == "1005.904"
    assert {
        "for": "co2e",
        "quantity": "mass",
        "from": "lb",
        "to": "kg",
        "constant": "0.45359237",
    } in res.trace["conversions"]


def test_same_amount_in_kwh_gives_same_result(cat: FactorCatalog) -> None:
    r = cat.resolve("electricity", Location(subregion="RFCW"), edition="egrid2022")
    assert calculate(Decimal(1_000_000), "kWh", r).kg_co2e == Decimal("456270.379352")


def test_uk_2024_golden(cat: FactorCatalog) -> None:
    r = cat.resolve("electricity", Location(country="UK"), year=2024)
    res = calculate(Decimal(100_000), "kWh", r)
    # 100,000 kWh x 0.20705 kg CO2e/kWh = 20,705 kg (T&D losses are separate, not added)
    assert res.kg_co2e == Decimal(20705)
    # 100,000 kWh x 0.20493 kg CO2/kWh = 20,493 kg
    assert res.kg_co2 == Decimal(20493)
    assert res.renewable_kwh is None


def test_egrid2022_national_and_camx(cat: FactorCatalog) -> None:
    nat = cat.resolve("electricity", Location(country="US"), year=2022)
    # 1 MWh x 827.52 lb/MWh x 0.45359237 kg/lb = 362.873896 + 12.48286202 = 375.35675802 kg
    assert calculate(Decimal(1), "MWh", nat).kg_co2e == Decimal("375.356758")
    camx = cat.resolve("electricity", Location(subregion="CAMX"), year=2022)
    # 1 MWh x 499.278 lb/MWh x 0.45359237 = 226.34259263 + 0.12609867886 = 226.46869130886 kg
    assert calculate(Decimal(1), "MWh", camx).kg_co2e == Decimal("226.468691")


@pytest.mark.parametrize(
    ("country", "g_per_kwh"), [("EU27", None), ("DE", 338), ("FR", 52), ("PL", 719)]
)
def test_eea_2019(cat: FactorCatalog, country: str, g_per_kwh: int | None) -> None:
    if g_per_kwh is None:  # EU-27 is a region row, checked via the edition
        eu = [
            f
            for f in cat.factors("eea-co2-intensity-6")
            if f.region_key == "EU27" and f.data_year == 2019
        ]
        assert [f.value for f in eu] == [Decimal(275)]
        return
    r = cat.resolve("electricity", Location(country=country), year=2019)
    # 1000 kWh x N g/kWh = N kg
    res = calculate(Decimal(1000), "kWh", r)
    assert res.kg_co2 == Decimal(g_per_kwh)
    assert res.kg_co2e == Decimal(g_per_kwh)  # CO2 used for CO2e, stated:
    assert res.trace["co2e_is_co2_proxy"] is True


def test_natural_gas_therms_golden(cat: FactorCatalog) -> None:
    r = cat.resolve("natural_gas", Location(country="GB"), year=2024)
    res = calculate(Decimal(1000), "therm", r)
    # 1000 therm = 10^8 Btu x 1055.05585262 J/Btu = 105,505,585,262 J
    #            / 3,600,000 J/kWh = 29,307.1070172222... kWh (gross CV)
    #            x 0.1829 kg CO2e/kWh = 5,360.26987345... kg -> 5360.269873
    assert res.kg_co2e == Decimal("5360.269873")
    # x 0.18253 kg CO2/kWh = 5,349.42624... kg
    assert res.kg_co2 == Decimal("5349.426244")
    assert res.scope == "1"


def test_natural_gas_by_volume_uses_the_m3_factor(cat: FactorCatalog) -> None:
    r = cat.resolve("natural_gas", Location(country="GB"), year=2024)
    # 1 ccf = 100 ft3 = 2.8316846592 m3; x 2.04542 kg CO2e/m3 = 5.79198443... kg
    assert calculate(Decimal(1), "ccf", r).kg_co2e == Decimal("5.791984")
    assert calculate(Decimal(1), "t", r).trace["factor"]["unit"] == "kg/t"
    with pytest.raises(FactorNotFound, match="distance"):
        calculate(Decimal(1), "km", r)


def _egrid_rows() -> list[tuple[str, str, str, str]]:
    rows = []
    for edition in ("egrid2021", "egrid2022", "egrid2023r2"):
        text = (
            resources.files("carbonledger.data")
            .joinpath(f"egrid/subregions_{edition}.csv")
            .read_text()
        )
        for row in csv.DictReader(io.StringIO(text)):
            key = "US" if row["type"] == "national" else row["subregion"]
            rows.append((edition, key, row["co2e_lb_per_mwh"], row["co2_lb_per_mwh"]))
    return rows


@pytest.mark.parametrize(("edition", "key", "co2e", "co2"), _egrid_rows())
def test_table_across_editions(
    cat: FactorCatalog, edition: str, key: str, co2e: str, co2: str
) -> None:
    loc = Location(country="US") if key == "US" else Location(subregion=key)
    r = cat.resolve("electricity", loc, edition=edition)
    res = calculate(Decimal(10), "MWh", r)
    # 10 MWh x rate lb/MWh x 0.45359237 kg/lb, rounded half-even to 0.000001 kg
    assert res.kg_co2e == (10 * Decimal(co2e) * LB).quantize(QUANTUM)
    assert res.kg_co2 == (10 * Decimal(co2) * LB).quantize(QUANTUM)


def test_trace_is_json_without_floats(cat: FactorCatalog) -> None:
    r = cat.resolve("electricity", Location(zip="00019"), year=2022)
    res = calculate(Decimal("12.5"), "MWh", r)
    text = orjson.dumps(res.trace)
    assert orjson.loads(text) == res.trace

    def walk(v: object) -> None:
        assert not isinstance(v, float)
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(res.trace)
    assert res.trace["resolution"]["alternatives"]
    assert res.trace["inputs"] == {"amount": "12.5", "unit": "MWh"}


def test_errors(cat: FactorCatalog) -> None:
    r = cat.resolve("electricity", Location(country="GB"), year=2024)
    with pytest.raises(UnknownUnit, match="mt"):
        calculate(Decimal(1), "mt", r)
    with pytest.raises(UnknownUnit, match="'bananas'"):
        calculate(Decimal(1), "bananas", r)
    with pytest.raises(InvalidInput):
        calculate(1.5, "kWh", r)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        calculate(Decimal("Infinity"), "kWh", r)
    with pytest.raises(FactorNotFound, match="mass"):
        calculate(Decimal(1), "kg", r)


def test_recompute_rejects_garbage() -> None:
    with pytest.raises(InvalidInput):
        recompute({"schema": "nope"})


def test_2023r1_result_trace_carries_the_contradiction() -> None:
    with pytest.warns(DataWarning):
        r = FactorCatalog().resolve(
            "electricity", Location(subregion="CAMX"), edition="egrid2023r1"
        )
    res = calculate(Decimal(1), "MWh", r)
    assert any("contradicts itself" in s for s in res.trace["resolution"]["steps"])


_UNITS = ["kWh", "MWh", "Wh", "GJ", "MMBtu", "therm", "kBtu", "Dth"]
_LOCS = [
    Location(subregion="RFCW"),
    Location(country="GB"),
    Location(country="DE"),
    Location(zip="00019"),
    Location(state="TX"),
]
_GAS = ["therm", "kWh", "m3", "ccf", "mcf", "t", "lb", "MMBtu"]


@settings(max_examples=300, deadline=None)
@given(
    amount=st.decimals(
        min_value=Decimal(0),
        max_value=Decimal("1e12"),
        places=4,
        allow_nan=False,
        allow_infinity=False,
    ),
    unit=st.sampled_from(_UNITS),
    loc=st.sampled_from(_LOCS),
    year=st.sampled_from([None, 2019, 2021, 2022, 2024]),
)
def test_recompute_equals_calculate(
    amount: Decimal, unit: str, loc: Location, year: int | None
) -> None:
    r = _CAT.resolve("electricity", loc, year=year)
    res = calculate(amount, unit, r)
    again = recompute(orjson.loads(orjson.dumps(res.trace)))
    assert again == {
        "kg_co2e": res.kg_co2e,
        "kg_co2": res.kg_co2,
        "renewable_kwh": res.renewable_kwh,
        "nonrenewable_kwh": res.nonrenewable_kwh,
    }


@settings(max_examples=200, deadline=None)
@given(
    amount=st.decimals(
        min_value=Decimal(0),
        max_value=Decimal("1e9"),
        places=3,
        allow_nan=False,
        allow_infinity=False,
    ),
    unit=st.sampled_from(_GAS),
    fuel=st.sampled_from(["natural_gas", "diesel", "lpg"]),
)
def test_recompute_fuels(amount: Decimal, unit: str, fuel: str) -> None:
    r = _CAT.resolve(fuel, Location(country="GB"), year=2020)
    try:
        res = calculate(amount, unit, r)
    except FactorNotFound:
        return  # e.g. diesel gives no m3 factor (DEFRA gives litres): refused, not guessed
    assert recompute(res.trace)["kg_co2e"] == res.kg_co2e


_CAT = FactorCatalog()


def test_negative_amount_is_refused() -> None:
    # An activity is never negative; credits are explicit transactions of their own.
    r = _CAT.resolve("electricity", Location(country="GB"), year=2024)
    with pytest.raises(InvalidInput, match="must not be negative"):
        calculate(Decimal("-0.001"), "kWh", r)
