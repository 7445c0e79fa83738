"""Units of measure and exact Decimal conversions within a dimension.

Every unit is defined by its size in the dimension's base unit (J, m3, kg, km)
as an exact decimal taken from its legal definition (1 lb = 0.45359237 kg,
1 US gal = 3.785411784 L, 1 Btu (IT) = 1055.05585262 J).  A conversion constant
is the ratio of two such sizes; it is exact whenever the ratio terminates and
otherwise carries :data:`CONVERSION_DIGITS` significant digits, which is far
below the precision of any emission factor.

Unit strings are matched case-insensitively through an alias table, except
where that would be ambiguous: ``mt``/``MT`` (metric tonne or megatonne?) and
bare ``ton`` (short, long or metric?) are refused with a hint.
"""

from __future__ import annotations

from decimal import Context, Decimal
from functools import lru_cache

from carbonledger.errors import InvalidInput, UnknownUnit

__all__ = [
    "CONVERSION_DIGITS",
    "DIMENSIONS",
    "UNITS",
    "convert",
    "dimension",
    "factor_between",
    "normalise_unit",
    "split_rate_unit",
]

#: Significant digits kept by a non-terminating conversion constant.
CONVERSION_DIGITS = 40

# A private context so results never depend on the caller's decimal context.
_CTX = Context(prec=CONVERSION_DIGITS + 10)

_BTU_J = Decimal("1055.05585262")  # International Table Btu, exact by definition
_FT3_M3 = Decimal("0.028316846592")  # (0.3048 m)^3, exact
_LB_KG = Decimal("0.45359237")  # international avoirdupois pound, exact

#: canonical symbol -> (dimension, size in the dimension's base unit)
UNITS: dict[str, tuple[str, Decimal]] = {
    # energy, base J
    "J": ("energy", Decimal(1)),
    "kJ": ("energy", Decimal(1000)),
    "MJ": ("energy", Decimal(10) ** 6),
    "GJ": ("energy", Decimal(10) ** 9),
    "Wh": ("energy", Decimal(3600)),
    "kWh": ("energy", Decimal(3600) * 10**3),
    "MWh": ("energy", Decimal(3600) * 10**6),
    "GWh": ("energy", Decimal(3600) * 10**9),
    "TWh": ("energy", Decimal(3600) * 10**12),
    "Btu": ("energy", _BTU_J),
    "kBtu": ("energy", _BTU_J * 1000),
    "MMBtu": ("energy", _BTU_J * 10**6),
    "therm": ("energy", _BTU_J * 10**5),  # 100,000 Btu
    "Dth": ("energy", _BTU_J * 10**6),  # dekatherm = 10 therms
    # volume, base m3
    "m3": ("volume", Decimal(1)),
    "L": ("volume", Decimal("0.001")),
    "gal": ("volume", Decimal("0.003785411784")),  # US liquid gallon, exact
    "ft3": ("volume", _FT3_M3),
    "ccf": ("volume", _FT3_M3 * 100),
    "mcf": ("volume", _FT3_M3 * 1000),
    # mass, base kg
    "g": ("mass", Decimal("0.001")),
    "kg": ("mass", Decimal(1)),
    "t": ("mass", Decimal(1000)),  # metric tonne
    "lb": ("mass", _LB_KG),
    "short_ton": ("mass", _LB_KG * 2000),  # eGRID "tons"
    "long_ton": ("mass", _LB_KG * 2240),
    # distance, base km
    "m": ("distance", Decimal("0.001")),
    "km": ("distance", Decimal(1)),
    "mi": ("distance", Decimal("1.609344")),
    # passenger distance (travel), base passenger-km
    "pkm": ("passenger_distance", Decimal(1)),
    "pmi": ("passenger_distance", Decimal("1.609344")),
    # freight (mass moved over a distance), base tonne-km
    "tkm": ("freight", Decimal(1)),
    "short_ton_mi": ("freight", _LB_KG * 2000 / 1000 * Decimal("1.609344")),
    # hotel stays, base room-night
    "room_night": ("stay", Decimal(1)),
}

DIMENSIONS: tuple[str, ...] = (
    "energy",
    "volume",
    "mass",
    "distance",
    "passenger_distance",
    "freight",
    "stay",
)

