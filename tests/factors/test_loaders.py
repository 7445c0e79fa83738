"""Loaders for the official formats, the shipped DEFRA extract, and user editions."""

from __future__ import annotations

import csv
import gzip
import io
import shutil
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from carbonledger.errors import ConfigurationError, FactorNotFound, InvalidInput
from carbonledger.factors import DataWarning, FactorCatalog, Location
from carbonledger.factors.base import write_factor_csv
from carbonledger.factors.defra import extract_defra_xlsx
from carbonledger.factors.egrid import load_subregion_csv

OFFICIAL = Path(__file__).parents[1] / "data" / "official"
DEFRA_FILES = {
    "defra2020": OFFICIAL
    / "Conversion_Factors_2020_-_Flat_file__for_automatic_processing_only_.xlsx",
    "defra2021": OFFICIAL / "conversion-factors-2021-flat-file-automatic-processing.xls",
    "defra2022": OFFICIAL / "ghg-conversion-factors-2022-flat-format.xls",
    "defra2023": OFFICIAL / "ghg-conversion-factors-2023-flat-file-update.xlsx",
    "defra2024": OFFICIAL / "ghg-conversion-factors-2024-FlatFormat_v1_1.xlsx",
    "defra2025": OFFICIAL / "ghg-conversion-factors-2025-flat-format.xlsx",
}


def package_text(rel: str) -> str:
    return resources.files("carbonledger.data").joinpath(rel).read_text("utf-8")


def value(
    catalog: FactorCatalog,
    edition: str,
    key: str,
    gas: str,
    unit: str | None = None,
    activity: str = "electricity",
    year: int | None = None,
) -> Decimal:
    found = [
        f.value
        for f in catalog.factors(edition)
        if f.region_key == key
        and f.gas == gas
        and f.activity == activity
        and (unit is None or f.unit == unit)
        and (year is None or f.data_year == year)
    ]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(("edition", "path"), sorted(DEFRA_FILES.items()))
def test_defra_extract_rederives_from_official_xlsx(edition: str, path: Path) -> None:
    derived = extract_defra_xlsx(path)
    assert derived.edition == edition
    assert write_factor_csv(derived.factors) == package_text(f"uk/{edition}_extract.csv")


def test_defra_known_values() -> None:
    cat = FactorCatalog()
    # Official figures: UK electricity generation 0.23314 (2020) and 0.20705 (2024) kg CO2e/kWh
    assert value(cat, "defra2020", "GB", "co2e", "kg/kWh") == Decimal("0.23314")
    assert value(cat, "defra2024", "GB", "co2e", "kg/kWh") == Decimal("0.20705")
    assert value(cat, "defra2024", "GB", "co2", "kg/kWh") == Decimal("0.20493")
    # Natural gas 2024: gross CV per kWh, per m3 and per tonne, as the flat file gives them
    assert value(cat, "defra2024", "GB", "co2e", "kg/kWh", "natural_gas") == Decimal("0.1829")
    assert value(cat, "defra2024", "GB", "co2e", "kg/m3", "natural_gas") == Decimal("2.04542")
    assert value(cat, "defra2024", "GB", "co2e", "kg/t", "natural_gas") == Decimal("2568.16441")
    assert value(cat, "defra2020", "GB", "co2e", "kg/L", "diesel") == Decimal("2.54603")
    fuels = {f.activity for f in cat.factors("defra2024")}
    assert {
        "diesel",
        "petrol",
        "lpg",
        "fuel_oil",
        "gas_oil",
        "coal_industrial",
        "burning_oil",
        "natural_gas",
        "electricity",
    } <= fuels


def test_egrid_reference_values() -> None:
    cat = FactorCatalog()
    assert value(cat, "egrid2022", "US", "co2e") == Decimal("827.52")
    assert value(cat, "egrid2022", "US", "co2") == Decimal("823.149")
    assert value(cat, "egrid2022", "RFCW", "co2e") == Decimal("1005.904")
    assert value(cat, "egrid2022", "CAMX", "co2e") == Decimal("499.278")
    assert value(cat, "egrid2023r2", "CAMX", "co2e") == Decimal("429.983")
    assert value(cat, "egrid2023-state", "CA", "co2e") == Decimal("394.769")
    # eGRID2020 publishes no CO2e
    assert not [f for f in cat.factors("egrid2020") if f.gas == "co2e"]


@pytest.mark.parametrize(
    ("key", "expected"), [("EU27", "275"), ("DE", "338"), ("FR", "52"), ("PL", "719")]
)
def test_eea_2019(key: str, expected: str) -> None:
    assert value(FactorCatalog(), "eea-co2-intensity-6", key, "co2", year=2019) == Decimal(expected)


def test_eea_skips_indicative_2030_rows() -> None:
    years = {f.data_year for f in FactorCatalog().factors("eea-co2-intensity-6")}
    assert 2030 not in years
    assert max(years) == 2019


def test_ember_keys_by_iso2() -> None:
    cat = FactorCatalog()
    assert value(cat, "ember-2024", "DE", "co2") == Decimal("342.06")
    assert value(cat, "ember-2024", "GB", "co2") == Decimal("215.79")
    assert value(cat, "ember-2024", "World", "co2") == Decimal("472.94")


