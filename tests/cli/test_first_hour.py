"""A new user's first hour on the demo ledger: ids by unique prefix, unknown organisations,
sites and users named, and output that reads at 80 columns.

Each command is run as a user types it (CliRunner on the app) against one demo home.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from carbonledger.cli import app
from carbonledger.demo.story import run_demo
from carbonledger.services.home import Home
from tests.cli_helpers import _clean, _ok

PASS = "demo"


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ids") / "demo"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("carbonledger.services.home.KEYSTORE_SCRYPT_N", 2**10, raising=False)
        mp.setattr("carbonledger.demo.story.KEYSTORE_SCRYPT_N", 2**10, raising=False)
        run_demo(Home(path), PASS)
    return path


def run(home: Path, *args: str, columns: int = 500) -> Result:
    env = {"CARBONLEDGER_HOME": str(home), "CARBONLEDGER_PASSPHRASE": PASS}
    return CliRunner().invoke(app, list(args), env={**env, "COLUMNS": str(columns)})


def records(home: Path) -> list[dict]:
    return json.loads(_ok(run(home, "records", "list", "--limit", "0", "--json")).stdout)


def test_the_short_id_records_list_shows_opens_the_record(demo_home: Path) -> None:
    first = records(demo_home)[0]
    table = _ok(run(demo_home, "records", "list", "--limit", "1")).stdout
    short = first["id"][:8]
    assert short in table
    shown = json.loads(_ok(run(demo_home, "records", "show", short, "--json")).stdout)
    assert shown["id"] == first["id"]
    proof = json.loads(_ok(run(demo_home, "proof", short[:5])).stdout)
    assert proof["leaf_index"] == first["leaf_index"]


def test_an_ambiguous_record_prefix_is_refused_listing_the_candidates(demo_home: Path) -> None:
    by_first: dict[str, list[str]] = defaultdict(list)
    for r in records(demo_home):
        by_first[r["id"][0]].append(r["id"])
    # 96 records over 16 hex digits: some first digit is shared (pigeonhole)
    prefix, ids = max(by_first.items(), key=lambda kv: len(kv[1]))
    assert len(ids) >= 2
    for command in (("records", "show", prefix), ("proof", prefix)):
        res = _ok(run(demo_home, *command), 2)
        message = _clean(res.stderr)
        assert f"record id prefix {prefix!r} is ambiguous" in message
        assert all(i in message for i in sorted(ids)[:8])
        assert res.stdout == ""


def test_an_unknown_record_id_is_named(demo_home: Path) -> None:
    res = _ok(run(demo_home, "records", "show", "zz9"), 2)
    assert _clean(res.stderr) == "error: no record, site or organisation with id 'zz9'"


def test_token_ids_by_prefix(demo_home: Path) -> None:
    history = json.loads(_ok(run(demo_home, "token", "history", "rec-camx", "--json")).stdout)
    assert history[0]["kind"] == "token"
    full = json.loads(_ok(run(demo_home, "token", "history", "rec-camx-solar", "--json")).stdout)
    assert history == full
    balance = json.loads(
        _ok(run(demo_home, "token", "balance", "--token", "offset-c", "--json")).stdout
    )
    assert {b["token"] for b in balance} == {"offset-car1372"}
    res = _ok(run(demo_home, "token", "history", "rec-"), 2)
    assert _clean(res.stderr) == (
        "error: token id prefix 'rec-' is ambiguous: it matches rec-camx-solar,"
        " rec-rfcw-wind; give more characters"
    )
    res = _ok(run(demo_home, "token", "retire", "rec-", "--amount", "1", "--beneficiary",
                  "x", "--reason", "y"), 2)  # fmt: skip
    assert "is ambiguous" in res.stderr
    assert "no token with id 'nope'" in _ok(run(demo_home, "token", "history", "nope"), 2).stderr


def test_proposal_ids_by_prefix(demo_home: Path) -> None:
    shown = json.loads(_ok(run(demo_home, "dao", "show", "back", "--json")).stdout)
    assert shown["id"] == "back-acr411"
    shown = json.loads(_ok(run(demo_home, "dao", "show", "fund", "--json")).stdout)
    assert shown["id"] == "fund-monitoring"
    # the proposal is resolved before the vote is checked: the error names the whole id
    res = _ok(run(demo_home, "dao", "vote", "fund", "--amount", "10", "--choice", "for"), 2)
    assert "fund-monitoring" in res.stderr
    assert "no proposal with id 'x'" in _ok(run(demo_home, "dao", "show", "x"), 2).stderr


@pytest.mark.parametrize(
    "args",
    [
        ("records", "list", "--org", "nope"),
        ("report", "scope2", "--org", "nope", "--year", "2023"),
        ("report", "net", "--org", "nope", "--year", "2023"),
        ("audit", "list", "--org", "nope"),
        ("audit", "run", "nope", "--start", "2023-01-01", "--end", "2023-12-31"),
        ("audit", "auto", "--org", "nope", "--start", "2023-01-01", "--end", "2023-12-31"),
        ("site", "list", "--org", "nope"),
        ("user", "list", "--org", "nope"),
        ("token", "retire", "offset-car1372", "--amount", "1", "--beneficiary", "b",
         "--reason", "r", "--org", "nope"),
    ],
)  # fmt: skip
def test_an_unknown_organisation_is_an_error(demo_home: Path, args: tuple[str, ...]) -> None:
    res = _ok(run(demo_home, *args), 2)
    assert _clean(res.stderr) == "error: unknown organisation 'nope'"
    assert res.stdout == ""


def test_a_typo_names_the_close_match(demo_home: Path) -> None:
    res = _ok(run(demo_home, "report", "scope2", "--org", "northwnd", "--year", "2023"), 2)
    expected = "error: unknown organisation 'northwnd' (did you mean 'northwind'?)"
    assert _clean(res.stderr) == expected


@pytest.mark.parametrize(
    "args",
    [
        ("records", "list", "--site", "nw-chicgo"),
        ("token", "retire", "rec-rfcw-wind", "--amount", "1", "--beneficiary", "b",
         "--reason", "r", "--site", "nw-chicgo"),
    ],
)  # fmt: skip
def test_an_unknown_site_is_an_error(demo_home: Path, args: tuple[str, ...]) -> None:
    res = _ok(run(demo_home, *args), 2)
    assert _clean(res.stderr) == "error: unknown site 'nw-chicgo' (did you mean 'nw-chicago'?)"


@pytest.mark.parametrize(
    "args",
    [
        ("token", "balance", "--holder", "northwind/nobody"),
        ("channel", "grant", "northwind", "northwind/nobody"),
        ("user", "revoke", "northwind/nobody"),
    ],
)
def test_an_unknown_user_is_an_error(demo_home: Path, args: tuple[str, ...]) -> None:
    res = _ok(run(demo_home, *args), 2)
    assert "northwind/nobody" in res.stderr


def _fits(text: str) -> None:
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "…" not in text


def test_records_list_at_80_columns_shows_whole_ids_and_sites(demo_home: Path) -> None:
    listed = records(demo_home)
    out = _ok(run(demo_home, "records", "list", "--limit", "0", columns=80)).stdout
    _fits(out)
    rows = [line.split() for line in out.splitlines() if line[:5].strip().isdigit()]
    # one row per record starts with its leaf, short id, site and account, whole (a long
    # activity name may fold onto a second line)
    assert [r[:4] for r in rows] == [
        [str(x["leaf_index"]), x["id"][:8], x["site"], x["account"]] for x in listed
    ]
    assert [r[-1] for r in rows] == [x["kg_co2e"] for x in listed]
    assert out.splitlines()[-1].startswith(f"{len(listed)} records, ")


def test_factors_list_at_80_columns(demo_home: Path) -> None:
    res = _ok(run(demo_home, "factors", "list", columns=80))
    _fits(res.stdout)
    shown = json.loads(_ok(run(demo_home, "factors", "list", "--json")).stdout)
    for edition in shown:
        # each source file name is on one line, whole
        assert f"{edition['edition']}: {edition['source']}" in " ".join(res.stdout.split())
        assert edition["source"] in res.stdout
    # egrid2023r1 has 16 self-contradicting factors: one line says so and where to look
    warnings = [line for line in res.stderr.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1, res.stderr
    assert _clean(res.stderr) == (
        "warning: egrid2023r1: 16 factors where the source contradicts itself"
        " (see `carbonledger factors show egrid2023r1`)"
    )


def test_report_net_reads_as_text_with_plurals(demo_home: Path) -> None:
    out = _ok(run(demo_home, "report", "net", "--org", "northwind", "--year", "2023",
                  columns=80)).stdout  # fmt: skip
    assert "{" not in out
    assert "'" not in out
    # the demo retires offsets once for 2023 and mints two audited-emissions tokens
    assert "(1 retirement)" in _clean(out)
    assert "(2 tokens)" in _clean(out)


def test_one_row_is_one_row(demo_home: Path, tmp_path: Path) -> None:
    bills = tmp_path / "one.csv"
    bills.write_text("account,start,end,amount,unit\nnw-chicago-E1,2021-01-01,2021-01-31,5,kWh\n")
    out = _ok(run(demo_home, "bills", "import", str(bills), "--site", "nw-chicago")).stdout
    assert _clean(out).startswith("1 row: 1 recorded, 0 already recorded, 0 rejected")


@pytest.mark.parametrize(
    ("args", "keys"),
    [
        (("user", "list"), ("name", "address")),
        (("site", "list"), ("id", "org")),
        (("audit", "list"), ("id",)),
        (("token", "balance"), ("holder", "token")),
        (("token", "history", "rec-camx-solar"), ("kind",)),
        (("rec", "list"), ("id",)),
        (("offset", "list"), ("id",)),
        (("dao", "list"), ("id", "status")),
        (("channel", "members", "northwind"), ("address", "role")),
    ],
)
def test_listings_at_80_columns_cut_no_value(
    demo_home: Path, args: tuple[str, ...], keys: tuple[str, ...]
) -> None:
    out = _ok(run(demo_home, *args, columns=80)).stdout
    _fits(out)
    shown = json.loads(_ok(run(demo_home, *args, "--json")).stdout)
    rows = shown["members"] if isinstance(shown, dict) else shown
    assert rows
    words = set(out.split())
    for row in rows:
        for key in keys:
            # each value whole (a value of several words: each of them whole)
            assert set(str(row[key]).split()) <= words, (key, row[key])


def test_the_readme_s_record_id_works_on_the_demo(demo_home: Path) -> None:
    # README "Afterwards, try": records show c1645c1b (record ids are derived from the
    # site, account and period, so the demo's first Chicago bill always has this one)
    shown = json.loads(_ok(run(demo_home, "records", "show", "c1645c1b", "--json")).stdout)
    assert shown["id"].startswith("c1645c1b-")
    assert (shown["site"], shown["period"]["start"]) == ("nw-chicago", "2023-01-01")


@pytest.mark.parametrize(
    "args",
    [
        ("records", "show", "c1645c1b", "--as", "northwind/nobody"),
        ("bills", "import", "/dev/null", "--as", "northwind/nobody"),
    ],
)
def test_acting_as_an_unknown_user_names_it_before_any_passphrase(
    demo_home: Path, args: tuple[str, ...]
) -> None:
    res = _ok(run(demo_home, *args), 2)
    err = _clean(res.stderr)
    assert err.startswith("error: unknown user 'northwind/nobody': no key of it was enrolled")
    assert "greenaudit/dana" in err  # the users this home does hold
    assert "passphrase" not in err


def test_records_list_without_a_key_prints_no_total_it_cannot_know(demo_home: Path) -> None:
    env = {"CARBONLEDGER_HOME": str(demo_home), "CARBONLEDGER_PASSPHRASE": "", "COLUMNS": "120"}
    out = _ok(CliRunner().invoke(app, ["records", "list", "--site", "nw-chicago"], env=env))
    last = out.stdout.splitlines()[-1]
    assert last.endswith("records, all sealed in channels you cannot read")
    assert "t CO2e" not in out.stdout.replace("kg CO2e", "")  # no 0.000 t total
