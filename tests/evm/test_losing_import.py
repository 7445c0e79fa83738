"""An import part of whose records lose a race with another node: what its user sees.

Two nodes of one chain; bob imports six months of one account's bills on the second
node while alice, on the first node, imports the first three of them (the same bills).
The second node checked bob's records against its store before alice's entry was mined,
so the chain takes both entries and bob's, the later, is void on every node. Bob's
import then reports exactly what happened: the three records it recorded (the months
alice had not recorded, sent again), and each of the three it lost, one line naming the
account and period, through the CLI (exit 1, no traceback) and through the API
(``POST /api/v1/bills``); nothing is counted twice, and the same import run again
records nothing and reports the six bills as already recorded.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from carbonledger.core.domain import Bill
from tests.api_helpers import PASS
from tests.evm.test_concurrent_nodes import _member
from tests.evm_homes import cli_json, cli_ok, evm_home, write_bills
from tests.process_helpers import free_port, serving

MONTHS, RACED = 6, 3


@pytest.fixture
def nodes(anvil_url: str, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A home that deployed the ledger (organisation bench, one site, members alice and
    bob), serving; and a home attached to it with its own node key, holding bob's
    keystore, whose peer is the first's server (alice's sealed blobs come from there)."""
    from carbonledger.adapters.evm import Rpc

    first = evm_home(tmp_path / "first", anvil_url, 1, passphrase=PASS).path
    _member(first, "alice")
    _member(first, "bob")
    contract = cli_json(first, "chain", "status")["contract"]
    second, port = tmp_path / "second", free_port()
    cli_ok(second, "chain", "attach", "--rpc", anvil_url, "--contract", contract,
           "--peer", f"http://127.0.0.1:{port}")  # fmt: skip
    node_key = json.loads((second / "config.json").read_text())["node"]
    Rpc(anvil_url).call("anvil_setBalance", node_key, hex(10**22))
    shutil.copytree(first / "keys" / "bench", second / "keys" / "bench")
    with serving(first, port=port):
        yield first, second


def _bills(tmp_path: Path) -> tuple[Path, Path, list[list[str]]]:
    """Six months of site0's meter (the whole file) and its first three (alice's): the
    files and the rows."""
    every = write_bills(tmp_path / "all.csv", 1, MONTHS)
    lines = every.read_text().splitlines(True)
    early = tmp_path / "early.csv"
    early.write_text("".join(lines[: 1 + RACED]))
    return every, early, [line.strip().split(",") for line in lines[1:]]


def _account_period(row: list[str]) -> str:
    """How the ledger names a row's account (site and reference) and period."""
    bill = Bill(
        row[0], row[1], date.fromisoformat(row[2]), date.fromisoformat(row[3]), Decimal(1), "kWh"
    )
    return f"account {row[0]}/{bill.account_ref}, period {row[2]}..{row[3]}"


@contextmanager
def _alice_first(first: Path, early: Path) -> Iterator[list[Any]]:
    """While this block runs, the first time a node of this process is about to send
    emissions records (it has read the chain, and its rules will pass them against what
    it read), alice's import of ``early`` on the first node, its own process, is mined
    first."""
    from carbonledger.adapters.evm import EvmLedger

    submit_many, start = EvmLedger.submit_many, EvmLedger._start
    records: list[bool] = []
    done: list[Any] = []

    def sending(self: Any, batches: Any, **kwargs: Any) -> Any:
        records.append(any(tx.type == "record_emissions" for b in batches for tx in b))
        return submit_many(self, batches, **kwargs)

    def meanwhile(self: Any, *args: Any) -> Any:
        # After the node read the chain, before it takes the time of its entries.
        if not done and records and records[-1]:
            done.append(cli_json(first, "bills", "import", str(early), "--as", "bench/alice"))
        return start(self, *args)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(EvmLedger, "submit_many", sending)
        m.setattr(EvmLedger, "_start", meanwhile)
        yield done
    assert len(done) == 1, "the race did not happen"
    assert done[0]["recorded"] == RACED, done


def _kg(first: Path, rows: list[list[str]]) -> Decimal:
    """What the rows emit, by ``carbonledger calc`` (site0: Germany, 2015)."""
    total = Decimal(0)
    for row in rows:
        out = cli_json(first, "calc", "--amount", row[4], "--unit", "kWh", "--country", "DE",
                       "--year", "2015")  # fmt: skip
        total += Decimal(str(out["kg_co2e"]))
    return total


