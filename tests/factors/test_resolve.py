"""Resolution: fallbacks (utility+ZIP -> subregion -> state -> national), countries, years."""

from __future__ import annotations

from decimal import Decimal

import pytest

from carbonledger.core.calculator import calculate
from carbonledger.errors import FactorNotFound, InvalidInput
from carbonledger.factors import DataWarning, FactorCatalog, Location, normalise_country, pick_year


@pytest.fixture(scope="module")
def cat() -> FactorCatalog:
    return FactorCatalog()


def test_zip_and_utility_pick_that_utilitys_subregion(cat: FactorCatalog) -> None:
    # ZIP 00019 (eGRID2022 lookup): Lassen MUD (61987, CAMX, predominant) and
    # Surprise Valley Electric (62636, NWPP).
    r = cat.resolve("electricity", Location(zip="00019", utility_id="62636"), year=2022)
    assert (r.level, r.co2e.region_key, r.co2e.edition) == ("subregion", "NWPP", "egrid2022")
    assert any(
        "utility 62636 (Surprise Valley Electric Corp) -> subregion NWPP" in s for s in r.steps
    )
    assert r.alternatives == (
        "utility Lassen Municipal Utility District (61987) -> subregion CAMX",
    )


def test_zip_alone_uses_predominant_and_lists_alternatives(cat: FactorCatalog) -> None:
    r = cat.resolve("electricity", Location(zip="00019"), year=2022)
    assert r.co2e.region_key == "CAMX"
    assert any("2 utilities; predominant utility Lassen" in s for s in r.steps)
    assert any("alternatives for ZIP 00019" in s and "NWPP" in s for s in r.steps)


def test_unknown_utility_falls_back_to_predominant(cat: FactorCatalog) -> None:
    r = cat.resolve("electricity", Location(zip="00019", utility_id="1"), year=2022)
    assert r.co2e.region_key == "CAMX"
    assert any("utility 1 not listed for ZIP 00019" in s for s in r.steps)


def test_unknown_zip_is_an_error_naming_it(cat: FactorCatalog) -> None:
    # 99999 is in neither eGRID ZIP lookup; the state given does not excuse it.
    with pytest.raises(InvalidInput, match="unknown ZIP '99999'"):
        cat.resolve("electricity", Location(zip="99999", state="CA"), year=2023)
    with pytest.raises(InvalidInput, match="unknown ZIP '00000'"):
        cat.resolve("electricity", Location(zip="00000"), year=2022)
    with pytest.raises(InvalidInput, match="not a US ZIP"):
        cat.resolve("electricity", Location(zip="SW1A 1AA"), year=2022)


def test_unknown_subregion_and_state_are_errors(cat: FactorCatalog) -> None:
    with pytest.raises(InvalidInput, match="unknown eGRID subregion 'XXXX'"):
        cat.resolve("electricity", Location(subregion="XXXX"), year=2022)
    with pytest.raises(InvalidInput, match="unknown US state 'ZZ'"):
        cat.resolve("electricity", Location(state="ZZ"), year=2022)


def test_state_rate_is_used_for_a_state_alone(cat: FactorCatalog) -> None:
    # eGRID2023 state rates (states_co2e_egrid2023.json): CA 394.769 lb CO2e/MWh.
    r = cat.resolve("electricity", Location(state="CA"), year=2023)
    assert (r.level, r.co2e.region_key, r.co2e.value) == ("state", "CA", Decimal("394.769"))
    assert "no ZIP or subregion given; used the state" in r.steps
    assert r.co2 is None  # the state file gives CO2e only


def test_puerto_rico_is_prms(cat: FactorCatalog) -> None:
    # eGRID2023r2 (subregions_egrid2023r2.csv): PRMS CO2e 1548.53 lb/MWh, not the
    # US national 770.884 that PR used to get.
    r = cat.resolve("electricity", Location(state="PR"), year=2023)
    assert (r.level, r.co2e.region_key) == ("subregion", "PRMS")
    assert r.co2e.value == Decimal("1548.53")
    assert "PR lies entirely in eGRID subregion PRMS" in r.steps