def test_egrid2023r1_warns_camx_co2e_below_co2() -> None:
    cat = FactorCatalog()
    # pytest.warns(match=...) would re-emit the other regions' warnings as errors.
    with pytest.warns(DataWarning) as record:
        ed = cat.edition("egrid2023r1")
    assert any(
        "CAMX electricity 2023: CO2e 422.234 < CO2 436.655" in str(w.message) for w in record
    )
    assert any("CAMX" in w for w in ed.warnings)
    assert not [w for w in cat.edition("egrid2023r2").warnings if " CAMX " in w]


def test_malformed_subregion_csv_names_row_and_column() -> None:
    text = package_text("egrid/subregions_egrid2022.csv").replace("1005.904", "1OO5.9", 1)
    with pytest.raises(
        InvalidInput,
        match=r"bad_egrid2022\.csv: line \d+, column "
        r"'co2e_lb_per_mwh': expected a number",
    ):
        load_subregion_csv(text, "bad_egrid2022.csv")


def test_unrecognised_file(tmp_path: Path) -> None:
    f = tmp_path / "what.csv"
    f.write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInput, match=r"what\.csv: line 1: unrecognised file format"):
        FactorCatalog(tmp_path).load(f)


def test_load_needs_a_home(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        FactorCatalog().load(tmp_path / "x.csv")


def test_load_new_egrid_edition_and_resolve_with_it(tmp_path: Path) -> None:
    # A "new edition": the 2022 file with RFCW changed, named like EPA's next release.
    src = package_text("egrid/subregions_egrid2022.csv").replace(",2022,", ",2024,")
    src = src.replace("1005.904", "1010.5")
    new = tmp_path / "subregions_egrid2024.csv"
    new.write_text(src)
    cat = FactorCatalog(tmp_path / "home")
    loaded = cat.load(new)
    assert loaded.name == "egrid2024"
    assert (tmp_path / "home" / "factors" / "egrid2024.factors.csv").is_file()
    again = FactorCatalog(tmp_path / "home")  # a new process sees it too
    assert value(again, "egrid2024", "RFCW", "co2e") == Decimal("1010.5")
    res = again.resolve("electricity", Location(subregion="RFCW"), year=2024)
    assert res.co2e.edition == "egrid2024"


def test_load_refuses_builtin_name(tmp_path: Path) -> None:
    new = tmp_path / "subregions_egrid2022.csv"
    new.write_text(package_text("egrid/subregions_egrid2022.csv"))
    with pytest.raises(InvalidInput, match="built in"):
        FactorCatalog(tmp_path).load(new)


def test_load_defra_xlsx_and_zip_lookup(tmp_path: Path) -> None:
    cat = FactorCatalog(tmp_path)
    copy = tmp_path / "ghg-conversion-factors-2024-FlatFormat_v1_1.xlsx"
    shutil.copy(DEFRA_FILES["defra2024"], copy)
    loaded = cat.load(copy, edition="defra2024-user")
    assert loaded.edition is not None
    assert len(loaded.edition.factors) > 50
    zips = tmp_path / "zip_egrid2031.csv"
    zips.write_text(
        "zip,state,eiaid,UtilName,SUBRGN,Predominant Utility\n"
        "15213,PA,5487,Duquesne Light Co,RFCW,1\n"
    )
    assert cat.load(zips).name == "egrid2031"
    assert "egrid2031" in cat.zip_keys()
    assert cat.zip_lookup("egrid2031")["15213"][0].subregion == "RFCW"


def test_zip_csv_bad_flag_names_line(tmp_path: Path) -> None:
    zips = tmp_path / "zip_egrid2031.csv"
    zips.write_text(
        "zip,state,eiaid,UtilName,SUBRGN,Predominant Utility\n"
        "15213,PA,5487,Duquesne Light Co,RFCW,yes\n"
    )
    with pytest.raises(InvalidInput, match="line 2, column 'Predominant Utility'"):
        FactorCatalog(tmp_path).load(zips)


def test_unknown_edition() -> None:
    with pytest.raises(FactorNotFound, match="egrid1999"):
        FactorCatalog().edition("egrid1999")


def test_editions_summary() -> None:
    with pytest.warns(DataWarning):
        eds = FactorCatalog().editions()
    names = [e.edition for e in eds]
    assert names[:5] == ["egrid2020", "egrid2021", "egrid2022", "egrid2023r1", "egrid2023r2"]
    summary = {e.edition: e.summary() for e in eds}
    assert summary["defra2024"]["data_year"] == 2024
    assert summary["egrid2022"]["factors"] == 56  # 27 subregions + national, CO2e and CO2
    assert summary["egrid2023r1"]["warnings"]


def test_zip_lookup_package_data_unchanged() -> None:
    # Shipped gzipped, content unchanged: predominant flags sum as in the official file.
    table = FactorCatalog().zip_lookup("egrid2022")
    rows = [r for rs in table.values() for r in rs]
    text = (
        resources.files("carbonledger.data")
        .joinpath("egrid/zip_to_subregion_egrid2022.csv.gz")
        .read_bytes()
    )
    official = list(csv.reader(io.StringIO(gzip.decompress(text).decode())))[1:]
    assert len(rows) == len(official)
    assert all(sum(r.predominant for r in rs) == 1 for rs in table.values())
