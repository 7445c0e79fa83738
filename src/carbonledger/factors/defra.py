"""Loader for the UK government (BEIS/DESNZ, Defra) GHG conversion factors flat file.

Reads the official "flat file" xlsx (sheet ``Factors by Category``) with
openpyxl in read-only mode and extracts UK electricity generation (Scope 2,
T&D losses excluded: they are a separate Scope 3 factor), natural gas and the
common Scope 1 fuels per kWh (gross CV), litre, cubic metre and tonne.

Both layouts seen so far are handled by column names: 2020 (``GHG`` column,
``kg CO2``) and 2024 (``ID`` column, ``GHG/Unit`` with ``kg CO2e of CO2 per unit``).
The package ships the output as a factor CSV; tests re-derive it from the xlsx.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from carbonledger.core.factors import Edition, EmissionFactor
from carbonledger.errors import InvalidInput
from carbonledger.factors.base import bad, make_edition, parse_decimal

__all__ = ["FUELS", "extract_defra_xlsx", "is_defra_xlsx"]

SHEET = "Factors by Category"
#: DEFRA "Level 3" fuel name -> our activity name.
FUELS: dict[str, str] = {
    "Natural gas": "natural_gas",
    "LPG": "lpg",
    "Butane": "butane",
    "Propane": "propane",
    "CNG": "cng",
    "LNG": "lng",
    "Burning oil": "burning_oil",
    "Diesel (average biofuel blend)": "diesel",
    "Diesel (100% mineral diesel)": "diesel_mineral",
    "Fuel oil": "fuel_oil",
    "Gas oil": "gas_oil",
    "Petrol (average biofuel blend)": "petrol",
    "Petrol (100% mineral petrol)": "petrol_mineral",
    "Coal (industrial)": "coal_industrial",
    "Coal (domestic)": "coal_domestic",
}
_FUEL_LEVEL2 = {"Gaseous fuels", "Liquid fuels", "Solid fuels"}
# Net-CV kWh factors are left out: UK bills state gross-CV kWh, and one basis
# per unit keeps resolution unambiguous.
_UOM = {
    "kWh (Gross CV)": ("kWh", "gross CV"),
    "kWh": ("kWh", ""),
    "litres": ("L", ""),
    "cubic metres": ("m3", ""),
    "tonnes": ("t", ""),
}
_GHG = {"kg CO2e": "co2e", "kg CO2": "co2", "kg CO2e of CO2 per unit": "co2"}
_FACTOR_COL = re.compile(r"GHG Conversion Factor (\d{4})")


def is_defra_xlsx(path: Path) -> bool:
    """True if ``path`` is an xlsx workbook with a ``Factors by Category`` sheet."""
    try:
        wb = _open(path)
    except InvalidInput:
        return False
    try:
        return SHEET in wb.sheetnames
    finally:
        wb.close()


def _open(path: Path) -> Any:
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a non-xlsx file
        raise InvalidInput(f"{path.name}: not a readable xlsx workbook: {exc}") from exc


def _version(wb: Any) -> str:
    if "Front page" not in wb.sheetnames:
        return ""
    for row in wb["Front page"].iter_rows(max_row=15, max_col=8, values_only=True):
        cells = list(row)
        for i, cell in enumerate(cells[:-1]):
            if isinstance(cell, str) and cell.strip().lower() == "version:":
                return f"v{cells[i + 1]}"
    return ""


def extract_defra_xlsx(
    path: Path, *, edition: str | None = None, origin: str = "package"
) -> Edition:
    """Extract electricity, natural gas and Scope 1 fuel factors from a DEFRA flat file."""
    name = path.name
    wb = _open(path)
    try:
        if SHEET not in wb.sheetnames:
            raise bad(name, "workbook", None, f"no sheet {SHEET!r}: not a DEFRA flat file")
        revision = _version(wb)
        rows = wb[SHEET].iter_rows(values_only=True, max_col=12)
        header: dict[str, int] = {}
        year = 0
        line = 0
        for line, row in enumerate(rows, start=1):
            cells = [c.strip() if isinstance(c, str) else c for c in row]
            if "Scope" in cells and "Level 1" in cells:
                header = {c: i for i, c in enumerate(cells) if isinstance(c, str)}
                break
            if line > 30:
                break
        factor_col = next((c for c in header if _FACTOR_COL.fullmatch(c)), None)
        ghg_col = "GHG/Unit" if "GHG/Unit" in header else "GHG"
        needed = ["Scope", "Level 1", "Level 2", "Level 3", "UOM", ghg_col]
        if factor_col is None or any(c not in header for c in needed):
            raise bad(
                name,
                f"sheet {SHEET!r}",
                None,
                "no header row with Scope, Level 1-3, UOM, GHG and "
                "'GHG Conversion Factor YYYY' in the first 30 rows",
            )
        match = _FACTOR_COL.fullmatch(factor_col)
        year = int(match.group(1)) if match else 0
        factors = _rows(
            rows,
            header,
            factor_col,
            ghg_col,
            start=line + 1,
            source=name,
            edition=edition or f"defra{year}",
            revision=revision,
            year=year,
        )
    finally:
        wb.close()
    return make_edition(factors, origin=origin, source=name)


def _rows(
    rows: Any,
    header: dict[str, int],
    factor_col: str,
    ghg_col: str,
    *,
    start: int,
    source: str,
    edition: str,
    revision: str,
    year: int,
) -> list[EmissionFactor]:
    col = {k: header[k] for k in ("Scope", "Level 1", "Level 2", "Level 3", "UOM")}
    ghg_i, val_i = header[ghg_col], header[factor_col]
    level4_i = header.get("Level 4")
    out: list[EmissionFactor] = []
    seen: set[tuple[str, str, str]] = set()
    for line, row in enumerate(rows, start=start):

        def cell(i: int, r: tuple[Any, ...] = row) -> str:
            value = r[i] if i < len(r) else None
            return value.strip() if isinstance(value, str) else ""

        scope, l1, l2, l3 = (cell(col[k]) for k in ("Scope", "Level 1", "Level 2", "Level 3"))
        if scope == "Scope 1" and l1 == "Fuels" and l2 in _FUEL_LEVEL2 and l3 in FUELS:
            activity = FUELS[l3]
        elif scope == "Scope 2" and l1 == "UK electricity" and l3 == "Electricity: UK":
            activity = "electricity"
        else:
            continue
        if level4_i is not None and cell(level4_i) not in ("", "kWh"):
            continue  # sub-variants (none today for these rows); keep the plain factor
        uom, gas = _UOM.get(cell(col["UOM"])), _GHG.get(cell(ghg_i))
        if uom is None or gas is None:
            continue
        where = f"sheet {SHEET!r} row {line}"
        value = parse_decimal(row[val_i] if val_i < len(row) else None, source, where, factor_col)
        if value is None:
            raise bad(source, where, factor_col, "empty factor")
        key = (activity, uom[0], gas)
        if key in seen:
            raise bad(source, where, "Level 3", f"duplicate factor for {key}")
        seen.add(key)
        out.append(
            EmissionFactor(
                dataset="DEFRA",
                edition=edition,
                revision=revision,
                data_year=year,
                region_level="country",
                region_key="GB",
                region_name="United Kingdom",
                activity=activity,
                basis=uom[1],
                gas=gas,
                value=value,
                unit=f"kg/{uom[0]}",
                source=source,
            )
        )
    return out
