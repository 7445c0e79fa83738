"""Quadratic votes: exact values at the documented precision, and their invariants."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbonledger.core.dao.quadratic import (
    VOTE_SCALE,
    format_votes,
    parse_votes,
    votes_decimal,
    votes_for,
)
from carbonledger.core.tokens.model import MAX_AMOUNT
from carbonledger.errors import InvalidInput


@pytest.mark.parametrize(
    ("tokens", "units", "text"),
    [
        (200_000, 4_472_135_955, "447.2135955"),  # sqrt = 447.21359549995...: rounds up
        (100_000, 3_162_277_660, "316.227766"),  # sqrt = 316.22776601683...
        (0, 0, "0"),
        (1, 10**7, "1"),
        (2, 14_142_136, "1.4142136"),  # 1.41421356237...: rounds up
        (3, 17_320_508, "1.7320508"),  # 1.73205080756...: rounds down
        (9_801, 99 * 10**7, "99"),
        (10_000, 100 * 10**7, "100"),
        (400_000, 6_324_555_320, "632.455532"),
    ],
)
def test_votes_are_exact_at_seven_decimals(tokens: int, units: int, text: str) -> None:
    assert votes_for(tokens) == units
    assert format_votes(units) == text
    assert parse_votes(text) == units
    assert votes_decimal(units) == Decimal(text)


def test_the_issues_figures() -> None:
    assert format_votes(votes_for(200_000)) == "447.2135955"
    assert format_votes(votes_for(100_000)) == "316.227766"


@pytest.mark.parametrize("bad", [-1, True, 1.5, "4"])
def test_votes_for_refuses_what_is_not_a_token_count(bad: object) -> None:
    with pytest.raises(InvalidInput):
        votes_for(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["x", "-1", "0.00000001", "NaN", "Infinity"])
def test_parse_votes_refuses(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_votes(bad)


@given(st.integers(min_value=0, max_value=MAX_AMOUNT))
def test_votes_are_the_nearest_unit_to_the_root(tokens: int) -> None:
    """|units - sqrt(tokens) * 10^7| < 1/2, checked in integers: (2u-1)^2 < 4x < (2u+1)^2."""
    units = votes_for(tokens)
    x4 = 4 * tokens * VOTE_SCALE * VOTE_SCALE
    assert (2 * units - 1) ** 2 < x4 < (2 * units + 1) ** 2 or (tokens == 0 and units == 0)
    # never more than half a unit over the exact root: floor and ceiling bracket it
    assert math.isqrt(tokens * VOTE_SCALE**2) <= units <= math.isqrt(tokens * VOTE_SCALE**2) + 1


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=0, max_value=10**6))
def test_more_tokens_never_give_fewer_votes(tokens: int, more: int) -> None:
    assert votes_for(tokens + more) >= votes_for(tokens)


@given(st.integers(min_value=1, max_value=10**12), st.integers(min_value=1, max_value=10**12))
def test_splitting_tokens_never_gives_fewer_votes(a: int, b: int) -> None:
    """Quadratic: sqrt(a) + sqrt(b) >= sqrt(a + b) (why identities are CA-certified)."""
    assert votes_for(a) + votes_for(b) + 1 >= votes_for(a + b)


@given(st.integers(min_value=0, max_value=10**20))
def test_format_and_parse_round_trip(units: int) -> None:
    assert parse_votes(format_votes(units)) == units
