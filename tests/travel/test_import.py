"""`carbonledger travel import`: the guarantees of bill imports for trips, end to end.

Factors are from the official files (cited beside each); distances from the
airports' coordinates in airportsdata.
"""

from __future__ import annotations

import json
import os
import sqlite3
from decimal import Decimal
from pathlib import Path

# The ledger with two organisations and their sites, shared with the token CLI tests.
from tests.tokens.test_cli import Run, run, template  # noqa: F401 - fixtures

HEAD = "site,trip,date,mode,from,to,cabin,passengers,amount,unit,country\n"
GOOD = (
    "acme-berlin,T1,2023-03-02,flight,LHR,JFK,economy,1,,,\n"
    "acme-berlin,T2,2023-03-05,hotel,,,,,3,nights,DE\n"
    "acme-chi,T3,2023-04-01,flight,ORD,LAX,,2,,,\n"
    "acme-berlin,T4,2023-04-02,rail_national,,,,,250,pkm,\n"
    "acme-berlin,T5,2023-04-03,freight_hgv,,,,,1000,tkm,\n"
)
BAD = (
    "acme-berlin,T6,2023-04-04,flight,LHR,XXX,,,,,\n"
    "acme-berlin,T7,2023-04-04,hotel,,,,,-1,nights,DE\n"
    "acme-berlin,T8,2023-04-04,teleport,,,,,1,km,\n"
    "acme-berlin,T9,2023-04-04,flight,LHR,,,,,,\n"
    "nowhere,T10,2023-04-04,rail_national,,,,,1,pkm,\n"
)


def _import(cmd: Run, path: Path, code: int = 0) -> dict:  # type: ignore[type-arg]
    out = cmd("travel", "import", str(path), "--as", "acme/alice", "--json", code=code).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def _records(cmd: Run) -> dict[str, dict]:  # type: ignore[type-arg]
    out = json.loads(cmd("records", "list", "--org", "acme", "--json", "--limit", "1000").stdout)
    return {r["account"]: r for r in out if r["account"].startswith("T")}


