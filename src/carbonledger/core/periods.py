"""Split a period across calendar years or months in proportion to its days.

A bill from 2021-12-20 to 2022-01-31 (both inclusive, 43 days) is 12/43 in 2021
and 31/43 in 2022.  Every report that totals by year or month uses this, so an
amount is neither lost nor counted twice: the shares of a period sum to 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from carbonledger.errors import InvalidInput

__all__ = ["PeriodShare", "split_amount", "split_period"]


@dataclass(frozen=True, slots=True)
class PeriodShare:
    """The part of a period inside one calendar year (``"2021"``) or month (``"2021-12"``)."""

    key: str
    start: date
    end: date
    days: int
    total_days: int

    @property
    def fraction(self) -> Decimal:
        """``days / total_days`` as an exact-enough Decimal (28 digits)."""
        return Decimal(self.days) / Decimal(self.total_days)

    def part(self, amount: Decimal) -> Decimal:
        """``amount x days / total_days`` (multiplied first, so whole shares stay exact)."""
        return amount * self.days / self.total_days


def split_period(start: date, end: date, by: str = "year") -> list[PeriodShare]:
    """Shares of the inclusive period ``start..end`` by ``"year"`` or ``"month"``."""
    if end < start:
        raise InvalidInput(f"period ends ({end}) before it starts ({start})")
    if by not in ("year", "month"):
        raise InvalidInput(f"split by 'year' or 'month', not {by!r}")
    total = (end - start).days + 1
    out: list[PeriodShare] = []
    cursor = start
    while cursor <= end:
        if by == "year":
            boundary = date(cursor.year, 12, 31)
            key = f"{cursor.year}"
        else:
            nxt = date(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1)
            boundary = nxt - timedelta(days=1)
            key = f"{cursor.year}-{cursor.month:02d}"
        stop = min(boundary, end)
        out.append(PeriodShare(key, cursor, stop, (stop - cursor).days + 1, total))
        cursor = stop + timedelta(days=1)
    return out


def split_amount(
    amount: Decimal, shares: list[PeriodShare], quantum: Decimal = Decimal("0.000001")
) -> list[Decimal]:
    """``amount`` split over ``shares`` by days, each part rounded to ``quantum``.

    The last part takes what rounding left over, so the parts always sum to
    ``amount`` exactly (when ``amount`` is a multiple of ``quantum``).
    """
    if not shares:
        return []
    parts = [s.part(amount).quantize(quantum, rounding=ROUND_HALF_EVEN) for s in shares[:-1]]
    return [*parts, amount - sum(parts, Decimal(0))]
