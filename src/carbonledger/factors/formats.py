"""Recognise an official factor file by its content and load it with the right loader."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

from carbonledger.core.factor_values import FACTOR_FIELDS, Edition
from carbonledger.errors import InvalidInput
from carbonledger.factors.base import make_edition, read_factor_csv
from carbonledger.factors.defra import extract_defra_xlsx
from carbonledger.factors.eea import EEA_COLUMNS, load_eea_csv
from carbonledger.factors.egrid import (
    SUBREGION_COLUMNS,
    ZIP_COLUMNS,
    ZipRow,
    edition_from_name,
    load_state_json,
    load_subregion_csv,
    load_zip_csv,
)
from carbonledger.factors.ember import load_ember_json
from carbonledger.factors.sheets import OLE2_MAGIC, XLSX_MAGIC, sheet_names

__all__ = ["FORMATS", "LoadedFile", "read_file"]

#: Formats ``factors load`` recognises, for help and error messages.
FORMATS = (
    "eGRID subregion CSV",
    "Power Profiler ZIP CSV (zip.csv)",
    "EEA intensity CSV",
    "Ember average-intensities JSON",
    "eGRID state-rate JSON",
    "DEFRA flat-file xlsx or xls",
    "EPA GHG Emission Factors Hub xlsx",
    "carbonledger factor CSV",
)


@dataclass(frozen=True, slots=True)
class LoadedFile:
    """What a file held: a factor edition, or a ZIP lookup (then ``edition`` is None)."""

    kind: str
    name: str
    edition: Edition | None = None
    zip_lookup: dict[str, tuple[ZipRow, ...]] | None = None
    text: str = ""


def _text(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except OSError as exc:
            raise InvalidInput(f"{path.name}: corrupt gzip: {exc}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name}: not UTF-8 text (byte {exc.start})") from exc


def read_file(path: Path, *, edition: str | None = None, origin: str = "user") -> LoadedFile:
    """Detect the format of ``path`` and load it; InvalidInput names file, row and column."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    name = path.name
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic in (XLSX_MAGIC, OLE2_MAGIC):  # xlsx is a zip container, .xls an OLE2 file
        return _workbook(path, edition, origin)
    text = _text(path)
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return _json(text, name, edition, origin)
    first = stripped.splitlines()[0] if stripped else ""
    columns = {c.strip() for c in first.split(",")}
    if set(SUBREGION_COLUMNS) <= columns:
        loaded = load_subregion_csv(text, name, edition=edition, origin=origin)
        return LoadedFile("eGRID subregion CSV", loaded.edition, loaded, text=text)
    if set(ZIP_COLUMNS) <= columns:
        named = edition_from_name(edition or name)
        if named is None:
            raise InvalidInput(
                f"{name}: a ZIP lookup needs an eGRID edition: name the file "
                "like zip_egrid2024.csv or pass --edition egrid2024"
            )
        key = named[0].removesuffix(named[1])  # one lookup per eGRID year, not per revision
        return LoadedFile(
            "Power Profiler ZIP CSV", key, zip_lookup=load_zip_csv(text, name), text=text
        )
    if set(EEA_COLUMNS) <= columns:
        loaded = load_eea_csv(text, name, edition=edition or path.stem, origin=origin)
        return LoadedFile("EEA intensity CSV", loaded.edition, loaded, text=text)
    if set(FACTOR_FIELDS) <= columns:
        factors = read_factor_csv(text, name)
        loaded = make_edition(factors, origin=origin, source=name)
        return LoadedFile("carbonledger factor CSV", loaded.edition, loaded, text=text)
    raise InvalidInput(
        f"{name}: line 1: unrecognised file format (columns {sorted(columns)[:8]}"
        f"); expected one of: {', '.join(FORMATS)}"
    )


def _workbook(path: Path, edition: str | None, origin: str) -> LoadedFile:
    from carbonledger.factors.epa_hub import HUB_SHEET, extract_epa_hub

    sheets = sheet_names(path)
    if HUB_SHEET in sheets:
        loaded = extract_epa_hub(path, edition=edition, origin=origin)
        return LoadedFile("EPA GHG Emission Factors Hub xlsx", loaded.edition, loaded)
    loaded = extract_defra_xlsx(path, edition=edition, origin=origin)
    return LoadedFile("DEFRA flat-file xlsx or xls", loaded.edition, loaded)


def _json(text: str, name: str, edition: str | None, origin: str) -> LoadedFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{name}: line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}"
        ) from exc
    if isinstance(data, dict) and "_source" in data:
        loaded = load_state_json(text, name, edition=edition, origin=origin)
        return LoadedFile("eGRID state-rate JSON", loaded.edition, loaded, text=text)
    if isinstance(data, dict) and any(
        isinstance(v, dict) and "emissions_intensity_gco2_per_kwh" in v for v in data.values()
    ):
        loaded = load_ember_json(text, name, edition=edition or Path(name).stem, origin=origin)
        return LoadedFile("Ember average-intensities JSON", loaded.edition, loaded, text=text)
    raise InvalidInput(f"{name}: unrecognised JSON; expected one of: {', '.join(FORMATS)}")