def test_trips_recorded_once_bad_rows_named(run: Run, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "trips.csv"
    path.write_text(HEAD + GOOD + BAD)
    report = _import(run, path, code=1)
    assert (report["rows"], report["recorded"]) == (10, 5)
    reasons = {(e["line"], e["field"]): e["reason"] for e in report["rejected"]}
    assert "unknown airport 'XXX'" in reasons[(7, "from")]
    assert "must be > 0" in reasons[(8, "amount")]
    assert "teleport" in reasons[(9, "mode")]
    assert "a flight needs from and to" in reasons[(10, "to")]
    assert "not registered" in reasons[(11, "site")]
    again = _import(run, path, code=1)
    assert (again["recorded"], again["duplicates"]) == (0, 5)

    recs = _records(run)
    # T1 LHR-JFK economy, DEFRA 2023 (DESNZ 2023 flat file, long haul economy with RF):
    # 5539.629 km x 1.08 = 5982.799 pkm.
    t1 = json.loads(run("records", "show", recs["T1"]["id"], "--json", "--as", "acme/alice").stdout)
    trace = t1["trace"]
    assert trace["factor"]["edition"] == "defra2023"
    assert trace["factor"]["activity"] == "flight_long_haul_economy"
    assert trace["factor"]["basis"] == "with RF"
    assert trace["inputs"] == {"amount": "5982.799", "unit": "pkm"}
    assert trace["scope"] == "3-6"
    steps = trace["resolution"]["steps"]
    assert any(s.startswith("without radiative forcing: defra2023") for s in steps)
    expected = (Decimal("5982.799") * Decimal(trace["factor"]["value"])).quantize(
        Decimal("0.000001")
    )
    assert Decimal(t1["kg_co2e"]) == expected
    # T3 from a US site: EPA Hub 2023 Table 10; ORD-LAX ~2,800 km = ~1,740 miles: medium
    # haul, no uplift, 2 passengers.
    t3 = json.loads(run("records", "show", recs["T3"]["id"], "--json", "--as", "acme/alice").stdout)
    assert t3["trace"]["factor"]["activity"] == "flight_medium_haul_average"
    assert t3["trace"]["factor"]["edition"] == "epa-hub-2023"
    # T2 3 nights in Germany: DESNZ 2023 hotel DE factor x 3
    t2 = json.loads(run("records", "show", recs["T2"]["id"], "--json", "--as", "acme/alice").stdout)
    assert t2["trace"]["factor"]["region_key"] == "DE"
    assert Decimal(t2["kg_co2e"]) == 3 * Decimal(t2["trace"]["factor"]["value"])
    # T5 freight is Scope 3 category 4
    assert recs["T5"]["trace"]["scope"] == "3-4"


def test_route_is_sealed_not_public(run: Run, tmp_path: Path) -> None:  # noqa: F811
    path = tmp_path / "trips.csv"
    path.write_text(HEAD + GOOD)
    _import(run, path)
    home = Path(os.environ["CARBONLEDGER_HOME"])
    db = sqlite3.connect(home / "ledger.db")
    dump = "\n".join(db.iterdump())
    db.close()
    assert "5982.799" not in dump  # the passenger-km is sealed
    assert "LHR" not in dump  # so is the route
    assert "JFK" not in dump


def _inventory(cmd: Run, fmt: str = "json") -> str:
    return str(
        cmd(
            "report",
            "inventory",
            "--org",
            "acme",
            "--year",
            "2023",
            "--format",
            fmt,
            "--as",
            "acme/alice",
        ).stdout
    )


def test_inventory_report_scopes_totals_and_sources(run: Run, tmp_path: Path) -> None:  # noqa: F811
    trips = tmp_path / "trips.csv"
    trips.write_text(HEAD + GOOD)
    _import(run, trips)
    gas = tmp_path / "gas.csv"
    # 100 therms at the Chicago site (US): EPA Hub 2023, 10 MMBtu x 53.1145 = 531.145 kg
    gas.write_text("site,account,start,end,amount,unit,activity\n"
                   "acme-chi,G-1,2023-02-01,2023-02-28,100,therm,natural_gas\n")  # fmt: skip
    run("bills", "import", str(gas), "--as", "acme/alice")
    inv = json.loads(_inventory(run))
    figs = inv["figures"]
    assert Decimal(figs["scope1"]["kg_co2e"]) == Decimal("531.145")
    assert figs["scope1"]["factor_editions"] == ["epa-hub-2023"]
    recs = _records(run)
    travel = sum(Decimal(recs[t]["kg_co2e"]) for t in ("T1", "T2", "T3", "T4"))
    assert Decimal(figs["scope3_cat6"]["kg_co2e"]) == travel
    assert sorted(figs["scope3_cat6"]["records"]) == sorted(
        recs[t]["id"] for t in ("T1", "T2", "T3", "T4")
    )
    assert Decimal(figs["scope3_cat4"]["kg_co2e"]) == Decimal(recs["T5"]["kg_co2e"])
    scope2 = json.loads(
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
    assert figs["scope2_location"]["kg_co2e"] == scope2["totals"]["location_kg_co2e"]
    assert figs["scope2_market"]["kg_co2e"] == scope2["totals"]["market_kg_co2e"]
    s1, s2l, s2m = (
        Decimal(figs[k]["kg_co2e"]) for k in ("scope1", "scope2_location", "scope2_market")
    )
    s3 = travel + Decimal(recs["T5"]["kg_co2e"])
    assert Decimal(inv["totals"]["location_based_kg_co2e"]) == s1 + s2l + s3
    assert Decimal(inv["totals"]["market_based_kg_co2e"]) == s1 + s2m + s3
    assert "egrid2023r2" in figs["scope2_location"]["factor_editions"]
    csv_out = _inventory(run, "csv").splitlines()
    assert csv_out[0] == "figure,label,kg_co2e,records,factor_editions"
    assert csv_out[-2].startswith("total_location_based,")
    html = _inventory(run, "html")
    assert "<svg" in html
    assert 'data-label="Scope 1"' in html
    res = run("report", "inventory", "--org", "acme", "--year", "2023", "--format", "xml",
              "--as", "acme/alice", code=2)  # fmt: skip
    assert "--format must be" in res.stderr
