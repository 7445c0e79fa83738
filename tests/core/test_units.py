"""Units: canonical symbols, exact constants, refusals, round trips."""

from __future__ import annotations

from decimal import Context, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbonledger.core.units import UNITS, convert, dimension, factor_between, normalise_unit
from carbonledger.errors import InvalidInput, UnknownUnit


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("kwh", "kWh"),
        ("KWH", "kWh"),
        ("kWh", "kWh"),
        (" MWh ", "MWh"),
        ("m^3", "m3"),
        ("litre", "L"),
        ("Litres", "L"),
        ("therms", "therm"),
        ("MMBTU", "MMBtu"),
        ("Dth", "Dth"),
        ("dekatherm", "Dth"),
        ("CCF", "ccf"),
        ("lbs", "lb"),
        ("tonne", "t"),
        ("short ton", "short_ton"),
        ("miles", "mi"),
        ("gallons", "gal"),
        ("cubic metres", "m3"),
    ],
)
def test_normalise_aliases(raw: str, canonical: str) -> None:
    assert normalise_unit(raw) == canonical


@pytest.mark.parametrize("raw", ["mt", "MT", "Mt", " mt "])
def test_mt_is_refused_with_a_hint(raw: str) -> None:
    with pytest.raises(UnknownUnit, match=r"'t'.*short_ton"):
        normalise_unit(raw)


def test_bare_ton_is_ambiguous() -> None:
    with pytest.raises(UnknownUnit, match="short_ton"):
        normalise_unit("tons")


def test_unknown_unit_names_it_and_lists_accepted() -> None:
    with pytest.raises(UnknownUnit, match=r"'furlong'.*accepted units: .*kWh"):
        normalise_unit("furlong")
    assert issubclass(UnknownUnit, ValueError)


@pytest.mark.parametrize(
    ("a", "b", "constant"),
    [
        ("lb", "kg", "0.45359237"),  # international pound, exact
        ("short_ton", "kg", "907.18474"),  # 2000 lb
        ("long_ton", "kg", "1016.0469088"),  # 2240 lb
        ("t", "kg", "1000"),
        ("gal", "L", "3.785411784"),  # US gallon, exact
        ("ft3", "m3", "0.028316846592"),  # (0.3048 m)^3
        ("ccf", "m3", "2.8316846592"),
        ("mcf", "ft3", "1000"),
        ("MWh", "kWh", "1000"),
        ("kWh", "MWh", "0.001"),
        ("kWh", "MJ", "3.6"),
        ("therm", "Btu", "100000"),
        ("Dth", "therm", "10"),
        ("MMBtu", "J", "1055055852.62"),  # 10^6 x 1055.05585262 J
        ("mi", "km", "1.609344"),
    ],
)
def test_exact_constants(a: str, b: str, constant: str) -> None:
    assert factor_between(a, b) == Decimal(constant)
    assert str(factor_between(a, b)) == constant


def test_non_terminating_constant_has_40_digits() -> None:
    # 1 therm = 105,505,585.262 J / 3,600,000 J per kWh = 29.30710701722222... kWh
    c = factor_between("therm", "kWh")
    assert str(c).startswith("29.307107017222222")
    assert len(c.as_tuple().digits) == 40


def test_cross_dimension_is_invalid() -> None:
    with pytest.raises(InvalidInput, match="different dimensions"):
        convert(Decimal(1), "kWh", "kg")
    assert dimension("therm") == "energy"
    assert dimension("gal") == "volume"


def test_convert_rejects_float_and_nan() -> None:
    with pytest.raises(InvalidInput):
        convert(1.5, "kWh", "MWh")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        convert(Decimal("NaN"), "kWh", "MWh")


_PAIRS = [(a, b) for a in UNITS for b in UNITS if UNITS[a][0] == UNITS[b][0]]
_amounts = st.decimals(
    min_value=Decimal("-1e12"),
    max_value=Decimal("1e12"),
    places=6,
    allow_nan=False,
    allow_infinity=False,
)


@given(_amounts, st.sampled_from(_PAIRS))
def test_round_trip(value: Decimal, pair: tuple[str, str]) -> None:
    a, b = pair
    back = convert(convert(value, a, b), b, a)
    # Exact when both constants terminate; otherwise within 40 significant digits.
    assert abs(back - value) <= abs(value) * Decimal("1e-36")
    if Context(prec=200).multiply(factor_between(a, b), factor_between(b, a)) == 1:
        assert back == value


@given(_amounts, st.sampled_from(_PAIRS))
def test_convert_is_value_times_constant(value: Decimal, pair: tuple[str, str]) -> None:
    a, b = pair
    # The product is rounded to 50 digits, the same in every call (no caller context).
    assert convert(value, a, b) == Context(prec=50).multiply(value, factor_between(a, b))
    assert convert(value, a, a) == value
