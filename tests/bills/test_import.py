"""Bills to records through the services, on a real ledger with the shipped factor data."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path
from typing import Any

import orjson
import pytest

import carbonledger
from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.core.calculator import recompute
from carbonledger.core.domain import Bill, Organisation, Site, account_ref, record_id
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import InvalidInput
from carbonledger.factors import FactorCatalog
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.bills_csv import parse_bills
from carbonledger.services.home import Home
from carbonledger.services.importer import ImportReport, import_bills
from carbonledger.services.records import RecordReader
from carbonledger.services.registry import register_orgs, register_sites

DATA = Path(carbonledger.__file__).parent / "data"
LB_KG = Decimal("0.45359237")
HEAD = "site,account,start,end,amount,unit"
SITES = [
    Site("us", "acme", "Chicago", "US", "60601", utility_id="4110"),  # ComEd: eGRID RFCW
    Site("uk", "acme", "London", "GB"),
    Site("de", "acme", "Berlin", "DE"),
]


def _q(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)


def _egrid_lb_per_mwh(file: str, subregion: str) -> Decimal:
    with (DATA / "egrid" / file).open(newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["subregion"] == subregion)
    return Decimal(row["co2e_lb_per_mwh"])


def _factor_csv(file: str, activity: str, unit: str) -> Decimal:
    with (DATA / "uk" / file).open(newline="") as fh:
        rows = csv.DictReader(fh)
        row = next(
            r for r in rows if (r["activity"], r["gas"], r["unit"]) == (activity, "co2e", unit)
        )
    return Decimal(row["value"])


@dataclass
class Env:
    ledger: SqliteLedger
    key: PrivateKey
    catalog: FactorCatalog

    def run(self, text: str, site: str | None = None) -> ImportReport:
        """What `bills import` does: parse errors and import rejections, by line."""
        parsed = parse_bills(text.splitlines(), site=site)
        report = import_bills(
            self.ledger,
            self.key,
            self.catalog,
            parsed.bills,
            store=self.ledger.channels,
            source="t.csv",
        )
        report.rows = parsed.rows
        report.rejected[:0] = parsed.errors
        report.rejected.sort(key=lambda e: e.line)
        return report

    def records(self) -> list[dict[str, Any]]:
        """The records as the importing member sees them (results opened from the channel)."""
        reader = self.reader()
        return [reader.full(s.item) for s in self.ledger.items(ItemQuery(kind="emissions_record"))]

    def record(self, account: str) -> dict[str, Any]:
        found = next(r for r in self.records() if r["account"] == account)
        assert found["account_ref"] == account_ref(found["site"], account)  # what is public
        return found

    def reader(self) -> RecordReader:
        return RecordReader.for_member(self.ledger, self.ledger.channels, self.key)

    def trace(self, account: str) -> dict[str, Any]:
        return self.reader().trace(self.record(account))

    def billed(self, account: str) -> dict[str, Any]:
        """The sealed details (amount, unit, cost ...) of the record of ``account``."""
        return self.reader().detail(self.record(account))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    home = Home(tmp_path / "home")
    key = home.init("import-test", scrypt_n=2**10)
    ledger = home.ledger(key)
    register_orgs(ledger, ledger.channels, key, [Organisation("acme", "Acme")])
    register_sites(ledger, key, SITES)
    yield Env(ledger, key, FactorCatalog(home=home.path))
    ledger.close()


JAN = "2023-01-01,2023-01-31"
OPENTAPS = "meter_id,from_date,thru_date,energy_use_amount,energy_use_uom"  # site via --site
ALIASES = [
    (HEAD, f"us,E1,{JAN},1000,kWh", None),
    (OPENTAPS, f"E1,{JAN},1000,kWh", "us"),
    ("Site ID,Account Number,Period Start,Period End,Usage,UOM", f"us,E1,{JAN},1000,kWh", None),
    ("site_id,meter,from,to,quantity,unit", f'us,E1,{JAN},"1,000.0",kWh', None),
    ("SITE,ACCOUNT,THRU,FROM,AMOUNT,UNIT", "us,E1,2023-01-31,2023-01-01,1000,kWh", None),
]


@pytest.mark.parametrize(("header", "row", "site"), ALIASES)
def test_columns_and_aliases(env: Env, header: str, row: str, site: str | None) -> None:
    parsed = parse_bills([header, row], site=site)
    jan = (date(2023, 1, 1), date(2023, 1, 31))
    assert parsed.errors == []
    assert parsed.bills == [Bill("us", "E1", *jan, Decimal(1000), "kWh", "electricity", line=2)]
    assert env.run(f"{header}\n{row}", site=site).recorded == 1


def test_optional_columns(env: Env) -> None:
    doc = hashlib.sha256(b"bill.pdf").hexdigest()
    text = (
        "site,account,start,end,amount,unit,fuel,amount_billed,currency,document_sha256\n"
        f"uk,G1,2024-01-01,2024-01-31,10,m3,Natural_Gas,12.50,gbp,{doc.upper()}\n"
    )
    assert env.run(text).recorded == 1
    r = {**env.record("G1"), **env.billed("G1")}
    got = [r["activity"], r["cost"], r["currency"], r["document_sha256"]]
    assert got == ["natural_gas", "12.50", "GBP", doc]


@pytest.mark.parametrize(
    ("header", "site", "missing"),
    [
        ("site,account,start,amount,unit", None, "end"),
        ("account,start,end,amount,unit", None, "site"),
        ("site,start,end,amount", None, "account, unit"),
        ("from_date,thru_date,energy_use_amount,energy_use_uom", "us", "account"),
    ],
)
def test_header_missing_a_column(header: str, site: str | None, missing: str) -> None:
    with pytest.raises(InvalidInput, match=rf"^line 1: header lacks column\(s\) {missing};"):
        parse_bills([header, "x"], site=site)
    with pytest.raises(InvalidInput, match="empty"):
        parse_bills([])


SHA = "ab" * 32
BAD_FILE = f"""{HEAD},document
us,E1,2023-01-01,2023-01-31,1000,kWh,
us,E1,2023-02-30,2023-03-31,10,kWh,
us,E1,2023-04-01,2023-04-xx,10,kWh,
us,E1,2023-04-30,2023-04-01,10,kWh,
us,E1,2023-05-01,2023-05-31,-1,kWh,
us,E1,2023-06-01,2023-06-30,10,furlongs,
us,E1,2023-07-01,2023-07-31,10,mt,
nowhere,E1,2023-08-01,2023-08-31,10,kWh,
us,E1,2023-09-01,2023-09-30,10

