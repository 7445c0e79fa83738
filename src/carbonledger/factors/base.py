"""Shared pieces of the factor loaders: errors, number parsing, checks, factor CSV."""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation

from carbonledger.core.factor_values import FACTOR_FIELDS, Edition, EmissionFactor
from carbonledger.errors import InvalidInput

__all__ = [
    "DataWarning",
    "check_consistency",
    "make_edition",
    "parse_decimal",
    "read_factor_csv",
    "write_factor_csv",
]


class DataWarning(UserWarning):
    """An official file contradicts itself (for example CO2e below CO2 for a region)."""


def bad(source: str, where: str, column: str | None, reason: str) -> InvalidInput:
    """Build the InvalidInput every loader raises: file, row, column and reason."""
    col = f", column {column!r}" if column else ""
    return InvalidInput(f"{source}: {where}{col}: {reason}")


def parse_decimal(text: object, source: str, where: str, column: str) -> Decimal | None:
    """Parse a number cell as an exact Decimal; empty cells give None.

    Floats (from JSON or xlsx) go through ``repr`` so 0.23314 stays 0.23314,
    not its binary expansion.
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if isinstance(text, bool):
        raise bad(source, where, column, f"expected a number, got {text!r}")
    raw = repr(text) if isinstance(text, float) else str(text).strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise bad(source, where, column, f"expected a number, got {text!r}") from None
    if not value.is_finite():
        raise bad(source, where, column, f"expected a finite number, got {text!r}")
    return value


def check_consistency(factors: Sequence[EmissionFactor]) -> tuple[str, ...]:
    """Return (and warn with :class:`DataWarning`) each region whose CO2e < CO2.

    CO2e includes CO2, so a lower CO2e is an error in the source (eGRID2023r1
    CAMX: CO2e 422.234 < CO2 436.655 lb/MWh, corrected in eGRID2023r2).
    """
    by_key: dict[tuple[str, str, str, str, str, int], dict[str, EmissionFactor]] = {}
    for f in factors:
        key = (f.edition, f.region_key, f.activity, f.unit, f.basis, f.data_year)
        by_key.setdefault(key, {})[f.gas] = f
    found: list[str] = []
    for (edition, region, activity, unit, _basis, year), gases in by_key.items():
        co2e, co2 = gases.get("co2e"), gases.get("co2")
        if co2e is not None and co2 is not None and co2e.value < co2.value:
            msg = (
                f"{edition} {region} {activity} {year}: CO2e {co2e.value} < CO2 "
                f"{co2.value} {unit}; the source contradicts itself (CO2e includes CO2)"
            )
            found.append(msg)
            warnings.warn(msg, DataWarning, stacklevel=3)
    return tuple(found)


def make_edition(
    factors: Sequence[EmissionFactor], *, origin: str = "package", source: str | None = None
) -> Edition:
    """Wrap loaded factors in an :class:`Edition`, running the consistency check."""
    if not factors:
        raise InvalidInput(f"{source or 'file'}: no emission factors found")
    first = factors[0]
    return Edition(
        dataset=first.dataset,
        edition=first.edition,
        revision=first.revision,
        data_year=max(f.data_year for f in factors),
        source=source or first.source,
        factors=tuple(factors),
        warnings=check_consistency(factors),
        origin=origin,
    )


def write_factor_csv(factors: Iterable[EmissionFactor]) -> str:
    """Serialise factors in the factor CSV format (header :data:`FACTOR_FIELDS`)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FACTOR_FIELDS)
    for f in factors:
        row = f.to_dict()
        writer.writerow(["" if row[k] is None else row[k] for k in FACTOR_FIELDS])
    return buf.getvalue()


def read_factor_csv(text: str, source: str) -> list[EmissionFactor]:
    """Parse the factor CSV format; errors name the file, line and column."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in FACTOR_FIELDS if c not in (reader.fieldnames or ())]
    if missing:
        raise bad(source, "line 1 (header)", None, f"missing columns {missing}")
    out: list[EmissionFactor] = []
    for line, row in enumerate(reader, start=2):
        where = f"line {line}"
        value = parse_decimal(row["value"], source, where, "value")
        if value is None:
            raise bad(source, where, "value", "empty")
        try:
            year = int(row["data_year"])
        except ValueError:
            raise bad(source, where, "data_year", f"not a year: {row['data_year']!r}") from None
        try:
            out.append(
                EmissionFactor(
                    dataset=row["dataset"],
                    edition=row["edition"],
                    revision=row["revision"],
                    data_year=year,
                    region_level=row["region_level"],
                    region_key=row["region_key"],
                    region_name=row["region_name"],
                    activity=row["activity"],
                    basis=row["basis"],
                    gas=row["gas"],
                    value=value,
                    unit=row["unit"],
                    source=row["source"],
                    renewable_pct=parse_decimal(
                        row["renewable_pct"], source, where, "renewable_pct"
                    ),
                    nonrenewable_pct=parse_decimal(
                        row["nonrenewable_pct"], source, where, "nonrenewable_pct"
                    ),
                )
            )
        except InvalidInput as exc:
            raise bad(source, where, "unit", str(exc)) from exc
    return out
