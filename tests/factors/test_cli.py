"""CLI: `calc` and `factors list|show|load`, mounted on a Typer app built here."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from carbonledger.cli.calc import calc
from carbonledger.cli.factors import app as factors_app
from carbonledger.core.calculator import recompute

OFFICIAL = Path(__file__).parents[1] / "data" / "official"


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer()
    root.command("calc")(calc)
    root.add_typer(factors_app, name="factors")
    return root


@pytest.fixture
def run(app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CARBONLEDGER_HOME", str(tmp_path / "home"))
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args))

    return invoke


def test_calc_json_rfcw(run) -> None:  # type: ignore[no-untyped-def]
    res = run(
        "calc",
        "--amount",
        "1000",
        "--unit",
        "MWh",
        "--subregion",
        "RFCW",
        "--edition",
        "egrid2022",
        "--json",
    )
    assert res.exit_code == 0, res.output
    out = orjson.loads(res.stdout)
    # 1005.904 lb/MWh x 1000 MWh x 0.45359237 kg/lb = 456,270.379352 kg
    assert out["kg_co2e"] == "456270.379352"
    assert out["kg_co2"] == "453616.410396"
    assert out["factor"]["edition"] == "egrid2022"
    assert recompute(out["trace"])["kg_co2e"] == Decimal("456270.379352")


def test_calc_human_with_zip(run) -> None:  # type: ignore[no-untyped-def]
    res = run("calc", "--amount", "100000", "--unit", "kWh", "--country", "UK", "--year", "2024")
    assert res.exit_code == 0, res.output
    assert "20705.000000" in res.stdout  # 100,000 kWh x 0.20705 kg/kWh


def test_calc_gas_therms(run) -> None:  # type: ignore[no-untyped-def]
    res = run(
        "calc",
        "--amount",
        "1000",
        "--unit",
        "therms",
        "--activity",
        "natural_gas",
        "--country",
        "US",
        "--year",
        "2024",
        "--json",
    )
    assert res.exit_code == 0, res.output
    # US gas: EPA Hub 2024 Table 1, 53.06 kg CO2 + 1 g CH4 x 28 + 0.1 g N2O x 265 (AR5)
    # = 53.1145 kg CO2e/MMBtu; 1000 therms = 100 MMBtu -> 5311.45 kg.
    out = orjson.loads(res.stdout)
    assert out["kg_co2e"] == "5311.450000"
    assert out["factor"]["edition"] == "epa-hub-2024"
    assert out["factor"]["basis"].startswith("AR5 GWP: 53.06 kg CO2 + 1 g CH4 x 28")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--unit", "mt", "--country", "DE"), "'t'"),
        (("--unit", "kWh", "--country", "Atlantis"), "unknown country"),
        (("--unit", "kWh", "--edition", "nope", "--country", "GB"), "unknown edition"),
    ],
)
def test_calc_errors_exit_2_one_line(run, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    res = run("calc", "--amount", "1", *args)
    assert res.exit_code == 2
    assert message in res.stderr
    assert "Traceback" not in res.output


def test_calc_bad_amount(run) -> None:  # type: ignore[no-untyped-def]
    res = run("calc", "--amount", "lots", "--unit", "kWh", "--country", "GB")
    assert res.exit_code == 2
    assert "not a number" in res.stderr


def test_calc_2023r1_camx_warns(run) -> None:  # type: ignore[no-untyped-def]
    res = run(
        "calc",
        "--amount",
        "1",
        "--unit",
        "MWh",
        "--subregion",
        "CAMX",
        "--edition",
        "egrid2023r1",
        "--json",
    )
    assert res.exit_code == 0
    out = orjson.loads(res.stdout)
    assert len(out["warnings"]) == 1
    assert "CAMX" in out["warnings"][0]


def test_factors_list(run) -> None:  # type: ignore[no-untyped-def]
    res = run("factors", "list", "--json")
    assert res.exit_code == 0, res.output
    eds = {e["edition"]: e for e in orjson.loads(res.stdout)}
    assert eds["defra2024"]["data_year"] == 2024
    assert any("CAMX" in w for w in eds["egrid2023r1"]["warnings"])
    human = run("factors", "list")
    assert human.exit_code == 0
    assert "Emission factor editions" in human.stdout


def test_factors_show(run) -> None:  # type: ignore[no-untyped-def]
    res = run("factors", "show", "egrid2022", "--region", "RFCW", "--json")
    assert res.exit_code == 0, res.output
    values = {f["gas"]: f["value"] for f in orjson.loads(res.stdout)["factors"]}
    assert values == {"co2e": "1005.904", "co2": "1000.053"}
    assert run("factors", "show", "egrid2022").exit_code == 0
    missing = run("factors", "show", "egrid2022", "--region", "XXXX")
    assert missing.exit_code == 2


def test_factors_load(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "ghg-conversion-factors-2024-FlatFormat_v1_1.xlsx"
    shutil.copy(OFFICIAL / copy.name, copy)
    res = run("factors", "load", str(copy), "--edition", "defra2024b", "--json")
    assert res.exit_code == 0, res.output
    assert orjson.loads(res.stdout)["edition"] == "defra2024b"
    listed = {e["edition"] for e in orjson.loads(run("factors", "list", "--json").stdout)}
    assert "defra2024b" in listed
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    res = run("factors", "load", str(bad))
    assert res.exit_code == 2
    assert "bad.json: line 1" in res.stderr


@pytest.mark.parametrize(
    ("name", "edition", "activity", "value"),
    [
        # legacy .xls (BIFF), read with python-calamine: UK electricity 2022 = 0.19338
        ("ghg-conversion-factors-2022-flat-format.xls", "defra2022-user", "electricity", "0.19338"),
        # EPA Hub 2025 workbook: natural gas 53.06 kg CO2/MMBtu
        ("ghg-emission-factors-hub-2025.xlsx", "epa-hub-2025-user", "natural_gas", "53.06"),
    ],
)
def test_factors_load_xls_and_epa_hub(  # type: ignore[no-untyped-def]
    run, tmp_path: Path, name: str, edition: str, activity: str, value: str
) -> None:
    copy = tmp_path / name
    shutil.copy(OFFICIAL / name, copy)
    clash = run("factors", "load", str(copy))
    assert clash.exit_code == 2
    assert "is built in" in " ".join(clash.stderr.split())
    res = run("factors", "load", str(copy), "--edition", edition, "--json")
    assert res.exit_code == 0, res.output
    shown = orjson.loads(run("factors", "show", edition, "--json").stdout)["factors"]
    assert value in {f["value"] for f in shown if f["activity"] == activity}


def test_help_texts(run) -> None:  # type: ignore[no-untyped-def]
    for args in (
        ("calc", "--help"),
        ("factors", "--help"),
        ("factors", "list", "--help"),
        ("factors", "show", "--help"),
        ("factors", "load", "--help"),
    ):
        res = run(*args)
        assert res.exit_code == 0
        assert "Usage" in res.stdout