def test_territory_without_state_rate_falls_back_to_national_and_says_so(
    cat: FactorCatalog,
) -> None:
    # Guam is a US territory with no eGRID subregion or state rate: the data lacks
    # the level, so the national rate is used and the steps say why.
    r = cat.resolve("electricity", Location(state="GU"), year=2022)
    assert (r.level, r.co2e.region_key, r.co2e.edition) == ("national", "US", "egrid2022")
    assert any("no state rate for GU" in s and "US national" in s for s in r.steps)
    assert r.steps[-1] == "egrid2022: US national rate"


def test_year_selection_and_revision(cat: FactorCatalog) -> None:
    r = cat.resolve("electricity", Location(subregion="CAMX"), year=2025)
    assert r.co2e.edition == "egrid2023r2"
    assert any("used the nearest earlier year 2023" in s for s in r.steps)
    assert any("egrid2023r2 supersedes egrid2023r1" in s for s in r.steps)
    early = cat.resolve("electricity", Location(subregion="CAMX"), year=2015)
    assert early.co2e.edition == "egrid2020"
    assert any("earliest later year 2020" in s for s in early.steps)
    # eGRID2020 has no CO2e: the CO2 rate is used and that is stated
    assert early.co2e_is_co2_proxy
    assert any("publishes no CO2e" in s for s in early.steps)


def test_pick_year_rule() -> None:
    assert pick_year([2019, 2021], 2021, "x") == (2021, None)
    assert pick_year([2019, 2021], 2020, "x")[0] == 2019
    assert pick_year([2019, 2021], 2010, "x")[0] == 2019
    # the closest year wins; a tie goes to the earlier year
    assert pick_year([2019, 2023], 2022, "x")[0] == 2023
    assert pick_year([2019, 2023], 2021, "x")[0] == 2019
    # more than one year away is flagged
    assert "warning: the factor is 3 years" in (pick_year([2019, 2025], 2022, "x")[1] or "")
    assert "warning" not in (pick_year([2019, 2023], 2022, "x")[1] or "")
    assert pick_year([2019, 2021], None, "x")[0] == 2021


def test_2023r1_camx_contradiction_is_a_step(cat: FactorCatalog) -> None:
    with pytest.warns(DataWarning):
        r = FactorCatalog().resolve(
            "electricity", Location(subregion="CAMX"), edition="egrid2023r1"
        )
    assert any("CO2e 422.234 below CO2 436.655" in s for s in r.steps)


@pytest.mark.parametrize(
    ("country", "dataset", "key"),
    [
        ("UK", "DEFRA", "GB"),
        ("GB", "DEFRA", "GB"),
        ("GBR", "DEFRA", "GB"),
        ("Germany", "Ember", "DE"),
        ("DEU", "Ember", "DE"),
        ("fr", "Ember", "FR"),
        ("Japan", "Ember", "JP"),
        ("NO", "Ember", "NO"),
        ("United States", "eGRID", "US"),
    ],
)
def test_country_routing(cat: FactorCatalog, country: str, dataset: str, key: str) -> None:
    # For 2022: DEFRA 2022 for the UK; EU members have EEA up to 2019 and Ember
    # 2023-2024, and Ember 2023 is the closer year.
    r = cat.resolve("electricity", Location(country=country), year=2022)
    assert (r.co2e.dataset, r.co2e.region_key) == (dataset, key)


def test_eea_still_used_for_its_years(cat: FactorCatalog) -> None:
    # EEA co2-emission-intensity-6: PL 2019 = 719 g/kWh.
    r = cat.resolve("electricity", Location(country="PL"), year=2019)
    assert (r.co2e.edition, r.co2e.data_year, r.co2e.value) == (
        "eea-co2-intensity-6",
        2019,
        Decimal("719"),
    )
    assert r.co2e_is_co2_proxy


