"""Country names and codes -> ISO 3166-1 alpha-2 (``"Germany"``, ``"DEU"`` -> ``"DE"``)."""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources

from carbonledger.errors import InvalidInput

__all__ = ["EU_MEMBERS", "country_name", "iso3_to_iso2", "normalise_country"]

#: EU member states (EU-27, since 1 February 2020).
EU_MEMBERS = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)
# Codes and names people use that are not ISO 3166-1 alpha-2.
_EXTRA = {
    "UK": "GB",
    "EL": "GR",
    "GREAT BRITAIN": "GB",
    "ENGLAND": "GB",
    "SCOTLAND": "GB",
    "WALES": "GB",
    "NORTHERN IRELAND": "GB",
    "USA": "US",
    "UNITED STATES OF AMERICA": "US",
    "CZECH REPUBLIC": "CZ",
    "TURKEY": "TR",
    "SLOVAK REPUBLIC": "SK",
    "KOREA": "KR",
    "REPUBLIC OF KOREA": "KR",
    "HONG KONG, CHINA": "HK",
    "CHINA (HONG KONG)": "HK",
    "MACAU": "MO",
    "MACAU, CHINA": "MO",
    "TAIWAN, CHINA": "TW",
}


@lru_cache(maxsize=1)
def _table() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    text = resources.files("carbonledger.data").joinpath("countries.csv").read_text("utf-8")
    lookup: dict[str, str] = dict(_EXTRA)
    iso3: dict[str, str] = {}
    names: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        code = row["iso2"]
        names[code] = row["common_name"] or row["name"]
        iso3[row["iso3"]] = code
        for key in (code, row["iso3"], row["name"], row["common_name"]):
            if key:
                lookup.setdefault(key.upper(), code)
    return lookup, iso3, names


@lru_cache(maxsize=1024)
def normalise_country(country: str) -> str:
    """Return the ISO-2 code for an ISO-2/ISO-3 code or English name; ``UK`` -> ``GB``."""
    key = " ".join(country.strip().upper().split())
    code = _table()[0].get(key)
    if code is None:
        raise InvalidInput(
            f"unknown country {country!r}: give an ISO-2 or ISO-3 code or the English name"
        )
    return code


def iso3_to_iso2(code: str) -> str | None:
    """Return the ISO-2 code for an ISO-3 code, or None."""
    return _table()[1].get(code.strip().upper())


def country_name(iso2: str) -> str:
    """Return the English short name of an ISO-2 code (the code itself if unknown)."""
    return _table()[2].get(iso2, iso2)
