"""`carbonledger calc` for flights, travel, hotel nights and freight, and its refusals.

Expected values are hand calculations from the official DEFRA/DESNZ and EPA Hub
files (the factor cited beside each) and the airports' published coordinates.
"""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from carbonledger.core.calculator import recompute
from tests.cli_helpers import Run, _ok

JSON = "--json"


def _json(run: Run, *args: str) -> dict:  # type: ignore[type-arg]
    return orjson.loads(_ok(run("calc", *args, JSON)).stdout)  # type: ignore[no-any-return]


def test_long_haul_flight_with_and_without_rf(cli: Run) -> None:
    out = _json(cli, "--activity", "flight", "--from", "LHR", "--to", "JFK", "--cabin",
                "economy", "--year", "2024")  # fmt: skip
    # airportsdata: LHR 51.4706, -0.46194; JFK 40.639928, -73.778692 -> 5539.629 km
    # (haversine, R 6371.0088 km); DEFRA uplift 8 % -> 5982.799 km; long haul (> 3700 km).
    assert (out["great_circle_km"], out["distance_km"]) == ("5539.629", "5982.799")
    assert (out["haul"], out["cabin"]) == ("long_haul", "economy")
    with_rf, without_rf = out["by_basis"]["with RF"], out["by_basis"]["without RF"]
    # DESNZ 2024 flat file, long-haul economy per passenger.km: 0.20011 with RF,
    # 0.11812 without. 5982.799 x 0.20011 = 1197.218... ; x 0.11812 = 706.688...
    assert with_rf["factor"]["value"] == "0.20011"
    assert without_rf["factor"]["value"] == "0.11812"
    assert Decimal(with_rf["kg_co2e"]) == (Decimal("5982.799") * Decimal("0.20011")).quantize(
        Decimal("0.000001")
    )
    assert Decimal(without_rf["kg_co2e"]) == (Decimal("5982.799") * Decimal("0.11812")).quantize(
        Decimal("0.000001")
    )
    assert out["kg_co2e"] == with_rf["kg_co2e"]
    assert recompute(with_rf["trace"])["kg_co2e"] == Decimal(with_rf["kg_co2e"])
    steps = with_rf["trace"]["resolution"]["steps"]
    assert any("distance uplift 8 %" in s for s in steps)


def test_domestic_flight_has_only_average_cabin(cli: Run) -> None:
    out = _json(cli, "--activity", "flight", "--from", "LHR", "--to", "EDI", "--cabin",
                "business", "--year", "2024")  # fmt: skip
    assert (out["haul"], out["cabin"]) == ("domestic", "average")
    steps = out["by_basis"]["with RF"]["trace"]["resolution"]["steps"]
    assert "DEFRA has no business factor for domestic flights; used average" in steps
    # DESNZ 2024: domestic average passenger 0.27257 with RF
    assert out["by_basis"]["with RF"]["factor"]["value"] == "0.27257"


def test_us_organisation_uses_epa_hub_haul_classes(cli: Run) -> None:
    out = _json(cli, "--activity", "flight", "--from", "JFK", "--to", "LAX", "--country",
                "US", "--year", "2024")  # fmt: skip
    # JFK-LAX is about 3,983 km = 2,475 miles: EPA long haul (>= 2300 miles), no uplift.
    assert out["haul"] == "long_haul"
    assert out["uplift"] == "1"
    single = out["by_basis"]["single"]
    # Hub 2024 Table 10 long haul: 0.16255627009646303 kg CO2, 0.0006430868167202572 g
    # CH4, 0.005179222684995361 g N2O per passenger-mile, read to 15 digits; AR5.
    co2e = (
        Decimal("0.162556270096463")
        + Decimal("0.000643086816720257") * 28 / 1000
        + Decimal("0.00517922268499536") * 265 / 1000
    )
    assert Decimal(single["factor"]["value"]) == co2e
    assert single["factor"]["unit"] == "kg/pmi"
    assert single["factor"]["basis"].startswith("AR5 GWP:")


@pytest.mark.parametrize(
    ("args", "factor"),
    [
        # DESNZ 2024 flat file values
        (("--activity", "rail_national", "--amount", "100", "--unit", "pkm"), "0.03546"),
        (("--activity", "taxi", "--amount", "10", "--unit", "km"), "0.20805"),
        (("--activity", "car_medium_petrol", "--amount", "100", "--unit", "km"), "0.17726"),
        (("--activity", "hotel", "--amount", "2", "--unit", "nights", "--country", "DE"), "13.2"),
        (("--activity", "freight_rail", "--amount", "1000", "--unit", "tkm"), "0.02779"),
    ],
)
def test_other_modes_defra_2024(cli: Run, args: tuple[str, ...], factor: str) -> None:
    out = _json(cli, *args, "--year", "2024")
    amount = Decimal(args[args.index("--amount") + 1])
    assert out["factor"]["value"] == factor
    assert Decimal(out["kg_co2e"]) == (amount * Decimal(factor)).quantize(Decimal("0.000001"))
    assert out["scope"] == ("3-4" if args[1].startswith("freight") else "3-6")


def test_miles_convert_exactly(cli: Run) -> None:
    out = _json(cli, "--activity", "car_medium_petrol", "--amount", "100", "--unit", "mi",
                "--year", "2024")  # fmt: skip
    # 100 mi x 1.609344 km/mi x 0.17726 kg/km = 28.52703...
    assert Decimal(out["kg_co2e"]) == (Decimal("160.9344") * Decimal("0.17726")).quantize(
        Decimal("0.000001")
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--activity", "flight", "--from", "XXX", "--to", "JFK"), "unknown airport 'XXX'"),
        (("--activity", "flight", "--from", "LHR"), "needs --from and --to"),
        (("--activity", "flight", "--from", "LHR", "--to", "JFK", "--cabin", "coach"),
         "unknown cabin class 'coach'"),
        (("--activity", "hotel", "--amount", "1", "--unit", "nights", "--country", "AQ"),
         "no hotel factor for AQ"),
        (("--amount", "-5", "--unit", "kWh", "--country", "GB"), "must not be negative"),
        (("--amount", "5", "--unit", "kWh", "--subregion", "XXXX"),
         "unknown eGRID subregion 'XXXX'"),
        (("--amount", "5", "--unit", "kWh", "--zip", "00000"), "unknown ZIP '00000'"),
        (("--amount", "5", "--unit", "kWh", "--state", "ZZ"), "unknown US state 'ZZ'"),
        (("--amount", "5", "--unit", "kWh", "--country", "Atlantis"), "unknown country"),
    ],
)  # fmt: skip
def test_refusals_name_the_value(cli: Run, args: tuple[str, ...], message: str) -> None:
    res = _ok(cli("calc", *args), code=2)
    assert message in " ".join(res.stderr.split())


def test_puerto_rico_state_is_prms(cli: Run) -> None:
    out = _json(cli, "--amount", "1", "--unit", "MWh", "--state", "PR", "--year", "2023")
    # eGRID2023r2 PRMS 1548.53 lb CO2e/MWh x 0.45359237 = 702.399... kg
    assert out["factor"]["region_key"] == "PRMS"
    assert Decimal(out["kg_co2e"]) == (Decimal("1548.53") * Decimal("0.45359237")).quantize(
        Decimal("0.000001")
    )


def test_every_dimension_has_an_amount_cap() -> None:
    # bills and trips in passenger-km, tonne-km or nights are capped like kWh
    from carbonledger.core.domain import CAP_UNITS
    from carbonledger.core.units import DIMENSIONS

    assert set(CAP_UNITS) == set(DIMENSIONS)
