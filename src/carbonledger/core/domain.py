"""Domain values: organisations, sites and bills, validated without I/O."""

from __future__ import annotations

import bisect
import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from carbonledger.core.ids import ID_PATTERN
from carbonledger.core.items import OrganisationItem, SiteItem
from carbonledger.core.units import UNITS, factor_between, normalise_unit
from carbonledger.errors import InvalidInput, OverlappingPeriod

__all__ = [
    "CAP_UNITS",
    "MAX_AMOUNT",
    "RECORD_NAMESPACE",
    "Bill",
    "Organisation",
    "PeriodIndex",
    "Site",
    "account_ref",
    "check_quantity",
    "overlap_error",
    "parse_amount",
    "parse_date",
    "record_id",
    "record_id_bytes",
]

# Record ids are derived from (site, account, period) so the same bill always
# gets the same id, which is what makes imports idempotent.
RECORD_NAMESPACE = uuid.UUID("6f2d3c0e-5b7a-4c1e-9a2f-2b8c1d7e4a10")


#: Largest amount accepted from a bill: far beyond any real quantity (1e18 kWh is
#: a thousand times world electricity use), well inside the calculator's range.
MAX_AMOUNT = Decimal(10) ** 18

#: The unit of each dimension in which :data:`MAX_AMOUNT` applies. The cap is
#: checked after conversion, so ``999999999999999999 GWh`` (about 1e27 kWh) is
#: refused although its number is below the cap.
CAP_UNITS: dict[str, str] = {
    "energy": "kWh",
    "volume": "m3",
    "mass": "kg",
    "distance": "km",
    "passenger_distance": "pkm",
    "freight": "tkm",
    "stay": "room_night",
}

# Amounts use a decimal point. A comma is read only as a thousands separator in
# strict groups of three, and only where it cannot be a decimal comma: with a
# decimal point ("1,234.5") or with two or more groups ("1,234,567"). "1,5",
# "1.234,5" and "1,234" (1234 in Chicago, 1.234 in Berlin) are refused.
_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")
# What Decimal() would also take but a bill never means: "1_5" (read as 15, like the
# refused "1,5") and digits of other scripts (Arabic-Indic 1000). ASCII digits, one
# point, an optional exponent; "NaN"/"Infinity" are named as not finite below.
_DECIMAL = re.compile(
    r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|infinity|inf)", re.ASCII | re.IGNORECASE
)


def parse_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except (ValueError, AttributeError) as exc:
        raise InvalidInput(f"{field}: {value!r} is not a date (use YYYY-MM-DD)") from exc


def _without_grouping(text: str, field: str) -> str:
    """``text`` without its thousands separators; an ambiguous comma is refused."""
    if "," not in text:
        return text
    if _GROUPED.fullmatch(text) and ("." in text or text.count(",") > 1):
        return text.replace(",", "")
    raise InvalidInput(
        f"{field}: {text!r}: the comma is ambiguous (a decimal comma or a thousands"
        " separator?); write the number with a decimal point and no comma, e.g. 1234.5"
    )


def parse_amount(value: str, field: str, *, allow_zero: bool = True) -> Decimal:
    """A non-negative quantity from text: decimal point, commas only as unambiguous grouping."""
    text = _without_grouping(value.strip(), field) if isinstance(value, str) else value
    if isinstance(text, str) and not _DECIMAL.fullmatch(text):
        raise InvalidInput(f"{field}: {value!r} is not a number")
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput(f"{field}: {value!r} is not a number") from exc
    if not amount.is_finite():
        raise InvalidInput(f"{field}: {value!r} is not a finite number")
    if amount >= MAX_AMOUNT:
        raise InvalidInput(f"{field}: {value!r} is too large (must be below 1e18)")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidInput(f"{field}: {value!r} must be {'>= 0' if allow_zero else '> 0'}")
    return amount


@lru_cache(maxsize=1024)
def _cap(unit: str) -> tuple[str, str, Decimal]:
    # Cached: a file names a handful of units, each checked once per row.
    canonical = normalise_unit(unit)
    cap_unit = CAP_UNITS[UNITS[canonical][0]]
    return canonical, cap_unit, factor_between(canonical, cap_unit)


def check_quantity(amount: Decimal, unit: str, field: str = "amount") -> None:
    """Refuse ``amount unit`` at or over :data:`MAX_AMOUNT` once converted to its cap unit."""
    canonical, cap_unit, factor = _cap(unit)
    if abs(amount) * factor >= MAX_AMOUNT:
        raise InvalidInput(
            f"{field}: {amount} {canonical} is too large (must be below 1e18 {cap_unit})"
        )


_NS_SHA1 = hashlib.sha1(RECORD_NAMESPACE.bytes, usedforsecurity=False)
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}
# The UUID's 7th and 9th bytes from the hash's: version 5, and the RFC 4122 variant.
_VERSION_BYTE = tuple(bytes(((n & 0x0F) | 0x50,)) for n in range(256))
_VARIANT_BYTE = tuple(bytes(((n & 0x3F) | 0x80,)) for n in range(256))


@lru_cache(maxsize=65536)  # an import asks for each account's reference once per bill
def account_ref(site: str, account: str) -> str:
    """The pseudonym a record shows for a utility account: SHA-256 (hex) of site and account.

    Pseudonymous, not secret: anyone who knows an account number can recompute it
    (account numbers are short), but the ledger never shows the number itself, and
    the rules can still check periods per account.
    """
    return hashlib.sha256(f"carbonledger-account|{site}|{account}".encode()).hexdigest()


