"""Periods split across years and months by days."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbonledger.core.periods import split_amount, split_period
from carbonledger.errors import InvalidInput


def test_bill_across_new_year_split_12_and_31_of_43() -> None:
    # 2021-12-20..2021-12-31 is 12 days, 2022-01-01..2022-01-31 is 31: 43 in all.
    shares = split_period(date(2021, 12, 20), date(2022, 1, 31))
    assert [(s.key, s.days, s.total_days) for s in shares] == [("2021", 12, 43), ("2022", 31, 43)]
    assert shares[0].part(Decimal(430)) == Decimal(120)


def test_by_month() -> None:
    shares = split_period(date(2024, 1, 15), date(2024, 3, 1), by="month")
    assert [(s.key, s.days) for s in shares] == [("2024-01", 17), ("2024-02", 29), ("2024-03", 1)]


def test_refusals() -> None:
    with pytest.raises(InvalidInput, match="ends"):
        split_period(date(2024, 2, 1), date(2024, 1, 1))
    with pytest.raises(InvalidInput, match="split by"):
        split_period(date(2024, 1, 1), date(2024, 1, 2), by="week")


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1)),
    length=st.integers(min_value=0, max_value=800),
    by=st.sampled_from(["year", "month"]),
)
def test_shares_cover_the_period_once(start: date, length: int, by: str) -> None:
    end = start + timedelta(days=length)
    shares = split_period(start, end, by=by)
    assert sum(s.days for s in shares) == length + 1
    assert shares[0].start == start
    assert shares[-1].end == end
    assert all(b.start == a.end + timedelta(days=1) for a, b in itertools.pairwise(shares))


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1)),
    length=st.integers(min_value=0, max_value=800),
    micro=st.integers(min_value=0, max_value=10**15),
)
def test_split_amount_conserves_the_total(start: date, length: int, micro: int) -> None:
    amount = Decimal(micro) / 1_000_000
    shares = split_period(start, start + timedelta(days=length), by="month")
    parts = split_amount(amount, shares)
    assert sum(parts) == amount
    assert all(
        abs(p - s.part(amount)) <= Decimal("0.000001") * len(shares)
        for p, s in zip(parts, shares, strict=True)
    )
