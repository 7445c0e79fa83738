"""Bill periods and public quantities as the rules check them: ISO dates, per-account intervals.

The ledger state keeps, per account, the periods recorded so far as a flat tuple
of ISO dates ``(start1, end1, start2, end2, ...)``, sorted and disjoint, with
contiguous periods merged (a year of monthly bills is one interval). ISO dates
compare as text, so overlap is a binary search; the tuple is replaced, never
modified, as the state's copy-on-write convention requires.
"""

from __future__ import annotations

import bisect
import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from carbonledger.errors import InvalidInput

__all__ = [
    "MAX_QUANTITY",
    "add_period",
    "check_period",
    "check_quantity",
    "is_iso_date",
    "overlapping",
]

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
#: Largest public quantity a rule accepts (kg, kWh): far beyond any real figure.
MAX_QUANTITY = Decimal(10) ** 24


@lru_cache(maxsize=65536)
def is_iso_date(value: str) -> bool:
    """Whether ``value`` is a date written ``YYYY-MM-DD``."""
    # Cached: records repeat the same few hundred period dates (monthly bills).
    if not _ISO_DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _iso_date(value: object, what: str) -> str:
    if not isinstance(value, str) or not is_iso_date(value):
        raise InvalidInput(f"{what} {value!r} is not a date (YYYY-MM-DD)")
    return value


def check_period(start: object, end: object, what: str) -> tuple[str, str]:
    """Two ISO dates (``YYYY-MM-DD``), start on or before end."""
    start = _iso_date(start, f"{what}: period start")
    end = _iso_date(end, f"{what}: period end")
    if end < start:
        raise InvalidInput(f"{what}: period end {end} is before start {start}")
    return start, end


def check_quantity(value: object, what: str) -> Decimal:
    """A public quantity: a decimal string, finite, non-negative and below MAX_QUANTITY."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what}: {value!r} must be a decimal number as text")
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput(f"{what}: {value!r} is not a number") from exc
    if not number.is_finite() or number < 0 or number >= MAX_QUANTITY:
        raise InvalidInput(f"{what}: {value!r} must be finite, >= 0 and below 1e24")
    return number


def overlapping(known: tuple[str, ...], start: str, end: str) -> tuple[str, str] | None:
    """The recorded interval of ``known`` that [start, end] overlaps, if any."""
    i = bisect.bisect_left(known, start)  # how many bounds lie before ``start``
    if i % 2:  # inside an interval that starts before ``start``
        return known[i - 1], known[i]
    if i < len(known) and known[i] <= end:
        return known[i], known[i + 1]
    return None


@lru_cache(maxsize=65536)
def _next_day(iso: str) -> str:
    if iso == "9999-12-31":  # the last date: nothing follows it
        return ""
    return (date.fromisoformat(iso) + timedelta(days=1)).isoformat()


def add_period(known: tuple[str, ...], start: str, end: str) -> tuple[str, ...]:
    """``known`` with [start, end] added (it must not overlap), contiguous ones merged."""
    if known and known[-1] < start:  # after the last (bills come in order): no search
        if _next_day(known[-1]) == start:
            return (*known[:-1], end)
        return (*known, start, end)
    i = bisect.bisect_left(known, start)
    before, after = known[:i], known[i:]
    if before and _next_day(before[-1]) == start:
        start, before = before[-2], before[:-2]
    if after and _next_day(end) == after[0]:
        end, after = after[1], after[2:]
    return (*before, start, end, *after)
