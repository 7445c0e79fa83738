"""Largest-remainder splits add up exactly, whatever the total's number of digits."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest

from carbonledger.core.apportion import largest_remainder
from carbonledger.core.units import convert


@pytest.mark.parametrize(
    "total",
    [
        Decimal("1000"),
        Decimal("0.0000001"),
        Decimal("99999999999999"),
        # 100 therms in kWh: the conversion's exact quotient, 42 digits (past the default
        # 28-digit context, where the split used to fail instead of answering)
        convert(Decimal(100), "therm", "kWh"),
        convert(Decimal("999999999999999999"), "therm", "kWh"),
    ],
)
@pytest.mark.parametrize(
    "weights", [("7.1", "92.9"), ("33.333", "33.333", "33.334"), ("0", "100"), ("1", "0")]
)
def test_parts_add_up_to_the_total_at_its_precision(total: Decimal, weights: tuple[str]) -> None:
    ws = [Decimal(w) for w in weights]
    parts = largest_remainder(total, ws)
    exponent = min(int(total.as_tuple().exponent), 0)
    assert {p.as_tuple().exponent for p in parts} == {exponent}
    with localcontext() as exact:  # the test's own sums, with digits to spare
        exact.prec = 100
        assert sum(parts, Decimal(0)) == total
        quantum = Decimal(1).scaleb(exponent)
        whole = sum(ws, Decimal(0))
        for part, w in zip(parts, ws, strict=True):
            # each part is its share rounded down, or one last-place unit more
            assert abs(part - total * w / whole) < quantum
