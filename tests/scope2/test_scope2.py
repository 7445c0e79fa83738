"""Market-based Scope 2: the worked example, quality criteria, allocation properties."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonledger.core.tokens.scope2 import (
    Certificate,
    Consumption,
    ResidualMix,
    VintageRule,
    allocate,
)
from carbonledger.errors import InvalidInput, RowError
from carbonledger.services.scope2 import parse_residual_mix, report_csv

D = Decimal


def site(
    kwh: str, *, grid: str = "0.20", month: str = "2023-06", name: str = "hq", region: str = "RFCW"
) -> Consumption:
    location = (D(kwh) * D(grid)).quantize(D("0.000001"))
    return Consumption(name, month, region, D(kwh), location, D(grid), f"test {grid} kg/kWh")


def cert(
    mwh: int,
    *,
    cid: str = "ret-1",
    region: str = "RFCW",
    gen: tuple[str, str] = ("2023-01-01", "2023-12-31"),
    site_: str | None = None,
    order: int = 0,
) -> Certificate:
    return Certificate(
        cid,
        "rec-1",
        "W-1..W-n",
        D(mwh) * 1000,
        region,
        date.fromisoformat(gen[0]),
        date.fromisoformat(gen[1]),
        site_,
        order=order,
    )


RESIDUAL = {"RFCW": ResidualMix("RFCW", D("0.45"), "test residual mix")}


def test_worked_example_200_t_location_180_t_market() -> None:
    # Hand calculation:
    #   location = 1,000,000 kWh x 0.20 kg/kWh                   = 200,000 kg = 200 t
    #   covered  = 600 RECs x 1 MWh = 600,000 kWh at 0 kg/kWh     =       0 kg
    #   residual = (1,000,000 - 600,000) kWh x 0.45 kg/kWh       = 180,000 kg
    #   market   = 0 + 180,000 kg                                 = 180 t
    result = allocate([site("1000000")], [cert(600)], RESIDUAL)
    assert result.location_kg == D("200000")
    assert result.market_kg == D("180000")
    assert result.covered_kwh == D("600000")
    row = result.rows[0]
    assert row.trace["residual"]["kg_per_kwh"] == "0.45"
    assert row.applied == [
        {"retirement": "ret-1", "token": "rec-1", "serial": "W-1..W-n", "kwh": "600000"}
    ]


def test_fallback_without_residual_mix_is_the_location_factor_and_stated() -> None:
    result = allocate([site("1000000")], [cert(600)])
    # 200,000 kg - round(600,000 kWh x 0.20) = 80,000 kg
    assert result.market_kg == D("80000")
    assert "no residual mix loaded for RFCW" in result.rows[0].trace["residual"]["fallback"]
    none = allocate([site("1000000")], [])
    assert none.market_kg == none.location_kg == D("200000")


def test_a_certificate_is_applied_once_and_capped_at_consumption() -> None:
    # 600 MWh against two months of 250,000 kWh: 500,000 kWh used, 100,000 kWh left over.
    rows = [site("250000", month="2023-05"), site("250000", month="2023-06")]
    result = allocate(rows, [cert(600)], RESIDUAL)
    assert [r.covered_kwh for r in result.rows] == [D("250000"), D("250000")]
    assert result.market_kg == 0
    assert result.unapplied == [
        {
            "retirement": "ret-1",
            "token": "rec-1",
            "kwh": "100000",
            "reason": "no eligible consumption left to cover",
        }
    ]
    with pytest.raises(InvalidInput, match="listed twice"):
        allocate(rows, [cert(600), cert(600)])


def test_market_boundary_vintage_and_site_criteria() -> None:
    row = site("100000")
    assert allocate([row], [cert(50, region="CAMX")]).covered_kwh == 0
    # The looser US-wide market boundary accepts any eGRID subregion, not another country.
    assert allocate([row], [cert(50, region="CAMX")], boundary="country").covered_kwh == 50000
    assert allocate([row], [cert(50, region="DE")], boundary="country").covered_kwh == 0
    # Green-e window: 6 months before to 3 months after the consumption year.
    assert allocate([row], [cert(50, gen=("2022-07-01", "2022-09-30"))]).covered_kwh == 50000
    late = allocate([row], [cert(50, gen=("2022-01-01", "2022-03-31"))])
    assert late.covered_kwh == 0
    assert "outside 2022-07-01..2024-03-31" in late.unapplied[0]["reason"]
    strict = VintageRule(0, 0)
    assert (
        allocate([row], [cert(50, gen=("2022-07-01", "2022-09-30"))], vintage=strict).covered_kwh
        == 0
    )
    other = allocate([row], [cert(50, site_="plant")])
    assert other.covered_kwh == 0
    assert other.unapplied[0]["reason"] == "retired for site plant"


def test_retirements_naming_a_site_are_applied_to_it_first() -> None:
    rows = [site("100000", name="a"), site("100000", name="b")]
    certs = [cert(100, cid="generic", order=0), cert(100, cid="for-b", site_="b", order=1)]
    result = allocate(rows, certs)
    by = {r.site: [a["retirement"] for a in r.applied] for r in result.rows}
    assert by == {"a": ["generic"], "b": ["for-b"]}


def test_residual_mix_csv() -> None:
    mixes = parse_residual_mix(
        "region,kg_co2e_per_kwh,source\nRFCW,0.45,Green-e 2023\n", source="x.csv"
    )
    assert mixes["RFCW"].kg_per_kwh == D("0.45")
    with pytest.raises(RowError, match="line 2: kg_co2e_per_kwh"):
        parse_residual_mix("region,kg_co2e_per_kwh\nRFCW,-1\n", source="x.csv")
    with pytest.raises(InvalidInput, match="columns"):
        parse_residual_mix("a,b\n1,2\n", source="x.csv")


def test_csv_report_has_totals() -> None:
    text = report_csv(allocate([site("1000000")], [cert(600)], RESIDUAL))
    lines = text.splitlines()
    assert lines[0].startswith("site,month,region,kwh,covered_kwh")
    assert lines[-1].startswith("TOTAL,,,1000000,600000,400000,200000.000000,180000.000000")


amounts = st.integers(min_value=0, max_value=2_000_000).map(D)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.integers(1, 12),
            amounts,
            st.sampled_from(["RFCW", "CAMX"]),
        ),
        min_size=1,
        max_size=12,
        unique_by=lambda t: (t[0], t[1]),
    ),
    certs=st.lists(
        st.tuples(
            st.integers(1, 3000),
            st.sampled_from(["RFCW", "CAMX", "DE"]),
            st.sampled_from([None, "a", "b"]),
        ),
        max_size=8,
    ),
)
def test_allocations_sum_to_the_total_and_never_exceed_either_side(
    rows: list[tuple[str, int, Decimal, str]], certs: list[tuple[int, str, str | None]]
) -> None:
    consumption = [site(str(kwh), name=s, month=f"2023-{m:02d}", region=r) for s, m, kwh, r in rows]
    certificates = [
        cert(mwh, cid=f"c{n}", region=r, site_=s, order=n) for n, (mwh, r, s) in enumerate(certs)
    ]
    result = allocate(consumption, certificates, RESIDUAL)
    applied: dict[str, Decimal] = {}
    for r in result.rows:
        parts = sum((D(a["kwh"]) for a in r.applied), D(0))
        assert parts == r.covered_kwh <= r.kwh
        for a in r.applied:
            applied[a["retirement"]] = applied.get(a["retirement"], D(0)) + D(a["kwh"])
        assert r.market_kg >= 0
    left = {u["retirement"]: D(u["kwh"]) for u in result.unapplied}
    for c in certificates:
        assert applied.get(c.id, D(0)) + left.get(c.id, D(0)) == c.kwh
    assert result.covered_kwh == sum(applied.values(), D(0))
    assert result.location_kg == sum((c.location_kg for c in consumption), D(0))
