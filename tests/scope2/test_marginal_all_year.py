"""Marginal rates all year: AVERT 2023 hourly, WattTime, user CSVs, non-baseload where
nothing else covers; the report names which source covered which intervals."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from carbonledger.core.tokens.marginal_sources import AVERT_REGION, cascade_rates
from carbonledger.errors import InvalidInput
from carbonledger.factors import FactorCatalog
from carbonledger.services.marginal import avert_series, marginal_report
from tests.cli_helpers import Run, _ok

GB = Path(__file__).parents[1] / "data" / "greenbutton"
YEAR = GB / "Coastal_Multi_Family_Jan_1_2011_to_Jan_1_2012_RetailCustomer_5.xml"
AVERT = Path(__file__).parents[2] / "src" / "carbonledger" / "data" / "marginal"
# count of TE values < 0 in the AVERT 2023 file (column TE, counted in the official CSV)
OFFICIAL_AVERT_TE_NEGATIVE_HOURS = 8


def test_avert_negative_hours_are_kept() -> None:
    te = avert_series("TE")
    assert len(te.g_per_kwh) == 8760
    assert int((te.g_per_kwh < 0).sum()) == OFFICIAL_AVERT_TE_NEGATIVE_HOURS
    # the lowest TE hour is -2.52 lb/kWh = -2.52 x 453.59237 g/kWh
    assert te.g_per_kwh.min() == pytest.approx(-2.52 * 453.59237, rel=1e-12)
    assert "8 negative hours kept" in te.notes


def test_avert_hour_zero_is_local_standard_time() -> None:
    ca = avert_series("CA")
    # CA hour 0 = 2023-01-01 00:00 PST = 08:00 UTC; 1.11 lb/kWh in the file.
    assert ca.start == 1672560000  # 2023-01-01T08:00:00Z
    assert ca.g_per_kwh[0] == pytest.approx(1.11 * 453.59237, rel=1e-12)


def test_every_mapped_avert_region_is_a_column_of_the_file() -> None:
    text = gzip.decompress((AVERT / "AVERT_2023_CO2_lb_per_kwh.csv.gz").read_bytes()).decode()
    header = next(csv.reader([text.lstrip("\ufeff").splitlines()[0]]))
    assert set(AVERT_REGION.values()) <= set(header[2:])
    # every eGRID subregion but AKMS and PRMS has an AVERT region
    subregions = {f.region_key for f in FactorCatalog().factors("egrid2023r2")}
    assert subregions - set(AVERT_REGION) == {"AKMS", "PRMS", "US"}


def test_cascade_names_each_source_and_falls_back() -> None:
    te = avert_series("TE")
    starts = np.arange(te.start - 7200, te.start + 7200, 3600, dtype=np.int64)
    ends = starts + 3600
    kwh = np.ones(len(starts))
    rates, coverage = cascade_rates([te], starts, ends, kwh, fallback=(500.0, "flat", "ERCT"))
    assert [(c.source.split(" ")[0], c.intervals) for c in coverage] == [
        ("marginal/AVERT_2023_CO2_lb_per_kwh.csv.gz", 2),
        ("flat", 2),
    ]
    assert list(rates[:2]) == [500.0, 500.0]
    with pytest.raises(InvalidInput, match="covered by no marginal series"):
        cascade_rates([te], starts, ends, kwh)


def test_year_long_file_outside_2023_uses_non_baseload() -> None:
    from carbonledger.core.tokens.marginal import profile_arrays
    from carbonledger.greenbutton import parse_file, to_intervals

    intervals = [i for i in to_intervals(parse_file(YEAR)) if i.unit in ("Wh", "kWh")]
    starts, ends, kwh = profile_arrays(intervals)
    out = marginal_report(FactorCatalog(), starts, ends, kwh, subregion="RFCW")
    # 2011: no hourly series covers it; EPA Hub 2021 Table 6 (eGRID2019, the closest
    # year) RFCW non-baseload 1831.6 lb CO2/MWh = 1831.6 x 0.45359237 g/kWh.
    assert [c["region"] for c in out["coverage"]] == ["RFCW"]
    assert out["coverage"][0]["intervals"] == len(starts)
    expected_kg = float(kwh.sum()) * 1831.6 * 0.45359237 / 1000
    assert out["marginal_kg_co2"] == pytest.approx(expected_kg, abs=0.001)
    assert any("warning" in s for s in out["steps"])  # 8 years from the activity


def test_cli_year_long_green_button_shifted_into_2023(cli: Run, tmp_path: Path) -> None:
    user = tmp_path / "rates.csv"
    # A user series for the first day of June 2023 (UTC), 100 g/kWh flat.
    user.write_text(
        "timestamp,moer_g_per_kwh\n"
        + "".join(f"2023-06-01T{h:02d}:00:00+00:00,100\n" for h in range(24))
    )
    out = json.loads(
        _ok(
            cli(
                "report",
                "marginal",
                "--greenbutton",
                str(YEAR),
                "--shift-to",
                "2023-01-01",
                "--zip",
                "78701",
                "--moer",
                str(user),
            )
        ).stdout
    )
    # ZIP 78701 (Austin) -> ERCT -> AVERT TE. The user series covers 24 hours
    # (it ends at its last timestamp + one step, so 23 one-hour intervals inside it),
    # AVERT TE the rest of 2023 from 06:00 UTC, non-baseload the first 6 hours.
    sources = [c["region"] for c in out["coverage"]]
    assert sources == ["", "AVERT TE", "ERCT"]
    assert sum(c["intervals"] for c in out["coverage"]) == out["intervals"] == 8760
    assert out["coverage"][2]["intervals"] == 6
    assert out["subregion"] == "ERCT"


def test_cli_unknown_subregion_is_refused(cli: Run) -> None:
    res = _ok(cli("report", "marginal", "--greenbutton", str(YEAR), "--subregion", "XXXX"), 2)
    assert "unknown eGRID subregion 'XXXX'" in res.stderr
