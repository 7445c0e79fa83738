"""Resolution: fallbacks (utility+ZIP -> subregion -> state -> national), countries, years."""

from __future__ import annotations

import pytest

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


def test_unknown_zip_falls_back_to_state(cat: FactorCatalog) -> None:
    r = cat.resolve("electricity", Location(zip="99999", state="CA"), year=2023)
    assert (r.level, r.co2e.region_key, r.co2e.edition) == ("state", "CA", "egrid2023-state")
    assert "ZIP 99999 not in egrid2023 lookup; fell back to state" in r.steps
    assert r.co2 is None  # the state file gives CO2e only


def test_no_state_rate_falls_back_to_national(cat: FactorCatalog) -> None:
    r = cat.resolve("electricity", Location(zip="99999", state="ZZ"), year=2022)
    assert (r.level, r.co2e.region_key, r.co2e.edition) == ("national", "US", "egrid2022")
    assert any("no state rate for ZZ" in s and "US national" in s for s in r.steps)
    assert r.steps[-1] == "egrid2022: US national rate"


def test_unknown_zip_without_state_goes_national(cat: FactorCatalog) -> None:
    r = cat.resolve("electricity", Location(zip="99999"), year=2022)
    assert r.level == "national"
    assert "no state known; fell back to US national" in r.steps


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
        ("Germany", "EEA", "DE"),
        ("DEU", "EEA", "DE"),
        ("fr", "EEA", "FR"),
        ("Japan", "Ember", "JP"),
        ("NO", "Ember", "NO"),
        ("United States", "eGRID", "US"),
    ],
)
def test_country_routing(cat: FactorCatalog, country: str, dataset: str, key: str) -> None:
    r = cat.resolve("electricity", Location(country=country), year=2022)
    assert (r.co2e.dataset, r.co2e.region_key) == (dataset, key)


def test_eea_latest_year_not_after_requested(cat: FactorCatalog) -> None:
    r = cat.resolve("electricity", Location(country="PL"), year=2030)
    assert r.co2e.data_year == 2019
    assert any("nearest earlier year 2019" in s for s in r.steps)
    assert r.co2e_is_co2_proxy


def test_fuel_uses_defra_anywhere_and_says_so(cat: FactorCatalog) -> None:
    r = cat.resolve("natural_gas", Location(country="US"), year=2024)
    assert (r.co2e.edition, r.scope, r.co2e.unit) == ("defra2024", "1", "kg/kWh")
    assert any("DEFRA (UK government) used for US" in s for s in r.steps)
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
