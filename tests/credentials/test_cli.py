"""CLI: `did`, `vc`, `meter`, `utility` and the digital audit, end to end on a real home."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner, Result

from carbonledger.cli import _Group
from carbonledger.cli import bills as bills_cli
from carbonledger.cli import credentials as credentials_cli
from carbonledger.cli import org as org_cli
from carbonledger.credentials import meter_readings_credential
from carbonledger.demo.meters import hourly_readings
from carbonledger.services.home import Home

PASS = "vc-cli-passphrase"
Run = Callable[..., Result]
BILLS = """account,start,end,amount,unit
E1,2023-01-01,2023-01-31,1000,kWh
E1,2023-02-01,2023-02-28,1100,kWh
E1,2023-03-01,2023-03-31,1200,kWh
"""
DATA = Path(__file__).parents[1] / "data" / "greenbutton"
COASTAL = DATA / "Coastal_Multi_Family_Jan_1_2011_to_Jan_1_2012_RetailCustomer_5.xml"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("CARBONLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CARBONLEDGER_PASSPHRASE", PASS)
    monkeypatch.setenv("COLUMNS", "500")
    Home(tmp_path / "home").init(PASS, scrypt_n=2**10)
    root = typer.Typer(cls=_Group)
    org_cli.register(root)
    bills_cli.register(root)
    credentials_cli.register(root)
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> Result:
        result = runner.invoke(root, list(args))
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.stdout + result.stderr
        return result

    invoke("org", "add", "acme", "--name", "Acme Corp", "--country", "US")
    invoke("site", "add", "hq", "--org", "acme", "--name", "HQ", "--country", "US",
           "--zip", "60601", "--utility", "4110")  # fmt: skip
    bills = tmp_path / "bills.csv"
    bills.write_text(BILLS)
    invoke("bills", "import", str(bills), "--site", "hq", "--json")
    return invoke


def _unsigned(tmp_path: Path, did: str, name: str, start: date, end: date, kwh: str) -> Path:
    credential = meter_readings_credential(
        issuer=did,
        meter_id="E1",
        site_id="hq",
        interval_seconds=3600,
        readings=hourly_readings(start, end, Decimal(kwh)),
        valid_from=datetime(end.year, end.month, end.day, tzinfo=UTC),
    )
    path = tmp_path / f"{name}.unsigned.json"
    path.write_text(json.dumps(credential))
    return path


def test_every_command_has_help(cli: Run) -> None:
    for group, commands in {
        "did": ["create", "show"],
        "vc": ["issue", "verify", "post"],
        "meter": ["register", "readings", "list", "retire"],
        "utility": ["register"],
    }.items():
        assert all(c in cli(group, "--help").stdout for c in commands)
        for command in commands:
            assert "Usage" in cli(group, command, "--help").stdout
    assert "--org" in cli("audit-auto", "--help").stdout


def test_audit_auto_mounts_under_an_audit_group() -> None:
    root, audit = typer.Typer(), typer.Typer()
    audit.command("run")(lambda: None)
    credentials_cli.register(root, audit_app=audit)
    root.add_typer(audit, name="audit")
    result = CliRunner().invoke(root, ["audit", "auto", "--help"])
    assert result.exit_code == 0
    assert "verified, unverifiable or contradicted" in " ".join(result.stdout.split())


def test_dids_credentials_meters_and_the_digital_audit(cli: Run, tmp_path: Path) -> None:
    meter_did = cli("did", "create", "meter-1").stdout.strip()
    assert meter_did.startswith("did:key:z6Mk")  # Ed25519 by default
    utility = orjson.loads(cli("did", "create", "comed", "--type", "secp256k1", "--json").stdout)
    assert utility["did"].startswith("did:key:zQ3s")
    cli("did", "create", "meter-1", code=2)  # never overwritten
    doc = orjson.loads(cli("did", "show", "meter-1").stdout)
    assert doc["document"]["id"] == meter_did
    assert doc["registered"] == []

    cli("meter", "register", "m1", "--site", "hq", "--meter", "E1", "--key", "meter-1",
        "--from", "2023-01-01")  # fmt: skip
    cli("utility", "register", "comed", "--key", "comed", "--name", "ComEd", "--eia", "4110")
    listed = orjson.loads(cli("meter", "list", "--json").stdout)
    assert {d["id"]: d["status"] for d in listed} == {"m1": "active", "comed": "active"}
    assert orjson.loads(cli("did", "show", meter_did).stdout)["registered"][0]["id"] == "m1"

    jan = tmp_path / "jan.json"
    unsigned = _unsigned(tmp_path, meter_did, "jan", date(2023, 1, 1), date(2023, 1, 31), "1000")
    cli("vc", "issue", str(unsigned), "--key", "meter-1", "-o", str(jan))
    (row,) = orjson.loads(cli("vc", "verify", str(jan), "--json").stdout)
    assert (row["ok"], row["registered_as"]) == (True, "m1")
    posted = orjson.loads(cli("meter", "readings", str(jan), "--json").stdout)
    assert posted["posted"] == 1
    assert [e["kind"] for e in posted["events"]] == ["verified"]

    # February's readings say 1,300 kWh where 1,100 were billed: flagged as they arrive.
    feb = tmp_path / "feb.json"
    unsigned = _unsigned(tmp_path, meter_did, "feb", date(2023, 2, 1), date(2023, 2, 28), "1300")
    cli("vc", "issue", str(unsigned), "--key", "meter-1", "-o", str(feb))
    result = cli("meter", "readings", str(feb), code=1)
    assert "mismatch" in result.stdout
    assert "sum to 1300 kWh" in result.stdout

    # A changed reading no longer verifies.
    tampered = json.loads(jan.read_text())
    tampered["credentialSubject"]["readings"][0]["value"] = "1"
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(tampered))
    result = cli("vc", "verify", str(bad), code=1)
    assert "FAILED" in result.stdout
    assert "signature" in result.stdout

    out = orjson.loads(
        cli(
            "audit-auto",
            "--org",
            "acme",
            "--start",
            "2023-01-01",
            "--end",
            "2023-12-31",
            "--json",
            code=1,
        ).stdout
    )
    assert out["counts"] == {"verified": 1, "unverifiable": 1, "contradicted": 1}
    assert out["credential"]["type"] == ["VerifiableCredential", "AuditResultCredential"]
    contradicted = [f for f in out["findings"] if f["verdict"] == "contradicted"]
    assert contradicted[0]["period"] == ["2023-02-01", "2023-02-28"]

    cli("meter", "retire", "m1", "--revoke", "--reason", "key leaked")
    result = cli("meter", "readings", str(jan), code=1)
    assert "0 credentials posted" in result.stdout


def test_green_button_readings_are_signed_by_the_meter_key(cli: Run, tmp_path: Path) -> None:
    meter_did = cli("did", "create", "coastal-meter").stdout.strip()
    cli("meter", "register", "cm", "--site", "hq", "--meter", "E9", "--did", meter_did,
        "--from", "2011-01-01")  # fmt: skip
    out = orjson.loads(
        cli(
            "meter",
            "readings",
            str(COASTAL),
            "--key",
            "coastal-meter",
            "--device",
            "cm",
            "--meter",
            "E9",
            "--json",
        ).stdout
    )
    assert (out["posted"], out["rejected"]) == (13, [])  # 13 UTC months of hourly readings
    cli("meter", "readings", str(COASTAL), "--json", code=2)  # --key, --device, --meter needed
    wrong = cli("meter", "readings", str(COASTAL), "--key", "coastal-meter", "--device", "cm",
                "--meter", "E1", code=2)  # fmt: skip
    assert "registered to another meter" in wrong.stderr