def record_id(site: str, account: str, start: date | str, end: date | str) -> str:
    """UUID version 5 of (site, account reference, period) in :data:`RECORD_NAMESPACE`.

    ``account`` is the record's public :func:`account_ref`, so the rules can recompute
    the id from the public item: ids are then unique because periods are.

    Equal to ``uuid.uuid5(RECORD_NAMESPACE, key)``, computed without building
    UUID objects because imports call it once per bill.
    """
    sha = _NS_SHA1.copy()  # the namespace hashed once (cheaper than a new object a call)
    sha.update(f"{site}|{account}|{start}|{end}".encode())
    h = sha.hexdigest()
    # Version 5 in the 13th hex digit, the RFC 4122 variant (10xx) in the 17th.
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def record_id_bytes(site: bytes, account: bytes, start: bytes, end: bytes) -> bytes:
    """The 16 bytes of :func:`record_id` of the same texts, each given as its UTF-8 (the
    fields of a record's compact form, read without decoding them)."""
    sha = _NS_SHA1.copy()
    sha.update(b"|".join((site, account, start, end)))
    d = sha.digest()
    return b"".join((d[:6], _VERSION_BYTE[d[6]], d[7:8], _VARIANT_BYTE[d[8]], d[9:16]))


def _check_id(kind: str, value: str) -> str:
    if not ID_PATTERN.match(value):
        raise InvalidInput(f"{kind} id {value!r}: use 1-64 letters, digits, '.', '_' or '-'")
    return value


@dataclass(frozen=True, slots=True)
class Organisation:
    id: str
    name: str
    country: str | None = None

    def __post_init__(self) -> None:
        _check_id("organisation", self.id)
        if not self.name.strip():
            raise InvalidInput(f"organisation {self.id!r}: name is required")

    def item(
        self,
        *,
        admins: list[str],
        channel_keys: dict[str, str],
        ca_cert: str | None = None,
    ) -> OrganisationItem:
        """The ledger item: ``channel_keys`` maps each admin to the SHA-256 of its wrapped key."""
        return {
            "kind": "organisation",
            "id": self.id,
            "name": self.name,
            "country": self.country,
            "admins": admins,
            "ca_cert": ca_cert,
            "channel": {"epoch": 0, "keys": channel_keys},
        }


@dataclass(frozen=True, slots=True)
class Site:
    """A place that uses energy; its location selects the emission factors."""

    id: str
    org: str
    name: str
    country: str
    zip: str | None = None
    state: str | None = None
    subregion: str | None = None
    utility_id: str | None = None
    address: str | None = None

    def __post_init__(self) -> None:
        _check_id("site", self.id)
        if not self.country.strip():
            raise InvalidInput(f"site {self.id!r}: country is required")

    def item(self) -> SiteItem:
        """The ledger item."""
        return {
            "kind": "site",
            "id": self.id,
            "org": self.org,
            "name": self.name,
            "country": self.country,
            "zip": self.zip,
            "state": self.state,
            "subregion": self.subregion,
            "utility_id": self.utility_id,
            "address": self.address,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Site:
        def opt(name: str) -> str | None:
            value = item.get(name)
            return None if value is None else str(value)

        return cls(
            str(item["id"]),
            str(item["org"]),
            str(item.get("name") or ""),
            str(item.get("country") or ""),
            opt("zip"),
            opt("state"),
            opt("subregion"),
            opt("utility_id"),
            opt("address"),
        )


@dataclass(frozen=True, slots=True)
class Bill:
    """One utility bill: a measured use for a period (both dates inclusive) at a site."""

    site: str
    account: str
    start: date
    end: date
    amount: Decimal
    unit: str
    activity: str = "electricity"
    cost: Decimal | None = None
    currency: str | None = None
    document_sha256: str | None = None
    line: int | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidInput(f"period: end {self.end} is before start {self.start}")
        if not self.account:
            raise InvalidInput("account: required (meter or utility account number)")

    @property
    def account_ref(self) -> str:
        """The account's public pseudonym (see :func:`account_ref`)."""
        return account_ref(self.site, self.account)

    @property
    def record_id(self) -> str:
        return record_id(self.site, self.account_ref, self.start, self.end)

    @property
    def year(self) -> int:
        """The year the factor is taken for: the year of the period's midpoint."""
        return date.fromordinal((self.start.toordinal() + self.end.toordinal()) // 2).year


class PeriodIndex:
    """Accepted, non-overlapping periods per account, for O(log n) overlap checks."""

    def __init__(self) -> None:
        self._starts: dict[str, list[date]] = {}
        self._entries: dict[str, list[tuple[date, date, str]]] = {}

    def add(self, account: str, start: date, end: date, rid: str) -> None:
        starts = self._starts.get(account)
        if starts is None:
            self._starts[account] = [start]
            self._entries[account] = [(start, end, rid)]
            return
        entries = self._entries[account]
        if start > starts[-1]:  # bills mostly come in order: the latest period is appended
            starts.append(start)
            entries.append((start, end, rid))
            return
        pos = bisect.bisect_left(starts, start)
        starts.insert(pos, start)
        entries.insert(pos, (start, end, rid))

    def overlap(self, account: str, start: date, end: date) -> tuple[date, date, str] | None:
        """The accepted period of ``account`` that overlaps [start, end], if any."""
        starts = self._starts.get(account)
        if not starts:
            return None
        entries = self._entries[account]
        if entries[-1][1] < start:  # disjoint periods: ends rise with starts
            return None
        pos = bisect.bisect_right(starts, end)  # entries[:pos] start on or before ``end``
        if pos and entries[pos - 1][1] >= start:
            return entries[pos - 1]
        return None


def overlap_error(bill: Bill, other: tuple[date, date, str]) -> OverlappingPeriod:
    return OverlappingPeriod(
        f"{bill.start}..{bill.end} for account {bill.account!r} at site {bill.site!r}"
        f" overlaps the accepted period {other[0]}..{other[1]} (record {other[2]})"
    )