us,E1,2023-10-01,2023-10-31,10,kWh,abc
us,E1,2023-11-01,2023-11-30,20,kWh,{SHA}
"""


def test_each_bad_row_is_named_and_good_rows_recorded(env: Env) -> None:
    report = env.run(BAD_FILE)
    got = [(e.line, e.field) for e in report.rejected]
    # line 11 is blank: skipped, but still counted as a line
    assert got == [(3, "start"), (4, "end"), (5, "period"), (6, "amount"), (7, "unit"),
                   (8, "unit"), (9, "site"), (10, "row"), (12, "document")]  # fmt: skip
    reasons = {e.line: e.reason for e in report.rejected}
    assert reasons[3] == "'2023-02-30' is not a date (use YYYY-MM-DD)"
    assert reasons[5] == "end 2023-04-01 is before start 2023-04-30"
    assert reasons[6] == "'-1' must be >= 0"
    assert reasons[7].startswith("unknown unit 'furlongs'")
    assert "'mt' is ambiguous" in reasons[8]
    assert reasons[9] == "site 'nowhere' is not registered"
    assert reasons[10] == "has 5 fields, header has 7"
    assert reasons[12] == "'abc' is not a SHA-256 hex digest"
    assert (report.rows, report.recorded, report.duplicates) == (11, 2, 0)  # blank not a row
    assert [r["period"]["start"] for r in env.records()] == ["2023-01-01", "2023-11-01"]
    assert env.billed("E1")["document_sha256"] is None
    assert env.ledger.verify().ok


def test_same_file_twice_records_once_and_totals_add_up(env: Env) -> None:
    text = f"{HEAD}\n" + "\n".join(
        f"{s},E1,2023-{m:02d}-01,2023-{m:02d}-27,{1234.5 * m},kWh"
        for s in ("us", "uk", "de")
        for m in range(1, 7)
    )
    first = env.run(text)
    assert (first.recorded, first.duplicates) == (18, 0)
    records = env.records()
    assert first.kg_co2e == sum(Decimal(r["kg_co2e"]) for r in records)
    reader = env.reader()
    assert all(reader.recompute(r)["kg_co2e"] == Decimal(r["kg_co2e"]) for r in records)
    second = env.run(text)
    assert (second.recorded, second.duplicates, second.rejected) == (0, 18, [])
    assert second.kg_co2e == 0
    assert env.records() == records
    assert env.ledger.verify().ok


def test_equal_quantity_written_differently_is_a_duplicate(env: Env) -> None:
    assert env.run(f"{HEAD}\nus,E1,2023-01-01,2023-01-31,100,kWh").recorded == 1
    for amount, unit in (("100.0", "kWh"), ("100", "kwh"), ("100.000", "KWH"), ("1e2", "kWh")):
        again = env.run(f"{HEAD}\nus,E1,2023-01-01,2023-01-31,{amount},{unit}")
        assert (again.recorded, again.duplicates, again.rejected) == (0, 1, []), (amount, unit)


def test_different_amount_for_a_recorded_period_is_rejected(env: Env) -> None:
    env.run(f"{HEAD}\nus,E1,2023-01-01,2023-01-31,100,kWh")
    rid = record_id("us", account_ref("us", "E1"), date(2023, 1, 1), date(2023, 1, 31))
    report = env.run(f"{HEAD}\nus,E1,2023-01-01,2023-01-31,101,kWh")
    (e,) = report.rejected
    assert (e.line, e.field, report.recorded) == (2, "period", 0)
    assert e.reason == (
        "2023-01-01..2023-01-31 for account 'E1' is already recorded with 100 kWh of"
        f" electricity (record {rid})"
    )
    assert env.billed("E1")["amount"] == "100"


def test_overlapping_periods_are_rejected(env: Env) -> None:
    env.run(f"{HEAD}\nus,E1,2023-01-01,2023-01-31,100,kWh")
    jan = record_id("us", account_ref("us", "E1"), date(2023, 1, 1), date(2023, 1, 31))
    mar = record_id("us", account_ref("us", "E1"), date(2023, 3, 1), date(2023, 3, 31))
    report = env.run(
        f"{HEAD}\n"
        "us,E1,2023-01-31,2023-02-14,5,kWh\n"  # shares its first day with the ledger's January
        "us,E1,2023-03-01,2023-03-31,5,kWh\n"
        "us,E1,2023-03-31,2023-04-30,5,kWh\n"  # shares a day with March, earlier in this file
        "us,E2,2023-01-15,2023-02-14,5,kWh\n"  # another account: no overlap
        "uk,E1,2023-01-15,2023-02-14,5,kWh\n"  # the same account name at another site
    )
    assert [(e.line, e.field) for e in report.rejected] == [(2, "period"), (4, "period")]
    assert [e.reason.split(" overlaps ")[1] for e in report.rejected] == [
        f"the accepted period 2023-01-01..2023-01-31 (record {jan})",
        f"the accepted period 2023-03-01..2023-03-31 (record {mar})",
    ]
    assert report.recorded == 3


def test_bill_across_new_year_takes_its_midpoint_year(env: Env) -> None:
    env.run(
        f"{HEAD}\n"
        "us,A,2022-12-01,2023-01-10,1000,kWh\n"  # 41 days, midpoint 2022-12-21
        "us,B,2022-12-25,2023-01-31,1000,kWh\n"  # 38 days, midpoint 2023-01-12
    )
    a, b = env.trace("A"), env.trace("B")
    assert (a["factor"]["edition"], b["factor"]["edition"]) == ("egrid2022", "egrid2023r2")
    # 1 MWh x lb/MWh x 0.45359237 kg/lb
    lb_2022 = _egrid_lb_per_mwh("subregions_egrid2022.csv", "RFCW")  # 1005.904
    lb_2023 = _egrid_lb_per_mwh("subregions_egrid2023r2.csv", "RFCW")  # 916.054
    assert env.record("A")["kg_co2e"] == str(_q(lb_2022 * LB_KG))
    assert env.record("B")["kg_co2e"] == str(_q(lb_2023 * LB_KG))


def test_us_site_zip_and_utility_resolve_to_egrid_subregion(env: Env) -> None:
    env.run(f"{HEAD}\nus,E1,2023-06-01,2023-06-30,123456.7,kWh")
    trace = env.trace("E1")
    factor = [trace["factor"][k] for k in ("dataset", "edition", "region_level", "region_key")]
    assert factor == ["eGRID", "egrid2023r2", "subregion", "RFCW"]
    steps = trace["resolution"]["steps"]
    assert "egrid2023r2 supersedes egrid2023r1 for data year 2023" in steps
    assert any(s.startswith("ZIP 60601 + utility 4110") and "RFCW" in s for s in steps)
    assert steps[-1] == "egrid2023r2: eGRID subregion RFCW"
    # 123456.7 kWh = 123.4567 MWh; x 916.054 lb/MWh x 0.45359237 kg/lb
    lb = _egrid_lb_per_mwh("subregions_egrid2023r2.csv", "RFCW")
    expected = _q(Decimal("123.4567") * lb * LB_KG)
    assert env.record("E1")["kg_co2e"] == str(expected)
    assert recompute(trace)["kg_co2e"] == expected
    assert trace["scope"] == "2-location"


def test_uk_site_uses_defra(env: Env) -> None:
    env.run(f"{HEAD}\nuk,E1,2024-03-01,2024-03-31,1000,kWh")
    trace = env.trace("E1")
    assert (trace["factor"]["dataset"], trace["factor"]["edition"]) == ("DEFRA", "defra2024")
    assert (
        "defra2024 (DEFRA): electricity factor for GB, data year 2024"
        in (trace["resolution"]["steps"])
    )
    value = _factor_csv("defra2024_extract.csv", "electricity", "kg/kWh")  # 0.20705
    assert env.record("E1")["kg_co2e"] == str(_q(1000 * value))


def test_eu_site_uses_the_closest_year_of_any_source(env: Env) -> None:
    # DE 2023: EEA ends in 2019 (4 years away), Ember has 2024 (1 year away).
    env.run(f"{HEAD}\nde,E1,2023-03-01,2023-03-31,1000,kWh")
    trace = env.trace("E1")
    assert (trace["factor"]["dataset"], trace["factor"]["data_year"]) == ("Ember", 2024)
    steps = trace["resolution"]["steps"]
    assert "no electricity data for DE for 2023; used the nearest later year 2024" in steps
    assert trace["co2e_is_co2_proxy"] is True
    ember = orjson.loads((DATA / "world" / "ember-average-intensities-2024.json").read_bytes())
    g_per_kwh = Decimal(str(ember["DEU"]["emissions_intensity_gco2_per_kwh"]))  # 342.06
    # 1000 kWh x g/kWh / 1000 g/kg
    assert env.record("E1")["kg_co2e"] == str(_q(g_per_kwh))


def test_eu_site_in_an_eea_year_uses_eea(env: Env) -> None:
    env.run(f"{HEAD}\nde,E1,2019-03-01,2019-03-31,1000,kWh")
    trace = env.trace("E1")
    assert (trace["factor"]["dataset"], trace["factor"]["data_year"]) == ("EEA", 2019)
    with (DATA / "eea" / "co2-emission-intensity-6.csv").open(newline="") as fh:
        (g_per_kwh,) = [
            Decimal(r["index:number"])
            for r in csv.DictReader(fh)
            if (r["Date:year"], r["Member State:text"]) == ("2019", "Germany")
        ]
    assert env.record("E1")["kg_co2e"] == str(_q(g_per_kwh))  # 338


def test_natural_gas_in_therm_and_m3(env: Env) -> None:
    report = env.run(
        f"{HEAD},activity\n"
        "uk,G1,2024-01-01,2024-01-31,100,therm,natural_gas\n"
        "uk,G2,2024-01-01,2024-01-31,50,m3,gas\n"
    )
    assert report.rejected == []
    per_kwh = _factor_csv("defra2024_extract.csv", "natural_gas", "kg/kWh")  # gross CV
    per_m3 = _factor_csv("defra2024_extract.csv", "natural_gas", "kg/m3")
    with localcontext() as ctx:
        ctx.prec = 60
        # 1 therm = 100,000 Btu x 1055.05585262 J/Btu / 3.6e6 J/kWh
        kwh_per_therm = Decimal(100_000) * Decimal("1055.05585262") / Decimal(3_600_000)
        therm_kg = _q(100 * kwh_per_therm * per_kwh)
    assert env.record("G1")["kg_co2e"] == str(therm_kg)
    assert env.record("G2")["kg_co2e"] == str(_q(50 * per_m3))
    assert env.trace("G2")["resolution"]["activity"] == "natural_gas"
    assert env.trace("G1")["scope"] == env.trace("G2")["scope"] == "1"
    assert env.trace("G2")["factor"]["unit"] == "kg/m3"
    assert report.kg_co2e == therm_kg + _q(50 * per_m3)


def test_calculation_basis_once_per_site_year_and_unit(env: Env) -> None:
    def bases() -> int:
        return len(list(env.ledger.items(ItemQuery(kind="calculation_basis"))))

    env.run(
        f"{HEAD}\n"
        + "\n".join(f"us,E1,2023-{m:02d}-01,2023-{m:02d}-28,{m}00,kWh" for m in range(1, 5))
        + "\n"
        + "\n".join(f"us,E2,2023-{m:02d}-01,2023-{m:02d}-28,{m},MWh" for m in range(1, 3))
        + "\nus,E1,2022-06-01,2022-06-30,5,kWh"
        + "\nuk,E1,2023-01-01,2023-01-31,5,kWh\nuk,E1,2023-02-01,2023-02-28,5,kwh"
    )
    # (us, 2023, kWh), (us, 2023, MWh), (us, 2022, kWh), (uk, 2023, kWh): 4, not 9
    assert len(env.records()) == 9
    assert bases() == 4
    env.run(f"{HEAD}\nus,E1,2023-09-01,2023-09-30,7,kWh\nuk,E1,2023-09-01,2023-09-30,7,kWh")
    assert bases() == 4
    assert env.ledger.verify().ok


def test_record_activity_is_the_canonical_one(env: Env) -> None:
    env.run(f"{HEAD},activity\nuk,G2,2024-01-01,2024-01-31,50,m3,gas")
    assert env.record("G2")["activity"] == env.trace("G2")["resolution"]["activity"]


@pytest.mark.parametrize(
    ("row", "field"),
    [
        pytest.param("us,,2023-01-01,2023-01-31,5,kWh,electricity", "account"),
        pytest.param("us,E1,2023-01-01,2023-01-31,5,kWh,steam", "activity"),
        pytest.param("us,E1,2023-01-01,2023-01-31,1e31,kWh,electricity", "amount"),
    ],
)
def test_bad_row_is_reported_on_its_field(env: Env, row: str, field: str) -> None:
    (e,) = env.run(f"{HEAD},activity\n{row}").rejected
    assert (e.line, e.field) == (2, field)


def test_same_period_with_another_activity_is_not_a_duplicate(env: Env) -> None:
    env.run(f"{HEAD},activity\nuk,M1,2024-01-01,2024-01-31,10,kWh,electricity")
    report = env.run(f"{HEAD},activity\nuk,M1,2024-01-01,2024-01-31,10,kWh,natural_gas")
    assert report.duplicates == 0
    assert [(e.line, e.field) for e in report.rejected] == [(2, "period")]
