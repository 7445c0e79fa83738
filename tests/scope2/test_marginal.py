"""Marginal displacement: MOER loaders, interval rates, flat vs marginal, Green Button profiles."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from carbonledger.core.tokens.marginal import (
    displacement,
    interval_rates,
    parse_moer_csv,
    profile_arrays,
)
from carbonledger.errors import InvalidInput, RowError
from carbonledger.greenbutton import parse_file, to_intervals
from carbonledger.services.scope2 import package_moer

GB = Path(__file__).parents[1] / "data" / "greenbutton"
T0 = int(datetime(2023, 6, 8, tzinfo=UTC).timestamp())


@pytest.fixture(scope="module")
def moer():  # type: ignore[no-untyped-def]
    return package_moer()


def test_watttime_file_is_read_as_utc(moer) -> None:  # type: ignore[no-untyped-def]
    assert (len(moer.times), moer.step, moer.region) == (8928, 300, "Caiso_North")
    assert moer.start == T0
    assert moer.g_per_kwh[0] == 425.01605069
    assert moer.notes == ("timestamps in column 'oootime' have no time zone: read as UTC",)
    assert moer.end == int(datetime(2023, 7, 9, tzinfo=UTC).timestamp())  # 31 days x 288


def test_aligned_intervals_take_the_series_values_and_hours_their_mean(moer) -> None:  # type: ignore[no-untyped-def]
    starts = moer.times[:24]
    rates = interval_rates(moer, starts, starts + 300)
    np.testing.assert_allclose(rates, moer.g_per_kwh[:24], rtol=1e-12)
    hour = interval_rates(moer, np.array([T0]), np.array([T0 + 3600]))
    assert hour[0] == pytest.approx(moer.g_per_kwh[:12].mean(), rel=1e-12)
    # A half slot: 2.5 minutes of the first value only.
    half = interval_rates(moer, np.array([T0]), np.array([T0 + 150]))
    assert half[0] == pytest.approx(425.01605069, rel=1e-12)


def test_marginal_equals_a_plain_loop_and_flat_uses_the_mean(moer) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    n = 2000
    starts = moer.times[:n]
    energy = rng.uniform(0, 50, size=(3, n))
    result = displacement(moer, starts, starts + 300, energy)
    for p in range(3):
        loop = sum(float(energy[p, i]) * float(moer.g_per_kwh[i]) for i in range(n))
        assert result.marginal_g[p] == pytest.approx(loop, rel=1e-12)
    mean = float(moer.g_per_kwh[:n].mean())
    assert result.flat_g_per_kwh == pytest.approx(mean, rel=1e-12)
    # A constant profile has the same marginal and flat emissions.
    flat = displacement(moer, starts, starts + 300, np.ones(n))
    assert flat.marginal_g[0] == pytest.approx(flat.flat_g[0], rel=1e-12)
    assert result.interval_g.sum() == pytest.approx(result.marginal_g.sum(), rel=1e-12)
    totals = displacement(moer, starts, starts + 300, energy[0], flat_g_per_kwh=400.0).totals()
    assert totals["flat_g_per_kwh"] == "400.0"
    assert totals["moer"]["notes"] == list(moer.notes)


def test_generic_csv_and_errors() -> None:
    text = "timestamp,moer_g_per_kwh\n2023-01-01T00:00:00Z,400\n2023-01-01T01:00:00+01:00,300\n"
    with pytest.raises(InvalidInput, match="not strictly increasing"):
        parse_moer_csv(text, source="g.csv")  # 01:00+01:00 is 00:00Z again
    series = parse_moer_csv(
        "timestamp,moer_g_per_kwh\n2023-01-01T00:00:00Z,400\n2023-01-01T01:00:00Z,300\n",
        source="g.csv",
    )
    assert (series.step, series.notes) == (3600, ())
    assert (
        "read as UTC"
        in parse_moer_csv(
            "timestamp,moer_g_per_kwh\n2023-01-01 00:00,1\n2023-01-01 01:00,2\n", source="g.csv"
        ).notes[0]
    )
    with pytest.raises(InvalidInput, match="not a MOER CSV"):
        parse_moer_csv("time,value\n", source="x.csv")
    with pytest.raises(RowError, match="line 3: moer_g_per_kwh"):
        parse_moer_csv(
            "timestamp,moer_g_per_kwh\n2023-01-01T00:00Z,1\n2023-01-01T01:00Z,-4\n", source="x.csv"
        )
    with pytest.raises(InvalidInput, match=r"interval 1 .* outside the MOER series"):
        interval_rates(
            series, np.array([0, 0]) + series.start, np.array([3600, 3 * 3600]) + series.start
        )


def test_green_button_hourly_intervals_as_a_profile(moer) -> None:  # type: ignore[no-untyped-def]
    doc = parse_file(GB / "TestGBDataHourlyNineDaysBinnedDaily.xml")
    intervals = [i for i in to_intervals(doc) if i.unit in ("Wh", "kWh")]
    assert intervals
    shift = datetime(2023, 6, 10, tzinfo=UTC) - min(i.start for i in intervals)
    hourly = [
        replace(i, start=i.start + shift, end=i.end + shift)
        for i in intervals
        if i.end - i.start == timedelta(hours=1)
    ]
    starts, ends, kwh = profile_arrays(hourly)
    result = displacement(moer, starts, ends, kwh)
    assert result.kwh[0] == pytest.approx(
        sum(float(i.amount) for i in hourly) / 1000
        if hourly[0].unit == "Wh"
        else sum(float(i.amount) for i in hourly)
    )
    assert result.marginal_g[0] > 0
