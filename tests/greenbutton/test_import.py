"""`greenbutton import FILE --site S`: Green Button bills recorded, then checked against readings.

The Coastal hourly year (8,760 readings, 4,425.305 kWh) becomes 13 monthly bills
in UTC (the file runs 2011-01-01T08:00Z to 2012-01-01T08:00Z); their emissions
are those the calculator gives for each bill, as for any imported bill. The
same file's intervals, signed by a simulated meter, then verify every record.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner, Result

from carbonledger.cli import ledger as ledger_cli
from carbonledger.cli import org as org_cli
from carbonledger.cli.greenbutton import app as greenbutton_app
from carbonledger.core.calculator import calculate
from carbonledger.credentials import Ed25519Signer
from carbonledger.factors import FactorCatalog
from carbonledger.greenbutton import parse_file, to_bills, to_intervals
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.devices import (
    post_credentials,
    readings_from_intervals,
    register_device,
)
from carbonledger.services.digital_auditor import run_digital_audit
from carbonledger.services.home import Home
from carbonledger.services.importer import site_location
from carbonledger.services.records import RecordReader

PASS = "gb-import-passphrase"
DATA = Path(__file__).parents[1] / "data" / "greenbutton"
COASTAL = DATA / "Coastal_Multi_Family_Jan_1_2011_to_Jan_1_2012_RetailCustomer_5.xml"
GAS = DATA / "ngma_natural_gas_billing_billing_data_Service_1_1_2021-05-26_to_2024-04-25.xml"
Run = Callable[..., Result]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("CARBONLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CARBONLEDGER_PASSPHRASE", PASS)
    monkeypatch.setenv("COLUMNS", "500")
    Home(tmp_path / "home").init(PASS, scrypt_n=2**10)
    root = typer.Typer()
    ledger_cli.register(root)
    org_cli.register(root)
    root.add_typer(greenbutton_app, name="greenbutton")
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> Result:
        result = runner.invoke(root, list(args))
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        assert "Traceback" not in result.stdout + result.stderr
        return result

    invoke("org", "add", "coastal", "--name", "Coastal Multi-Family", "--country", "US")
    invoke("site", "add", "sf", "--org", "coastal", "--name", "SF", "--country", "US",
           "--zip", "94105", "--utility", "14328")  # fmt: skip
    return invoke


def test_import_records_the_green_button_year(cli: Run, tmp_path: Path) -> None:
    out = orjson.loads(cli("greenbutton", "import", str(COASTAL), "--site", "sf", "--json").stdout)
    assert (out["bills"], out["recorded"], out["rejected"]) == (13, 13, [])
    assert (out["amount"], out["unit"]) == ("4425.305", "kWh")
    # Emissions as the foundation computes them: each bill through the calculator.
    home = Home(tmp_path / "home")
    ledger = home.ledger()
    catalog = FactorCatalog(home=home.path)
    location = site_location(ledger.state().sites["sf"])
    bills = to_bills(parse_file(COASTAL), site="sf").bills
    expected = sum(
        (
            calculate(b.amount, b.unit, catalog.resolve(b.activity, location, year=b.year)).kg_co2e
            for b in bills
        ),
        Decimal(0),
    )
    assert Decimal(out["kg_co2e"]) == expected > 0
    # Importing the same file again records nothing twice.
    again = orjson.loads(
        cli("greenbutton", "import", str(COASTAL), "--site", "sf", "--json").stdout
    )
    assert (again["recorded"], again["duplicates"]) == (0, 13)
    text = cli("greenbutton", "import", str(COASTAL), "--site", "sf").stdout
    assert "13 bills (4,425.305 kWh): 0 recorded, 13 already recorded" in text


def test_import_of_gas_billing_data(cli: Run) -> None:
    out = orjson.loads(cli("greenbutton", "import", str(GAS), "--site", "sf", "--json").stdout)
    assert out["recorded"] == out["bills"] > 0
    assert out["unit"] == "therm"


def test_bad_input_is_a_clear_error(cli: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<feed><entry>")
    result = cli("greenbutton", "import", str(bad), "--site", "sf", code=2)
    assert "error:" in result.stderr
    result = cli("greenbutton", "import", str(COASTAL), "--site", "sf", "--timezone", "mars",
                 code=2)  # fmt: skip
    assert "--timezone" in result.stderr
    result = cli("greenbutton", "import", str(COASTAL), "--site", "nowhere", code=1)
    assert "site 'nowhere' is not registered" in result.stderr


def test_signed_intervals_of_the_same_file_verify_every_record(cli: Run, tmp_path: Path) -> None:
    cli("greenbutton", "import", str(COASTAL), "--site", "sf", "--json")
    home = Home(tmp_path / "home")
    admin = home.key(PASS)
    ledger = home.ledger(admin)
    records = list(ledger.items(ItemQuery(kind="emissions_record")))
    # The public item names the account by reference; a member reads the number.
    reader = RecordReader.for_member(ledger, ledger.channels, admin)
    account = reader.detail(records[0].item)["account"]
    meter = Ed25519Signer.from_seed(b"\x21" * 32)
    register_device(
        ledger, admin, device_id="coastal-meter", did=meter.did, site="sf", meter=account,
        valid_from=date(2011, 1, 1),
    )  # fmt: skip
    credentials = readings_from_intervals(
        to_intervals(parse_file(COASTAL)), meter, meter_id=account, site_id="sf"
    )
    assert sum(len(c["credentialSubject"]["readings"]) for c in credentials) == 8760
    total = sum(Decimal(c["credentialSubject"]["total"]) for c in credentials)
    assert total == Decimal("4425305")  # Wh
    report = post_credentials(ledger, ledger.channels, admin, credentials)
    assert (report.posted, report.rejected) == (13, [])
    audit = run_digital_audit(
        ledger, ledger.channels, admin, "coastal", start=date(2011, 1, 1), end=date(2012, 1, 31)
    )
    # The file starts at 08:00Z (local midnight): the first and last UTC months are partly
    # read, so their bills are unverifiable although the readings sum to them exactly.
    assert audit.counts == {"verified": 11, "unverifiable": 2, "contradicted": 0}
    first, *_, last = audit.findings
    assert "readings cover only 98.9% of the period" in first.reason
    assert "readings cover only 33.3% of the period" in last.reason
    assert "difference 0 kWh" in first.reason
    assert ledger.verify().ok
    ledger.close()
