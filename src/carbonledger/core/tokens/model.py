"""Token types, their base units and the checks every token value passes (pure).

Base units are integers, so nothing is ever rounded on the ledger:

=====================  ==========================  ===========================================
type                   one base unit               why
=====================  ==========================  ===========================================
``REC``                1 MWh (one certificate)     registries (WREGIS, M-RETS, GO) issue one
                                                   serial number per MWh; a REC is never split
``OFFSET``             1 t CO2e (one credit)       registries (Verra VCU, Gold Standard VER,
                                                   ACR/CAR ERT, CRT) issue one serial per tonne
``AUDITED_EMISSIONS``  1 mg CO2e (0.000001 kg)     the calculator's quantum, so an audited
                                                   total in kg converts exactly
=====================  ==========================  ===========================================

Every amount is a JSON integer in ``1 .. MAX_AMOUNT`` (2**63 - 1, the largest
integer canonical JSON carries; the EVM mirror stores ``uint256``).

Serial ranges are ``{"prefix": str, "start": int, "end": int}`` (both ends
inclusive) with exactly one serial per base unit. A token's units are fungible
among its holders; which serials a retirement consumes is fixed at retirement:
the next ``amount`` serials after those already retired, so a partial retirement
splits the token's range into a retired block and the remainder, each serial is
retired exactly once, and the state needs one counter per token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from carbonledger.core.ids import ID_PATTERN
from carbonledger.errors import InvalidInput

__all__ = [
    "AUDITED",
    "BASE_UNITS",
    "EGRID_SUBREGIONS",
    "MAX_AMOUNT",
    "OFFSET",
    "REC",
    "TOKEN_TYPES",
    "SerialRange",
    "balance_key",
    "check_amount",
    "check_date",
    "check_grid_region",
    "check_text",
    "is_token_id",
    "org_holder",
    "to_decimal",
]

REC = "REC"
OFFSET = "OFFSET"
AUDITED = "AUDITED_EMISSIONS"
TOKEN_TYPES = (REC, OFFSET, AUDITED)
#: Human unit of one base unit of each type.
BASE_UNITS = {REC: "MWh", OFFSET: "t CO2e", AUDITED: "mg CO2e"}
#: Size of one base unit in the unit reports use (kWh for RECs, kg CO2e otherwise).
_REPORT_SCALE = {REC: Decimal(1000), OFFSET: Decimal(1000), AUDITED: Decimal("0.000001")}
MAX_AMOUNT = 2**63 - 1

#: eGRID subregions (eGRID2020-2023): the US grid regions a REC may name.
EGRID_SUBREGIONS = frozenset({
    "AKGD", "AKMS", "AZNM", "CAMX", "ERCT", "FRCC", "HIMS", "HIOA", "MROE",
    "MROW", "NEWE", "NWPP", "NYCW", "NYLI", "NYUP", "PRMS", "RFCE", "RFCM",
    "RFCW", "RMPA", "SPNO", "SPSO", "SRMV", "SRMW", "SRSO", "SRTV", "SRVC",
})  # fmt: skip
_COUNTRY = re.compile(r"^[A-Z]{2}\Z")
_SERIAL_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,95}\Z")


def is_token_id(value: object) -> bool:
    """A token id names a token; ``"0"`` never does (the original system's bug)."""
    return isinstance(value, str) and bool(ID_PATTERN.match(value)) and value.strip("0") != ""


def balance_key(holder: str, token: str) -> str:
    return f"{holder}/{token}"


def org_holder(org: str) -> str:
    """Holder name of an organisation (audited emissions are held by it, retired)."""
    return f"org:{org}"


def to_decimal(token_type: str, units: int) -> Decimal:
    """Base units in report units: kWh (REC) or kg CO2e (OFFSET, AUDITED_EMISSIONS)."""
    return Decimal(units) * _REPORT_SCALE[token_type]


def check_amount(value: object, what: str) -> int:
    # bool is an int in Python; a JSON true must not pass as 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{what}: amount must be an integer number of base units, got {value!r}")
    if not 0 < value <= MAX_AMOUNT:
        raise InvalidInput(f"{what}: amount must be between 1 and {MAX_AMOUNT}, got {value}")
    return value


def check_text(value: object, what: str, *, limit: int = 200) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} is required (non-empty text)")
    if len(value) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters")
    return value


def check_date(value: object, what: str) -> date:
    if not isinstance(value, str):
        raise InvalidInput(f"{what}: {value!r} is not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{what}: {value!r} is not a date (YYYY-MM-DD)") from exc


def check_grid_region(value: object, what: str) -> str:
    """An eGRID subregion (``CAMX``) or an ISO 3166-1 alpha-2 country (``DE``)."""
    if isinstance(value, str) and (value in EGRID_SUBREGIONS or _COUNTRY.match(value)):
        return value
    raise InvalidInput(
        f"{what}: {value!r} is not an eGRID subregion (e.g. CAMX, RFCW) or an ISO 3166-1"
        " alpha-2 country code (e.g. DE)"
    )


def _serial_number(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_AMOUNT:
        raise InvalidInput(f"{what} must be a non-negative integer, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class SerialRange:
    """Registry serials ``prefix+start .. prefix+end``, both inclusive."""

    prefix: str
    start: int
    end: int

    @property
    def count(self) -> int:
        return self.end - self.start + 1

    @classmethod
    def parse(cls, value: object, what: str) -> SerialRange:
        if not isinstance(value, dict):
            raise InvalidInput(f"{what}: serial must be an object {{prefix, start, end}}")
        prefix = value.get("prefix")
        if not isinstance(prefix, str) or not _SERIAL_PREFIX.match(prefix):
            raise InvalidInput(f"{what}: serial.prefix {prefix!r} is not a registry serial prefix")
        start, end = (_serial_number(value.get(n), f"{what}: serial.{n}") for n in ("start", "end"))
        if end < start:
            raise InvalidInput(f"{what}: serial.end {end} is before serial.start {start}")
        return cls(prefix, start, end)

    def overlaps(self, other: SerialRange) -> bool:
        return self.prefix == other.prefix and self.start <= other.end and other.start <= self.end

    def to_json(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "start": self.start, "end": self.end}

    def __str__(self) -> str:
        return f"{self.prefix}{self.start}..{self.prefix}{self.end}"
