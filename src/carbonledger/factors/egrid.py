"""Loaders for US EPA eGRID data: subregion rates, state rates, ZIP lookup.

* Subregion CSV (our reshaping of the Power Profiler's ``subregion.json``, values
  unchanged): one row per eGRID subregion plus a ``National`` row, rates in lb/MWh.
* State JSON (eGRID ``STC2ERTA``: state CO2e total output rate, lb/MWh).
* Power Profiler ``zip.csv``: ZIP -> state, EIA utility id, utility, subregion,
  predominant-utility flag.  A ZIP can list several utilities and subregions.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass

from carbonledger.core.factor_values import Edition, EmissionFactor
from carbonledger.factors.base import bad, make_edition, parse_decimal

__all__ = [
    "SUBREGION_COLUMNS",
    "ZIP_COLUMNS",
    "ZipRow",
    "edition_from_name",
    "load_state_json",
    "load_subregion_csv",
    "load_zip_csv",
]

SUBREGION_COLUMNS = (
    "subregion",
    "type",
    "data_year",
    "co2_lb_per_mwh",
    "co2e_lb_per_mwh",
    "renewable_pct",
    "nonrenewable_pct",
)
ZIP_COLUMNS = ("zip", "state", "eiaid", "UtilName", "SUBRGN", "Predominant Utility")
_EDITION_RE = re.compile(r"egrid(\d{4})(r\d+)?", re.IGNORECASE)


def edition_from_name(name: str) -> tuple[str, str] | None:
    """Find ``(edition, revision)`` such as ``("egrid2023r2", "r2")`` in a file name."""
    match = _EDITION_RE.search(name)
    if match is None:
        return None
    revision = (match.group(2) or "").lower()
    return f"egrid{match.group(1)}{revision}", revision


def load_subregion_csv(
    text: str, source: str, *, edition: str | None = None, origin: str = "package"
) -> Edition:
    """Load an eGRID subregion CSV; warns (DataWarning) where CO2e < CO2."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in SUBREGION_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise bad(
            source,
            "line 1 (header)",
            None,
            f"not an eGRID subregion CSV: missing columns {missing}",
        )
    named = edition_from_name(edition or source)
    factors: list[EmissionFactor] = []
    for line, row in enumerate(reader, start=2):
        where = f"line {line}"
        try:
            year = int(row["data_year"])
        except ValueError:
            raise bad(source, where, "data_year", f"not a year: {row['data_year']!r}") from None
        if named is None:
            named = (f"egrid{year}", "")
        name, revision = (edition, named[1]) if edition else named
        national = row["type"].strip().lower() == "national"
        key = "US" if national else row["subregion"].strip().upper()
        if not key:
            raise bad(source, where, "subregion", "empty")
        renewable = parse_decimal(row["renewable_pct"], source, where, "renewable_pct")
        nonrenewable = parse_decimal(row["nonrenewable_pct"], source, where, "nonrenewable_pct")
        for gas, column in (("co2e", "co2e_lb_per_mwh"), ("co2", "co2_lb_per_mwh")):
            value = parse_decimal(row[column], source, where, column)
            if value is None:
                continue  # eGRID2020 has no CO2e values
            factors.append(
                EmissionFactor(
                    dataset="eGRID",
                    edition=name,
                    revision=revision,
                    data_year=year,
                    region_level="national" if national else "subregion",
                    region_key=key,
                    region_name=row.get("full_name", "") or "",
                    activity="electricity",
                    gas=gas,
                    value=value,
                    unit="lb/MWh",
                    source=source.rsplit("/", 1)[-1],
                    renewable_pct=renewable,
                    nonrenewable_pct=nonrenewable,
                )
            )
    return make_edition(factors, origin=origin, source=source.rsplit("/", 1)[-1])


def load_state_json(
    text: str, source: str, *, edition: str | None = None, origin: str = "package"
) -> Edition:
    """Load eGRID state CO2e rates (``{"alabama": {"emissions": .., "regionCode": "AL"}}``)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(source, f"line {exc.lineno}", None, f"invalid JSON: {exc.msg}") from exc
    if not isinstance(data, dict) or "_source" not in data:
        raise bad(source, "top level", "_source", "not an eGRID state-rate JSON")
    meta = data["_source"]
    try:
        year = int(meta["year"])
    except (KeyError, TypeError, ValueError):
        raise bad(source, "_source", "year", "missing or not a year") from None
    name = edition or f"egrid{year}-state"
    factors: list[EmissionFactor] = []
    for key, entry in data.items():
        if key.startswith("_"):
            continue
        where = f"entry {key!r}"
        if not isinstance(entry, dict) or "regionCode" not in entry:
            raise bad(source, where, "regionCode", "missing")
        value = parse_decimal(entry.get("emissions"), source, where, "emissions")
        if value is None:
            raise bad(source, where, "emissions", "missing")
        code = str(entry["regionCode"]).strip().upper()
        national = code in ("USA", "US")
        factors.append(
            EmissionFactor(
                dataset="eGRID-state",
                edition=name,
                revision="",
                data_year=year,
                region_level="national" if national else "state",
                region_key="US" if national else code,
                region_name=key,
                activity="electricity",
                gas="co2e",
                value=value,
                unit="lb/MWh",
                source=source.rsplit("/", 1)[-1],
            )
        )
    return make_edition(factors, origin=origin, source=source.rsplit("/", 1)[-1])


@dataclass(frozen=True, slots=True)
class ZipRow:
    """One row of the Power Profiler ZIP lookup."""

    zip: str
    state: str
    utility_id: str
    utility_name: str
    subregion: str
    predominant: bool


def load_zip_csv(text: str, source: str) -> dict[str, tuple[ZipRow, ...]]:
    """Load a Power Profiler ``zip.csv``: ZIP -> its rows (utilities, subregions)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header[:6]) != ZIP_COLUMNS:
        raise bad(
            source,
            "line 1 (header)",
            None,
            f"not a Power Profiler ZIP CSV: expected columns {list(ZIP_COLUMNS)}",
        )
    table: dict[str, list[ZipRow]] = {}
    for line, row in enumerate(reader, start=2):
        if len(row) < 6:
            raise bad(source, f"line {line}", None, f"expected 6 columns, got {len(row)}")
        zip_code = row[0].strip().zfill(5)
        if not zip_code.isdigit() or len(zip_code) != 5:
            raise bad(source, f"line {line}", "zip", f"not a 5-digit ZIP: {row[0]!r}")
        if row[5].strip() not in ("0", "1"):
            raise bad(source, f"line {line}", "Predominant Utility", f"not 0 or 1: {row[5]!r}")
        table.setdefault(zip_code, []).append(
            ZipRow(
                zip_code,
                row[1].strip().upper(),
                row[2].strip(),
                row[3].strip(),
                row[4].strip().upper(),
                row[5].strip() == "1",
            )
        )
    if not table:
        raise bad(source, "line 2", None, "no rows")
    return {z: tuple(rows) for z, rows in table.items()}