# Lower-case aliases.  Lower-casing makes "mwh" mean MWh: milliwatt-hours never
# appear on a bill, so that reading is the unambiguous one.
_ALIASES: dict[str, str] = {
    **{sym.lower(): sym for sym in UNITS},
    "watt-hour": "Wh",
    "kilowatt-hour": "kWh",
    "kilowatt hour": "kWh",
    "kilowatt-hours": "kWh",
    "kilowatt hours": "kWh",
    "megawatt-hour": "MWh",
    "megawatt hour": "MWh",
    "megawatt-hours": "MWh",
    "megawatt hours": "MWh",
    "joule": "J",
    "joules": "J",
    "megajoule": "MJ",
    "gigajoule": "GJ",
    "btus": "Btu",
    "mbtu": "kBtu",
    "kbtus": "kBtu",
    "mmbtus": "MMBtu",
    "therms": "therm",
    "thm": "therm",
    "thms": "therm",
    "dth": "Dth",
    "dekatherm": "Dth",
    "dekatherms": "Dth",
    "decatherm": "Dth",
    "decatherms": "Dth",
    "m^3": "m3",
    "m³": "m3",
    "cubic metre": "m3",
    "cubic metres": "m3",
    "cubic meter": "m3",
    "cubic meters": "m3",
    "cu m": "m3",
    "litre": "L",
    "litres": "L",
    "liter": "L",
    "liters": "L",
    "ltr": "L",
    "gallon": "gal",
    "gallons": "gal",
    "us gal": "gal",
    "us_gal": "gal",
    "ft^3": "ft3",
    "ft³": "ft3",
    "cf": "ft3",
    "cubic foot": "ft3",
    "cubic feet": "ft3",
    "hcf": "ccf",
    "gram": "g",
    "grams": "g",
    "kilogram": "kg",
    "kilograms": "kg",
    "kgs": "kg",
    "tonne": "t",
    "tonnes": "t",
    "metric ton": "t",
    "metric tonne": "t",
    "metric_ton": "t",
    "metric tons": "t",
    "lbs": "lb",
    "pound": "lb",
    "pounds": "lb",
    "short ton": "short_ton",
    "short tons": "short_ton",
    "short_tons": "short_ton",
    "long ton": "long_ton",
    "long tons": "long_ton",
    "long_tons": "long_ton",
    "metre": "m",
    "meter": "m",
    "metres": "m",
    "meters": "m",
    "kilometre": "km",
    "kilometer": "km",
    "kilometres": "km",
    "kilometers": "km",
    "mile": "mi",
    "miles": "mi",
    "scf": "ft3",
    "passenger.km": "pkm",
    "passenger-km": "pkm",
    "passenger km": "pkm",
    "passenger-mile": "pmi",
    "passenger mile": "pmi",
    "passenger-miles": "pmi",
    "tonne.km": "tkm",
    "tonne-km": "tkm",
    "tonne km": "tkm",
    "t.km": "tkm",
    "short ton-mile": "short_ton_mi",
    "short ton-miles": "short_ton_mi",
    "vehicle-mile": "mi",
    "vehicle-km": "km",
    "room per night": "room_night",
    "room-night": "room_night",
    "room nights": "room_night",
    "room-nights": "room_night",
    "night": "room_night",
    "nights": "room_night",
}

# Strings refused because every reading of them is plausible.
_AMBIGUOUS: dict[str, str] = {
    "mt": "'mt' is ambiguous (metric tonne or megatonne?): say 't' for a metric "
    "tonne or 'short_ton' for a US (eGRID) ton",
    "ton": "'ton' is ambiguous: say 't' (metric tonne), 'short_ton' (2000 lb, eGRID "
    "tons) or 'long_ton' (2240 lb)",
    "tons": "'tons' is ambiguous: say 't' (metric tonne), 'short_ton' (2000 lb, eGRID "
    "tons) or 'long_ton' (2240 lb)",
}


@lru_cache(maxsize=2048)
def normalise_unit(unit: str) -> str:
    """Return the canonical symbol for ``unit`` (``"KWH"`` -> ``"kWh"``).

    Raises :class:`UnknownUnit` naming the unit and listing accepted symbols;
    ``mt``/``MT`` and bare ``ton`` are refused with a hint on what to say instead.
    """
    if not isinstance(unit, str):
        raise UnknownUnit(f"unit must be a string, got {type(unit).__name__}")
    text = unit.strip()
    if text in UNITS:
        return text
    key = " ".join(text.lower().split())
    if key in _AMBIGUOUS:
        raise UnknownUnit(f"unknown unit {unit!r}: {_AMBIGUOUS[key]}")
    found = _ALIASES.get(key) or _ALIASES.get(key.replace(" ", "_"))
    if found is None:
        raise UnknownUnit(f"unknown unit {unit!r}; accepted units: {', '.join(UNITS)}")
    return found


def dimension(unit: str) -> str:
    """Return the dimension of ``unit``: one of :data:`DIMENSIONS`."""
    return UNITS[normalise_unit(unit)][0]


@lru_cache(maxsize=4096)
def factor_between(from_unit: str, to_unit: str) -> Decimal:
    """Return the constant c such that ``x from_unit == x * c to_unit``.

    Exact when the ratio of the two unit definitions terminates (lb -> kg gives
    0.45359237); otherwise rounded to :data:`CONVERSION_DIGITS` significant digits.
    Raises :class:`InvalidInput` when the units measure different dimensions.
    """
    src, dst = normalise_unit(from_unit), normalise_unit(to_unit)
    (dim_a, size_a), (dim_b, size_b) = UNITS[src], UNITS[dst]
    if dim_a != dim_b:
        raise InvalidInput(
            f"cannot convert {src} ({dim_a}) to {dst} ({dim_b}): different dimensions"
        )
    if src == dst:
        return Decimal(1)
    exact = Context(prec=200).divide(size_a, size_b)
    ratio = Context(prec=CONVERSION_DIGITS).plus(exact)
    # Trailing zeros and exponents would make traces harder to read, not more exact.
    if ratio == ratio.to_integral_value():
        return ratio.quantize(Decimal(1), context=Context(prec=CONVERSION_DIGITS + 10))
    return ratio.normalize(Context(prec=CONVERSION_DIGITS))


def convert(value: Decimal, from_unit: str, to_unit: str) -> Decimal:
    """Convert ``value`` between two units of one dimension, in Decimal."""
    if not isinstance(value, Decimal):
        raise InvalidInput(f"value must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise InvalidInput(f"value must be finite, got {value}")
    return _CTX.multiply(value, factor_between(from_unit, to_unit))


@lru_cache(maxsize=1024)
def split_rate_unit(rate_unit: str) -> tuple[str, str]:
    """Split a factor unit such as ``"lb/MWh"`` into canonical (mass, activity) units."""
    mass, sep, activity = rate_unit.partition("/")
    if not sep:
        raise UnknownUnit(f"factor unit {rate_unit!r} is not of the form MASS/ACTIVITY")
    mass_unit, activity_unit = normalise_unit(mass), normalise_unit(activity)
    if UNITS[mass_unit][0] != "mass":
        raise UnknownUnit(f"factor unit {rate_unit!r}: {mass!r} is not a mass unit")
    return mass_unit, activity_unit