def test_bill_year_preferred_from_any_source(cat: FactorCatalog) -> None:
    # NL 2024: Ember 2024 (252.7 g/kWh, ember-average-intensities-2024.json) over
    # EEA 2019 (390); the choice is stated.
    r = cat.resolve("electricity", Location(country="NL"), year=2024)
    assert (r.co2e.dataset, r.co2e.data_year, r.co2e.value) == ("Ember", 2024, Decimal("252.7"))
    assert any("sources with electricity data for NL: EEA 1990-2019; Ember" in s for s in r.steps)
    assert any(
        "ember-2024 (Ember): electricity factor for NL, data year 2024" in s for s in r.steps
    )


def test_factor_far_from_the_activity_year_is_flagged(cat: FactorCatalog) -> None:
    # PL 2030: the closest data is Ember 2024, six years away.
    r = cat.resolve("electricity", Location(country="PL"), year=2030)
    assert (r.co2e.dataset, r.co2e.data_year) == ("Ember", 2024)
    assert any("warning: the factor is 6 years from the activity's year" in s for s in r.steps)


@pytest.mark.parametrize(
    ("year", "edition", "value"),
    [
        # UK electricity generation, kg CO2e/kWh, from each year's DEFRA/DESNZ flat file
        (2020, "defra2020", "0.23314"),
        (2021, "defra2021", "0.21233"),
        (2022, "defra2022", "0.19338"),
        (2024, "defra2024", "0.20705"),
        (2025, "defra2025", "0.177"),
    ],
)
def test_uk_electricity_each_year(cat: FactorCatalog, year: int, edition: str, value: str) -> None:
    r = cat.resolve("electricity", Location(country="GB"), year=year)
    assert (r.co2e.edition, r.co2e.value) == (edition, Decimal(value))
    assert not any("warning" in s for s in r.steps)


def test_uk_2023_electricity_golden(cat: FactorCatalog) -> None:
    # DESNZ 2023 flat file (v1.1) stores 0.20707428859060403 (shown 0.20707428859);
    # read to Excel's 15 significant digits. 1000 kWh x 0.207074288590604 = 207.074288590604
    # -> 207.074289 kg at the 0.000001 quantum.
    r = cat.resolve("electricity", Location(country="UK"), year=2023)
    assert r.co2e.edition == "defra2023"
    assert r.co2e.value.quantize(Decimal("0.00000000001")) == Decimal("0.20707428859")
    assert calculate(Decimal(1000), "kWh", r).kg_co2e == Decimal("207.074289")


def test_fuel_outside_the_us_uses_defra_and_says_so(cat: FactorCatalog) -> None:
    r = cat.resolve("natural_gas", Location(country="JP"), year=2024)
    assert (r.co2e.edition, r.scope, r.co2e.unit) == ("defra2024", "1", "kg/kWh")
    assert any("DEFRA (UK government) used for JP" in s for s in r.steps)
    assert {v[0].unit for v in r.variants} == {"kg/m3", "kg/t"}


def test_errors(cat: FactorCatalog) -> None:
    with pytest.raises(InvalidInput, match="unknown country"):
        cat.resolve("electricity", Location(country="Atlantis"))
    with pytest.raises(FactorNotFound, match="unobtainium"):
        cat.resolve("unobtainium", Location(country="GB"))
    with pytest.raises(FactorNotFound, match="needs a location"):
        cat.resolve("electricity", Location())
    with pytest.raises(InvalidInput, match="year"):
        cat.resolve("electricity", Location(country="GB"), year=20245)


def test_normalise_country() -> None:
    assert [normalise_country(c) for c in ("UK", "gbr", "Czech Republic", "EL", "Kosovo")] == [
        "GB",
        "GB",
        "CZ",
        "GR",
        "XK",
    ]