def _runner(home: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    for name, value in (
        ("CARBONLEDGER_HOME", str(home)),
        ("CARBONLEDGER_PASSPHRASE", PASS),
        ("CARBONLEDGER_USER_PASSPHRASE", PASS),
        ("COLUMNS", "500"),
    ):
        monkeypatch.setenv(name, value)
    from carbonledger.cli import app

    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def _listed(home: Path) -> list[tuple[str, str]]:
    records = cli_json(home, "records", "list", "--limit", "0", "--as", "bench/bob")
    return sorted((r["period"]["start"], r["id"]) for r in records)


@pytest.mark.parametrize("workers", ["0", "2"], ids=["one process", "worker processes"])
def test_the_cli_names_each_lost_period_and_records_the_rest(
    nodes: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    """The same through the parallel path (files of 20,000 rows or more take it; here
    forced with ``--workers 2``): the workers sign nothing, the importing process commits
    their records and hands back those another writer recorded first."""
    first, second = nodes
    every, early, rows = _bills(tmp_path)
    cli = _runner(second, monkeypatch)
    with _alice_first(first, early):
        res = cli("bills", "import", str(every), "--as", "bench/bob", "--workers", workers)
    assert res.exit_code == 1, (res.stdout, res.stderr, res.exception)
    assert isinstance(res.exception, SystemExit)  # a clear exit, no traceback
    assert "Traceback" not in res.stdout + res.stderr
    # Months 4-6 recorded (sent again after the void entry), months 1-3 lost: one line
    # each, naming the account and period; the tonnes are those of months 4-6 only.
    late_kg = _kg(first, rows[RACED:])
    assert res.stdout.strip() == (
        f"{MONTHS} rows: {MONTHS - RACED} recorded, 0 already recorded, {RACED} rejected;"
        f" {late_kg / 1000:.3f} t CO2e recorded"
    ), res.stdout
    lost = res.stderr.strip().splitlines()
    assert len(lost) == RACED, res.stderr
    for n, (line, row) in enumerate(zip(lost, rows[:RACED], strict=True), start=2):
        assert line.strip().startswith(f"line {n}: period: "), line
        assert _account_period(row) in line, line
        assert "recorded first by another writer" in line, line
    listed = _listed(second)
    assert [start for start, _ in listed] == [row[2] for row in rows]  # each month once

    again = cli("bills", "import", str(every), "--as", "bench/bob", "--workers", workers)
    assert again.exit_code == 0, (again.stdout, again.stderr, again.exception)
    assert again.stdout.strip() == (
        f"{MONTHS} rows: 0 recorded, {MONTHS} already recorded, 0 rejected; 0.000 t CO2e recorded"
    )
    assert _listed(second) == listed


def _api_bills(rows: list[list[str]]) -> list[dict[str, str]]:
    keys = ("site", "account", "start", "end", "amount", "unit")
    return [dict(zip(keys, row[:6], strict=True)) for row in rows]


def test_the_api_names_each_lost_period_and_records_the_rest(
    nodes: tuple[Path, Path], tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from carbonledger.api import create_app
    from carbonledger.api.context import AppContext, ServiceAccount, new_api_token
    from carbonledger.services.home import Home

    first, second = nodes
    _, early, rows = _bills(tmp_path)
    home = Home(second)
    bob = ServiceAccount("bench", "bob", home.user_key("bench", "bob", PASS).address)
    auth = {"Authorization": f"Bearer {new_api_token(home, bob)}"}
    ctx = AppContext.open(home, PASS)
    try:
        with TestClient(create_app(ctx)) as client:
            with _alice_first(first, early):
                res = client.post("/api/v1/bills", json=_api_bills(rows), headers=auth)
            assert res.status_code == 201, res.text
            body = res.json()
            late = rows[RACED:]
            assert (body["rows"], body["recorded"], body["duplicates"]) == (MONTHS, 3, 0), body
            assert Decimal(body["kg_co2e"]) == _kg(first, late)  # months 4-6, once each
            lost = body["rejected"]
            # Each lost bill, by its index in the request (1-based), account and period.
            assert [r["line"] for r in lost] == list(range(1, RACED + 1)), lost
            for entry, row in zip(lost, rows[:RACED], strict=True):
                assert entry["field"] == "period"
                assert _account_period(row) in entry["reason"], entry
                assert "recorded first by another writer" in entry["reason"], entry
            listing = client.get("/api/v1/records", params={"limit": 1000}, headers=auth)
            months = {row[2] for row in late}
            recorded = {r["id"] for r in listing.json()["items"] if r["period"]["start"] in months}
            assert sorted(body["record_ids"]) == sorted(recorded)

            again = client.post("/api/v1/bills", json=_api_bills(rows), headers=auth)
            assert again.status_code == 201, again.text
            redo = again.json()
            assert (redo["recorded"], redo["duplicates"], redo["rejected"]) == (0, MONTHS, [])
    finally:
        ctx.ledger.close()
