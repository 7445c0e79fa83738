"""CLI: `greenbutton show`, mounted on a Typer app built here."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from carbonledger.cli.greenbutton import app as greenbutton_app

DATA = Path(__file__).parents[1] / "data" / "greenbutton"
COASTAL = DATA / "Coastal_Multi_Family_Jan_1_2011_to_Jan_1_2012_RetailCustomer_5.xml"


@pytest.fixture
def run():  # type: ignore[no-untyped-def]
    root = typer.Typer()
    root.add_typer(greenbutton_app, name="greenbutton")
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(root, list(args))

    return invoke


def test_help(run) -> None:  # type: ignore[no-untyped-def]
    result = run("greenbutton", "--help")
    assert result.exit_code == 0
    assert "show" in result.output
    result = run("greenbutton", "show", "--help")
    assert result.exit_code == 0
    assert "--json" in result.output


def test_show_prints_a_table(run) -> None:  # type: ignore[no-untyped-def]
    result = run("greenbutton", "show", str(COASTAL))
    assert result.exit_code == 0, result.output
    assert "Coastal Multi-Family (electricity)" in result.output
    assert "8760" in result.output
    assert "4,425.305 kWh" in result.output
    assert "Wh (uom 72)" in result.output
    assert "deltaData (4)" in result.output


def test_show_json(run) -> None:  # type: ignore[no-untyped-def]
    result = run("greenbutton", "show", str(COASTAL), "--json")
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    (up,) = data["usage_points"]
    assert up["kind_name"] == "electricity"
    assert up["readings"] == 8760
    assert up["consumption"] == "4425.305"
    assert up["consumption_unit"] == "kWh"
    assert (up["start"], up["end"]) == ("2011-01-01T08:00:00Z", "2012-01-01T08:00:00Z")
    (meter,) = up["meter_readings"]
    assert meter["reading_type"]["uom"] == 72
    assert meter["reading_type"]["unit"] == "Wh"
    assert meter["reading_type"]["interval_length"] == 3600
    summary = up["usage_summaries"][0]
    assert summary["overall_consumption_last_period"]["value"] == "768032"
    assert data["notes"] == []


def test_show_json_gas_costs_are_strings(run) -> None:  # type: ignore[no-untyped-def]
    result = run("greenbutton", "show", str(DATA / "gas_direct.xml"), "--json")
    (up,) = orjson.loads(result.stdout)["usage_points"]
    assert (up["consumption"], up["consumption_unit"]) == ("140.000", "therm")
    assert up["cost"] == "206.24000"
    assert up["currency"] == "USD"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<html/>", "not a Green Button (ESPI) file"),
        (b'<feed xmlns="http://www.w3.org/2005/Atom"><entry>', "malformed XML at line 1"),
        (
            b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
            "XML entities/DTD are not allowed",
        ),
    ],
)
def test_bad_file_exits_2_with_one_line(run, tmp_path: Path, content: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.xml"
    bad.write_bytes(content)
    result = run("greenbutton", "show", str(bad))
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {bad}: ")
    assert message in lines[0]
    assert "Traceback" not in result.output


def test_missing_file_exits_2(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("greenbutton", "show", str(tmp_path / "nope.xml"))
    assert result.exit_code == 2
    assert "cannot read" in result.stderr
