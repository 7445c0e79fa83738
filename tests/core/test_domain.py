"""Domain values: record ids, the period index, bills and amounts."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonledger.core.domain import (
    RECORD_NAMESPACE,
    Bill,
    PeriodIndex,
    account_ref,
    overlap_error,
    parse_amount,
    parse_date,
    record_id,
)
from carbonledger.errors import InvalidInput, OverlappingPeriod

DAY0 = date(2020, 1, 1)
days = st.integers(min_value=0, max_value=400)


@given(st.text(), st.text(), st.dates(), st.dates())
@settings(max_examples=300)
def test_record_id_is_uuid5_of_site_account_period(
    site: str, account: str, start: date, end: date
) -> None:
    expected = uuid.uuid5(RECORD_NAMESPACE, f"{site}|{account}|{start}|{end}")
    got = record_id(site, account, start, end)
    assert got == str(expected)
    assert uuid.UUID(got).version == 5


def test_record_id_known_value() -> None:
    # fixed once from uuid.uuid5; a change here changes every record id on every ledger
    key = "us|E1|2023-01-01|2023-01-31"
    assert record_id("us", "E1", date(2023, 1, 1), date(2023, 1, 31)) == str(
        uuid.uuid5(uuid.UUID("6f2d3c0e-5b7a-4c1e-9a2f-2b8c1d7e4a10"), key)
    )
    # A bill's record id names its account by the public reference, never the number.
    ref = hashlib.sha256(b"carbonledger-account|us|E1").hexdigest()
    assert account_ref("us", "E1") == ref
    assert Bill("us", "E1", date(2023, 1, 1), date(2023, 1, 31), Decimal(1), "kWh").record_id == (
        record_id("us", ref, date(2023, 1, 1), date(2023, 1, 31))
    )


@st.composite
def accepted_and_queries(
    draw: st.DrawFn,
) -> tuple[dict[str, list[tuple[date, date]]], list[tuple[str, date, date]]]:
    """Non-overlapping periods per account (inserted in random order) and random queries."""
    accepted: dict[str, list[tuple[date, date]]] = {}
    for account in draw(st.lists(st.sampled_from("abc"), unique=True, max_size=3)):
        cursor = draw(days)
        periods = []
        for _ in range(draw(st.integers(0, 8))):
            start = cursor + draw(st.integers(0, 20))
            end = start + draw(st.integers(0, 40))
            periods.append((DAY0 + timedelta(start), DAY0 + timedelta(end)))
            cursor = end + 1
        accepted[account] = draw(st.permutations(periods))
    queries = []
    for _ in range(draw(st.integers(1, 20))):
        start = draw(st.integers(0, 900))
        end = start + draw(st.integers(0, 60))
        account = draw(st.sampled_from("abcd"))
        queries.append((account, DAY0 + timedelta(start), DAY0 + timedelta(end)))
    return accepted, queries


@given(accepted_and_queries())
@settings(max_examples=300)
def test_period_index_overlap_agrees_with_brute_force(
    case: tuple[dict[str, list[tuple[date, date]]], list[tuple[str, date, date]]],
) -> None:
    accepted, queries = case
    index = PeriodIndex()
    for account, periods in accepted.items():
        for n, (start, end) in enumerate(periods):
            index.add(account, start, end, f"{account}{n}")
    for account, start, end in queries:
        clashing = [
            (s, e) for s, e in accepted.get(account, []) if s <= end and start <= e
        ]  # inclusive dates: sharing one day is an overlap
        found = index.overlap(account, start, end)
        if not clashing:
            assert found is None, (account, start, end)
        else:
            assert found is not None, (account, start, end)
            assert (found[0], found[1]) in clashing
            n = accepted[account].index((found[0], found[1]))
            assert found[2] == f"{account}{n}"


def test_period_index_edges() -> None:
    index = PeriodIndex()
    index.add("a", date(2023, 2, 1), date(2023, 2, 28), "feb")
    assert index.overlap("a", date(2023, 1, 1), date(2023, 1, 31)) is None
    assert index.overlap("a", date(2023, 3, 1), date(2023, 3, 31)) is None
    assert index.overlap("a", date(2023, 1, 15), date(2023, 2, 1))[2] == "feb"  # type: ignore[index]
    assert index.overlap("a", date(2023, 2, 28), date(2023, 3, 5))[2] == "feb"  # type: ignore[index]
    assert index.overlap("a", date(2023, 2, 10), date(2023, 2, 11))[2] == "feb"  # type: ignore[index]
    assert index.overlap("a", date(2023, 1, 1), date(2023, 12, 31))[2] == "feb"  # type: ignore[index]
    assert index.overlap("b", date(2023, 2, 1), date(2023, 2, 28)) is None


def test_overlap_error_names_both_periods_and_the_record() -> None:
    bill = Bill("s", "E1", date(2023, 2, 15), date(2023, 3, 14), Decimal(5), "kWh")
    err = overlap_error(bill, (date(2023, 2, 1), date(2023, 2, 28), "rid-1"))
    assert isinstance(err, OverlappingPeriod)
    assert str(err) == (
        "2023-02-15..2023-03-14 for account 'E1' at site 's' overlaps the accepted"
        " period 2023-02-01..2023-02-28 (record rid-1)"
    )


def test_bill_rejects_end_before_start_and_empty_account() -> None:
    with pytest.raises(InvalidInput, match=r"^period: end 2023-01-01 is before start 2023-01-02$"):
        Bill("s", "E1", date(2023, 1, 2), date(2023, 1, 1), Decimal(1), "kWh")
    with pytest.raises(InvalidInput, match=r"^account: required"):
        Bill("s", "", date(2023, 1, 1), date(2023, 1, 1), Decimal(1), "kWh")
    one_day = Bill("s", "E1", date(2023, 1, 1), date(2023, 1, 1), Decimal(1), "kWh")
    assert one_day.year == 2023


@pytest.mark.parametrize(
    ("start", "end", "year"),
    [
        (date(2022, 12, 1), date(2023, 1, 10), 2022),  # 41 days, midpoint 2022-12-21
        (date(2022, 12, 25), date(2023, 1, 31), 2023),  # midpoint 2023-01-12
        (date(2022, 12, 31), date(2023, 1, 1), 2022),  # two days: the earlier midpoint day
        (date(2022, 12, 31), date(2023, 1, 2), 2023),  # three days: midpoint 2023-01-01
    ],
)
def test_bill_year_is_the_year_of_its_midpoint(start: date, end: date, year: int) -> None:
    assert Bill("s", "E1", start, end, Decimal(1), "kWh").year == year


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,234.5", Decimal("1234.5")),
        (" 42 ", Decimal(42)),
        ("0", Decimal(0)),
        ("1e3", Decimal(1000)),
        ("0.000001", Decimal("0.000001")),
    ],
)
def test_parse_amount_accepts(text: str, value: Decimal) -> None:
    assert parse_amount(text, "amount") == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nan", "usage: 'nan' is not a finite number"),
        ("NaN", "usage: 'NaN' is not a finite number"),
        ("inf", "usage: 'inf' is not a finite number"),
        ("-1", "usage: '-1' must be >= 0"),
        ("abc", "usage: 'abc' is not a number"),
        ("", "usage: '' is not a number"),
        ("1.2.3", "usage: '1.2.3' is not a number"),
    ],
)
def test_parse_amount_rejects_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_amount(text, "usage")
    assert str(info.value) == message


def test_parse_amount_zero_when_not_allowed() -> None:
    with pytest.raises(InvalidInput, match=r"^cost: '0' must be > 0$"):
        parse_amount("0", "cost", allow_zero=False)


def test_parse_date() -> None:
    assert parse_date(" 2024-02-29 ", "start") == date(2024, 2, 29)
    for bad in ("2023-02-29", "2023/01/01", "01-01-2023", ""):
        with pytest.raises(InvalidInput, match=rf"^end: '{bad}' is not a date \(use YYYY-MM-DD\)$"):
            parse_date(bad, "end")
