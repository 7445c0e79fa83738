"""The ``rec``, ``offset``, ``token`` and ``report`` commands, end to end on a real home."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from carbonledger.cli import app
from carbonledger.cli import tokens as token_cli
from tests.tokens.tokens_helpers import PASS, World, build_template, copy_world

if not any(g.name == "rec" for g in app.registered_groups):  # until cli/__init__ registers it
    token_cli.register(app)

GB = Path(__file__).parents[1] / "data" / "greenbutton"
Run = Callable[..., Result]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_template(tmp_path_factory.mktemp("tokens-cli") / "home")
    yield world
    world.ledger.close()


@pytest.fixture
def run(template: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    world = copy_world(template, tmp_path / "home")
    world.ledger.close()
    monkeypatch.setenv("CARBONLEDGER_HOME", str(world.home.path))
    monkeypatch.setenv("CARBONLEDGER_PASSPHRASE", PASS)
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> Result:
        res = runner.invoke(app, list(args))
        assert res.exit_code == code, (res.stdout, res.stderr, res.exception)
        assert "Traceback" not in res.stdout + res.stderr
        return res

    return invoke


REC_ARGS = (
    "rec",
    "issue",
    "--as",
    "dealers/recs",
    "--to",
    "acme/alice",
    "--mwh",
    "120",
    "--facility",
    "Altamont Pass",
    "--region",
    "CAMX",
    "--generated-from",
    "2023-01-01",
    "--generated-to",
    "2023-06-30",
    "--registry",
    "WREGIS",
    "--serial-prefix",
    "W-",
    "--serial-start",
    "1",
    "--id",
    "rec-1",
)


def test_rec_issue_transfer_retire_and_reports(run: Run) -> None:
    assert "REC token rec-1 issued" in run(*REC_ARGS).stdout
    listed = json.loads(run("rec", "list", "--json").stdout)
    assert [(t["id"], t["issued"]) for t in listed] == [("rec-1", 120)]
    run("token", "transfer", "rec-1", "--to", "globex/bob", "--amount", "20", "--as", "acme/alice")
    out = run(
        "token",
        "retire",
        "rec-1",
        "--amount",
        "100",
        "--beneficiary",
        "Acme Corp",
        "--reason",
        "Scope 2 2023",
        "--org",
        "acme",
        "--site",
        "acme-sf",
        "--as",
        "acme/alice",
    ).stdout
    assert "retired 100 of rec-1" in out
    bal = json.loads(run("token", "balance", "--token", "rec-1", "--json").stdout)
    assert sorted((b["available"], b["retired"]) for b in bal) == [(0, 100), (20, 0)]
    hist = json.loads(run("token", "history", "rec-1", "--json").stdout)
    assert [h["kind"] for h in hist] == ["token", "token_transfer", "token_retirement"]
    report = json.loads(
        run(
            "report",
            "scope2",
            "--org",
            "acme",
            "--year",
            "2023",
            "--format",
            "json",
            "--as",
            "acme/alice",
        ).stdout
    )
    assert report["totals"]["covered_kwh"] == "100000"
    csv_out = run(
        "report",
        "scope2",
        "--org",
        "acme",
        "--year",
        "2023",
        "--format",
        "csv",
        "--as",
        "acme/alice",
    ).stdout
    assert csv_out.splitlines()[-1].startswith("TOTAL,,,2040000,100000,")
    table = run("report", "scope2", "--org", "acme", "--year", "2023").stdout
    assert "acme-sf" in table
    net = json.loads(run("report", "net", "--org", "acme", "--year", "2023", "--json").stdout)
    assert net["offsets_kg_co2e"] == "0"
    assert float(net["rec_displacement_kg_co2e"]) > 0


def test_offsets_directory_and_issue(run: Run) -> None:
    projects = json.loads(
        run(
            "offset",
            "projects",
            "--registry",
            "VCS",
            "--country",
            "China",
            "--type",
            "forest",
            "--vintage",
            "2014",
            "--json",
        ).stdout
    )
    assert "VCS1529" in {p["id"] for p in projects}
    assert "projects" in run("offset", "projects", "--search", "landfill", "--limit", "3").stdout
    run("offset", "publish")  # already recorded by the template: idempotent
    out = run(
        "offset",
        "issue",
        "--as",
        "dealers/offsets",
        "--project",
        "VCS1529",
        "--to",
        "acme/alice",
        "--tonnes",
        "10",
        "--vintage",
        "2014",
        "--serial-prefix",
        "VCU-",
        "--serial-start",
        "1",
        "--id",
        "off-1",
    ).stdout
    assert "OFFSET token off-1 issued" in out
    assert "off-1" in run("offset", "list").stdout
    run(
        "token",
        "retire",
        "off-1",
        "--amount",
        "4",
        "--beneficiary",
        "Acme",
        "--reason",
        "net",
        "--org",
        "acme",
        "--period-start",
        "2023-01-01",
        "--period-end",
        "2023-12-31",
        "--as",
        "acme/alice",
    )
    net = run("report", "net", "--org", "acme", "--year", "2023").stdout
    assert "4.000 t CO2e" in net


def test_errors_are_one_line_with_exit_code_2(run: Run) -> None:
    res = run(
        "token",
        "retire",
        "nope",
        "--amount",
        "1",
        "--beneficiary",
        "x",
        "--reason",
        "y",
        "--as",
        "acme/alice",
        code=2,
    )
    assert "error: no token with id 'nope'" in res.stderr
    res = run(*REC_ARGS[:-2], "--id", "0", code=2)
    assert "token id 0 is reserved" in res.stderr
    res = run("rec", "issue", "--as", "acme/alice", *REC_ARGS[4:], code=2)
    assert "does not hold the rec_dealer role" in res.stderr
    res = run("report", "scope2", "--org", "acme", "--year", "2023", "--format", "xml", code=2)
    assert "--format must be" in res.stderr


def test_marginal_report_from_green_button(run: Run) -> None:
    out = run(
        "report",
        "marginal",
        "--greenbutton",
        str(GB / "TestGBDataHourlyNineDaysBinnedDaily.xml"),
        "--shift-to",
        "2023-06-10",
    ).stdout
    totals = json.loads(out)
    assert [c["region"] for c in totals["coverage"]] == ["Caiso_North"]
    assert float(totals["marginal_kg_co2"]) > 0
    res = run(
        "report",
        "marginal",
        "--greenbutton",
        str(GB / "TestGBDataHourlyNineDaysBinnedDaily.xml"),
        code=2,
    )
    assert "is covered by no marginal series" in " ".join(res.stderr.split())


@pytest.mark.parametrize("group", ["rec", "offset", "token", "report"])
def test_every_command_has_help(run: Run, group: str) -> None:
    out = run(group, "--help").stdout
    assert "Usage" in out
    for line in out.splitlines():
        parts = line.strip("│ ").split()
        if parts and parts[0] in {
            "issue",
            "list",
            "projects",
            "load",
            "publish",
            "transfer",
            "retire",
            "balance",
            "history",
            "scope2",
            "net",
            "marginal",
        }:
            assert len(parts) > 1, f"{group} {parts[0]} has no help text"


def _scope2(run: Run, year: int) -> dict:  # type: ignore[type-arg]
    out = run("report", "scope2", "--org", "acme", "--year", str(year), "--format", "json",
              "--as", "acme/alice").stdout  # fmt: skip
    return json.loads(out)  # type: ignore[no-any-return]


def test_bill_across_new_year_is_split_by_days(run: Run, tmp_path: Path) -> None:
    bills = tmp_path / "bills.csv"
    # 43 days: 2021-12-20..31 (12 days) and 2022-01-01..31 (31 days); 4300 kWh.
    bills.write_text("site,account,start,end,amount,unit\n"
                     "acme-chi,X-1,2021-12-20,2022-01-31,4300,kWh\n")  # fmt: skip
    run("bills", "import", str(bills), "--as", "acme/alice")
    y2021, y2022 = _scope2(run, 2021), _scope2(run, 2022)
    assert Decimal(y2021["totals"]["kwh"]) == Decimal(1200)  # 4300 x 12/43
    assert Decimal(y2022["totals"]["kwh"]) == Decimal(3100)  # 4300 x 31/43
    # The bill's midpoint is in 2022, so its factor is eGRID2022 RFCW (1005.904 lb
    # CO2e/MWh); kg is split the same way and the two parts sum to the record's kg.
    total_kg = (Decimal("4.3") * Decimal("1005.904") * Decimal("0.45359237")).quantize(
        Decimal("0.000001")
    )
    kg21, kg22 = (
        Decimal(y2021["totals"]["location_kg_co2e"]),
        Decimal(y2022["totals"]["location_kg_co2e"]),
    )
    assert kg21 + kg22 == total_kg
    assert kg21 == (total_kg * 12 / 43).quantize(Decimal("0.000001"))
    months = {r["month"] for r in y2022["rows"] if r["site"] == "acme-chi"}
    assert months == {"2022-01"}
