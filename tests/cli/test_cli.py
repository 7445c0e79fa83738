"""The `carbonledger` command line, end to end on real ledger homes (CliRunner on the app)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.cli_helpers import PASS, Run, _clean, _ok, acme_home

BILLS = """account,start,end,amount,unit
E1,2023-01-01,2023-01-31,1000,kWh
E1,2023-02-01,2023-02-28,1100,kWh
E1,2023-03-01,2023-03-31,1200,kWh
"""
# line numbers count the header as line 1
BAD_BILLS = """account,start,end,amount,unit
E2,2023-01-01,2023-01-31,500,kWh
E2,2023-13-01,2023-02-28,10,kWh
E2,2023-03-01,2023-03-31,-5,kWh
E2,2023-04-01,2023-04-30,7,mt
E2,2023-05-01,2023-05-31,600,kWh
"""


@pytest.fixture
def home(tmp_path: Path, cli: Run) -> Path:
    """An initialised home (cheap scrypt) with org acme and US site hq (ZIP 60601, ComEd)."""
    return acme_home(tmp_path / "home", cli)


@pytest.fixture
def loaded(home: Path, tmp_path: Path, cli: Run) -> Path:
    bills = tmp_path / "bills.csv"
    bills.write_text(BILLS)
    _ok(cli("bills", "import", str(bills), "--site", "hq", "--json"))
    return home


def _records(cli: Run, *args: str) -> list[dict]:
    return json.loads(_ok(cli("records", "list", "--json", *args)).stdout)


HELP = [
    ((), "tamper-evident ledger"),
    (("init",), "Create a ledger"),
    (("status",), "latest checkpoint"),
    (("verify",), "Recompute every hash"),
    (("proof",), "inclusion proof"),
    (("check-proof",), "Check a proof document offline"),
    (("org",), "Organisations"),
    (("org", "add"), "Register an organisation"),
    (("org", "list"), "List organisations"),
    (("site",), "Sites"),
    (("site", "add"), "Register a site"),
    (("site", "list"), "List sites"),
    (("bills",), "Utility bills"),
    (("bills", "import"), "Import bills"),
    (("records",), "Emissions records"),
    (("records", "list"), "List emissions records"),
    (("records", "show"), "Show a record and its trace; with a member's or auditor's key"),
    (("demo",), "demo story"),
    (("calc",), "Calculate emissions"),
    (("factors",), "Emission factor editions"),
    (("factors", "list"), "List every edition"),
    (("factors", "show"), "Show the factors of one edition"),
    (("factors", "load"), "Load a newer edition"),
]


@pytest.mark.parametrize(("args", "purpose"), HELP, ids=[" ".join(a) or "root" for a, _ in HELP])
def test_help_states_purpose(cli: Run, args: tuple[str, ...], purpose: str) -> None:
    res = _ok(cli(*args, "--help"))
    assert purpose in _clean(res.stdout)


def test_python_m_carbonledger_help() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "carbonledger", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    for command in ("init", "bills", "records", "verify", "check-proof", "demo", "calc"):
        assert command in res.stdout


def test_init_creates_home_and_refuses_a_second_time(cli: Run, tmp_path: Path) -> None:
    res = _ok(cli("init", "--name", "test ledger"))
    home = tmp_path / "home"
    config = json.loads((home / "config.json").read_text())
    assert config["name"] == "test ledger"
    assert (home / "ledger.db").is_file()
    assert (home / "keys" / "admin.json").is_file()
    assert config["admin"] in res.stdout
    again = _ok(cli("init"), 2)
    assert _clean(again.stderr) == f"error: {home} already holds a ledger"
    assert json.loads((home / "config.json").read_text()) == config  # untouched


def test_status_json(cli: Run, home: Path) -> None:
    info = json.loads(_ok(cli("status", "--json")).stdout)
    config = json.loads((home / "config.json").read_text())
    assert info["ledger_id"] == config["ledger_id"]
    assert info["admin"] == config["admin"]
    assert info["home"] == str(home)
    # genesis + organisation + site, one checkpoint per committed batch
    assert (info["organisations"], info["sites"], info["leaves"]) == (1, 1, 3)
    assert len(info["root"]) == 64


def test_org_and_site_add_then_list_json(cli: Run, home: Path) -> None:
    _ok(cli("org", "add", "beta", "--name", "Beta Ltd"))
    orgs = json.loads(_ok(cli("org", "list", "--json")).stdout)
    assert [(o["id"], o["name"], o["country"]) for o in orgs] == [
        ("acme", "Acme Corp", "US"),
        ("beta", "Beta Ltd", None),
    ]
    _ok(cli("site", "add", "ldn", "--org", "beta", "--name", "London", "--country", "GB"))
    sites = json.loads(_ok(cli("site", "list", "--json")).stdout)
    assert {s["id"]: s["org"] for s in sites} == {"hq": "acme", "ldn": "beta"}
    hq = next(s for s in sites if s["id"] == "hq")
    assert (hq["zip"], hq["utility_id"], hq["country"]) == ("60601", "4110", "US")
    only_beta = json.loads(_ok(cli("site", "list", "--org", "beta", "--json")).stdout)
    assert [s["id"] for s in only_beta] == ["ldn"]


def test_site_for_unknown_org_fails_clearly(cli: Run, home: Path) -> None:
    res = _ok(cli("site", "add", "x", "--org", "nope", "--name", "X", "--country", "US"), 2)
    assert _clean(res.stderr) == "error: site 'x': organisation 'nope' is not registered"
    assert [s["id"] for s in json.loads(cli("site", "list", "--json").stdout)] == ["hq"]


def test_bills_import_good_file(cli: Run, home: Path, tmp_path: Path) -> None:
    bills = tmp_path / "bills.csv"
    bills.write_text(BILLS)
    report = json.loads(_ok(cli("bills", "import", str(bills), "--site", "hq", "--json")).stdout)
    assert (report["rows"], report["recorded"], report["duplicates"]) == (3, 3, 0)
    assert report["rejected"] == []
    records = _records(cli)
    assert Decimal(report["kg_co2e"]) == sum(Decimal(r["kg_co2e"]) for r in records)
    # text mode: a summary line; the same file again records nothing
    res = _ok(cli("bills", "import", str(bills), "--site", "hq"))
    assert "3 rows: 0 recorded, 3 already recorded, 0 rejected" in _clean(res.stdout)


def test_bills_import_names_every_bad_row(cli: Run, home: Path, tmp_path: Path) -> None:
    bills = tmp_path / "bad.csv"
    bills.write_text(BAD_BILLS)
    res = _ok(cli("bills", "import", str(bills), "--site", "hq"), 1)
    err = [_clean(line) for line in res.stderr.splitlines() if line.strip()]
    assert err[0].startswith("line 3: start: '2023-13-01' is not a date")
    assert err[1] == "line 4: amount: '-5' must be >= 0"
    assert err[2].startswith("line 5: unit: unknown unit 'mt': 'mt' is ambiguous")
    assert len(err) == 3
    assert "5 rows: 2 recorded, 0 already recorded, 3 rejected" in _clean(res.stdout)
    starts = [r["period"]["start"] for r in _records(cli, "--site", "hq")]
    assert starts == ["2023-01-01", "2023-05-01"]
    report = json.loads(_ok(cli("bills", "import", str(bills), "--site", "hq", "--json"), 1).stdout)
    assert [(e["line"], e["field"]) for e in report["rejected"]] == [
        (3, "start"),
        (4, "amount"),
        (5, "unit"),
    ]
    assert (report["recorded"], report["duplicates"]) == (0, 2)


# The loaded file's amounts by period: amounts are sealed, the period is public.
AMOUNT = {"2023-01-01": "1000", "2023-02-01": "1100", "2023-03-01": "1200"}


def test_records_list_filters(cli: Run, loaded: Path) -> None:
    starts = [r["period"]["start"] for r in _records(cli, "--site", "hq")]
    assert starts == ["2023-01-01", "2023-02-01", "2023-03-01"]
    # an unknown site is a typo, not an empty result
    unknown = _ok(cli("records", "list", "--site", "elsewhere"), 2)
    assert _clean(unknown.stderr) == "error: unknown site 'elsewhere'"
    # --since: periods ending on or after; --until: periods starting on or before
    assert [AMOUNT[r["period"]["start"]] for r in _records(cli, "--since", "2023-02-28")] == [
        "1100",
        "1200",
    ]
    assert [AMOUNT[r["period"]["start"]] for r in _records(cli, "--since", "2023-03-01")] == [
        "1200"
    ]
    assert [AMOUNT[r["period"]["start"]] for r in _records(cli, "--until", "2023-02-01")] == [
        "1000",
        "1100",
    ]
    assert [AMOUNT[r["period"]["start"]] for r in _records(cli, "--until", "2022-12-31")] == []
    window = _records(cli, "--since", "2023-02-01", "--until", "2023-02-01")
    assert [AMOUNT[r["period"]["start"]] for r in window] == ["1100"]
    assert [AMOUNT[r["period"]["start"]] for r in _records(cli, "--limit", "1")] == ["1000"]
    assert [
        AMOUNT[r["period"]["start"]] for r in _records(cli, "--limit", "1", "--offset", "2")
    ] == ["1200"]
    assert [AMOUNT[r["period"]["start"]] for r in _records(cli, "--offset", "1")] == [
        "1100",
        "1200",
    ]
    assert len(_records(cli, "--limit", "0")) == 3
    leaves = [r["leaf_index"] for r in _records(cli)]
    assert leaves == sorted(leaves)


def test_records_list_rejects_a_malformed_date(cli: Run, loaded: Path) -> None:
    res = cli("records", "list", "--since", "2023-2-1", "--json")
    assert res.exit_code == 2
    assert "since" in res.stderr


def test_records_show_json_recomputes(cli: Run, loaded: Path) -> None:
    first = _records(cli)[0]
    shown = json.loads(_ok(cli("records", "show", first["id"], "--json")).stdout)
    assert shown["id"] == first["id"]
    assert shown["trace"]["factor"]["region_key"] == "RFCW"
    assert shown["trace"]["resolution"]["steps"]
    assert shown["recomputed"]["kg_co2e"] == shown["kg_co2e"] == first["kg_co2e"]
    text = _ok(cli("records", "show", first["id"]))
    assert "matches" in text.stdout
    missing = _ok(cli("records", "show", "no-such-record"), 2)
    assert (
        _clean(missing.stderr) == "error: no record, site or organisation with id 'no-such-record'"
    )


def test_verify_then_tamper(cli: Run, loaded: Path) -> None:
    assert _clean(_ok(cli("verify")).stdout).startswith("OK ")
    report = json.loads(_ok(cli("verify", "--json")).stdout)
    assert report["ok"] is True
    # change the scope of the second bill in the stored item, as someone with file access would
    con = sqlite3.connect(loaded / "ledger.db")
    idx, seq, data = con.execute(
        "SELECT idx, seq, data FROM leaf WHERE kind = 'emissions_record'"
        " ORDER BY idx LIMIT 1 OFFSET 1"
    ).fetchone()
    forged = bytes(data).replace(b'"scope":"2-location"', b'"scope":"3"')
    assert forged != bytes(data)
    con.execute("UPDATE leaf SET data = ? WHERE idx = ?", (forged, idx))
    con.commit()
    con.close()
    res = _ok(cli("verify"), 1)
    assert f"FAILED entry {seq}:" in _clean(res.stderr)
    bad = json.loads(_ok(cli("verify", "--json"), 1).stdout)
    assert (bad["ok"], bad["entry"]) == (False, seq)


def test_proof_then_check_proof(cli: Run, loaded: Path, tmp_path: Path) -> None:
    record = _records(cli)[1]
    out = tmp_path / "proof.json"
    _ok(cli("proof", record["id"], "-o", str(out)))
    res = _ok(cli("check-proof", str(out)))
    assert f"OK emissions_record {record['id']}: leaf {record['leaf_index']}" in _clean(res.stdout)
    admin = json.loads((loaded / "config.json").read_text())["admin"]
    checked = json.loads(_ok(cli("check-proof", str(out), "--signer", admin, "--json")).stdout)
    assert checked["ok"] is True
    # The proven item is public: its result is sealed (the member's list shows it).
    assert "kg_co2e" not in checked["item"]
    assert record["kg_co2e"]
    assert checked["item"]["period"] == record["period"]
    # a proof of someone else's ledger: wrong signer
    other = "0x" + "11" * 20
    assert "expected" in _ok(cli("check-proof", str(out), "--signer", other), 2).stderr
    # the item's period edited in the file: the Merkle path no longer leads to the root
    doc = json.loads(out.read_text())
    start = record["period"]["start"]
    doc["item"] = doc["item"].replace(f'"start":"{start}"', '"start":"1999-01-01"')
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    assert doc["item"] != json.loads(out.read_text())["item"]
    res = _ok(cli("check-proof", str(tampered)), 2)
    assert "does not lead to the checkpoint root" in res.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json")
    assert "not a readable proof document" in _ok(cli("check-proof", str(garbage)), 2).stderr


def test_calc_json_rfcw_egrid2022(cli: Run) -> None:
    res = _ok(cli("calc", "--amount", "1000", "--unit", "MWh", "--subregion", "RFCW",
                  "--edition", "egrid2022", "--json"))  # fmt: skip
    out = json.loads(res.stdout)
    # 1000 MWh x 1005.904 lb/MWh x 0.45359237 kg/lb = 456,270.379352 kg (exact)
    assert Decimal(1000) * Decimal("1005.904") * Decimal("0.45359237") == Decimal("456270.37935248")
    assert out["kg_co2e"] == "456270.379352"
    assert out["factor"]["edition"] == "egrid2022"
    assert out["factor"]["region_key"] == "RFCW"


def test_factors_list(cli: Run) -> None:
    editions = json.loads(_ok(cli("factors", "list", "--json")).stdout)
    names = {e["edition"] for e in editions}
    assert {"egrid2022", "egrid2023r2", "defra2024", "eea-co2-intensity-6"} <= names
    assert "egrid2023r2" in _ok(cli("factors", "list")).stdout
    shown = json.loads(
        _ok(cli("factors", "show", "egrid2022", "--region", "rfcw", "--json")).stdout
    )
    assert {(f["gas"], f["value"]) for f in shown["factors"]} >= {("co2e", "1005.904")}
    assert "egrid1999" in _ok(cli("factors", "show", "egrid1999"), 2).stderr


def test_demo_twice_moves_the_old_ledger_aside(cli: Run, tmp_path: Path, home: Path) -> None:
    demo = tmp_path / "demo-home"
    first = _ok(cli("demo", "--home", str(demo)))
    assert "verify OK" in first.stdout
    assert (demo / "demo.json").is_file()
    # something the user added to the first demo ledger
    _ok(cli("org", "add", "mine", "--name", "Mine", "--home", str(demo)))
    second = _ok(cli("demo", "--home", str(demo)))
    assert "verify OK" in second.stdout
    moved = [p for p in tmp_path.iterdir() if p.name.startswith("demo-home.previous-")]
    assert len(moved) == 1
    assert f"the previous demo ledger was moved to {moved[0]}" in _clean(second.stdout)
    kept = json.loads(_ok(cli("org", "list", "--json", "--home", str(moved[0]))).stdout)
    assert "mine" in {o["id"] for o in kept}
    assert "OK" in _ok(cli("verify", "--home", str(moved[0]))).stdout
    fresh = json.loads(_ok(cli("org", "list", "--json", "--home", str(demo))).stdout)
    assert "mine" not in {o["id"] for o in fresh}
    _ok(cli("check-proof", str(demo / "demo" / "proof.json")))
    refused = _ok(cli("demo", "--home", str(home)), 2)
    assert "holds a ledger that is not a demo" in _clean(refused.stderr)
    assert json.loads(_ok(cli("org", "list", "--json")).stdout)[0]["id"] == "acme"


@pytest.mark.parametrize(
    "args",
    [
        ("org", "add", "beta", "--name", "Beta"),
        ("site", "add", "s2", "--org", "acme", "--name", "S2", "--country", "GB"),
        ("bills", "import", "BILLS", "--site", "hq"),
    ],
)
def test_wrong_passphrase_is_a_clear_error(
    cli: Run, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    bills = tmp_path / "bills.csv"
    bills.write_text(BILLS)
    monkeypatch.setenv("CARBONLEDGER_PASSPHRASE", "not the passphrase")
    res = _ok(cli(*(str(bills) if a == "BILLS" else a for a in args)), 2)
    assert _clean(res.stderr) == "error: wrong passphrase or corrupted keystore (MAC mismatch)"
    monkeypatch.setenv("CARBONLEDGER_PASSPHRASE", PASS)
    assert json.loads(cli("status", "--json").stdout)["leaves"] == 3  # nothing was written


def test_other_errors_are_one_line_exit_2(cli: Run, home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    cases = [
        (("status", "--home", str(tmp_path / "nowhere")), "no ledger at"),
        (("bills", "import", str(missing), "--site", "hq"), "missing.csv"),
        (("proof", "999", "--leaf"), "leaf 999 is not in the ledger"),
        (("proof", "abc", "--leaf"), "--leaf needs a leaf index"),
    ]
    for args, message in cases:
        res = _ok(cli(*args), 2)
        assert res.stderr.startswith("error: "), args
        assert message in res.stderr, args
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
