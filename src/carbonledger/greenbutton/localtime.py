"""ESPI LocalTimeParameters: a usage point's offset from UTC and its DST rules, decoded.

Bills cut at local months (``timezone="local"``) use :meth:`LocalTimeParameters.utc_offset`.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

__all__ = ["LocalTimeParameters", "dst_rule_instant"]


@dataclass(frozen=True, slots=True)
class LocalTimeParameters:
    """The usage point's time zone: offsets in seconds, DST rules as ESPI bit fields."""

    tz_offset: int
    dst_offset: int = 0
    dst_start_rule: int | None = None
    dst_end_rule: int | None = None

    def utc_offset(self, t: int) -> int:
        """Seconds to add to UTC Unix time ``t`` to get local wall time, DST included.

        Without decodable DST rules the standard offset applies all year.  The
        start rule is read as local standard time and the end rule as daylight
        time, as in the US rules (2:00 local on both days).
        """
        std = t + self.tz_offset
        year = datetime.fromtimestamp(std, UTC).year
        begin = dst_rule_instant(self.dst_start_rule, year)
        end = dst_rule_instant(self.dst_end_rule, year)
        if begin is None or end is None or not self.dst_offset:
            return self.tz_offset
        end -= self.dst_offset
        active = begin <= std < end if begin < end else (std >= begin or std < end)
        return self.tz_offset + (self.dst_offset if active else 0)


@lru_cache(maxsize=256)
def dst_rule_instant(rule: int | None, year: int) -> int | None:
    """Local-time Unix seconds of an ESPI DST rule in ``year``, or None if not decodable.

    Bits: 0-11 seconds, 12-16 hours, 17-19 day of week (1 = Monday), 20-24 day of
    month, 25-27 operator (0 day of month, 1 weekday on or after it, 2-6 first to
    fifth weekday, 7 last weekday), 28-31 month.
    """
    if not rule:
        return None
    seconds, hours = rule & 0xFFF, (rule >> 12) & 0x1F
    weekday, day, op, month = (rule >> 17) & 7, (rule >> 20) & 0x1F, (rule >> 25) & 7, rule >> 28
    if not 1 <= month <= 12:
        return None
    last = calendar.monthrange(year, month)[1]
    if op == 0:
        found = day
    elif not 1 <= weekday <= 7:
        return None
    else:
        first = (weekday - 1 - calendar.weekday(year, month, 1)) % 7 + 1
        if op == 1:
            found = first + max(0, -(-(day - first) // 7)) * 7
        elif op == 7:
            found = first + (last - first) // 7 * 7
        else:
            found = first + (op - 2) * 7
    if not 1 <= found <= last:
        return None
    return calendar.timegm((year, month, found, 0, 0, 0)) + hours * 3600 + seconds
