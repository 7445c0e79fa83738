"""The demo story on the EVM backend (anvil, off-chain store in PostgreSQL) gives the same
totals as on the embedded default, and ``verify`` passes on it.

Skipped with the reason when anvil or PostgreSQL are absent; with
``CARBONLEDGER_REQUIRE_EVM=1`` (CI) those fail instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from carbonledger.cli import app
from carbonledger.demo.story import DemoResult, run_demo
from carbonledger.services.home import Home
from tests.conformance.test_evm import _need_evm

PASS = "demo-passphrase"


@pytest.fixture
def fast_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("carbonledger.services.home.KEYSTORE_SCRYPT_N", 2**10, raising=False)
    monkeypatch.setattr("carbonledger.demo.story.KEYSTORE_SCRYPT_N", 2**10, raising=False)


@pytest.fixture
def anvil_node() -> Iterator[Any]:
    anvil = _need_evm()
    node = anvil.Anvil()
    yield node
    node.stop()


@pytest.fixture
def pg_database() -> Iterator[str]:
    from tests.conformance.pg import fresh_database, server_url

    databases = fresh_database(server_url())
    yield next(databases)
    databases.close()


def _totals(result: DemoResult) -> dict[str, Any]:
    """What the demo reports as figures: emissions per site, audit, Scope 2, net, DAO."""
    audit = result.audit
    assert audit is not None
    tokens, dao = result.tokens, result.dao
    return {
        "by_site": [
            {**row, "kwh": Decimal(row["kwh"]), "kg_co2e": Decimal(row["kg_co2e"])}
            for row in result.by_site
        ],
        "imports": [(r.rows, r.recorded, r.duplicates) for r in result.imports],
        "rerun": (result.rerun.recorded, result.rerun.duplicates) if result.rerun else None,
        "bad_rows": result.bad_file_errors,
        "audit": (audit.records, audit.verified, len(audit.failures), audit.total_kg_co2e),
        "meters": (result.meters["readings"], result.meters["audit"]["counts"]),
        "scope2": {
            k: tokens["scope2"][k]
            for k in ("kwh", "covered_kwh", "location_kg_co2e", "market_kg_co2e", "by_site")
        },
        "net": tokens["net"]["exact"],
        "dao": (dao["status"], dao["votes"], dao["quorum"], dao["issued_t_co2e"]),
        "refused": bool(result.refused),
    }


def test_the_evm_demo_on_postgresql_gives_the_embedded_totals(
    tmp_path: Path,
    fast_keys: None,
    anvil_node: Any,
    pg_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    embedded = run_demo(Home(tmp_path / "embedded"), PASS)
    home = Home(tmp_path / "evm")
    on_chain = run_demo(home, PASS, rpc=anvil_node.url, db=pg_database)

    assert embedded.verify is not None
    assert embedded.verify.ok
    assert on_chain.verify is not None
    assert on_chain.verify.ok, on_chain.verify.error
    assert any("match the chain's commitments" in n for n in on_chain.verify.notes)
    # The same items; a transaction on chain holds at most 100 records, and one of the
    # demo's imports signs between 101 and 200 items: two entries there, one embedded.
    assert on_chain.verify.leaves == embedded.verify.leaves
    assert on_chain.verify.entries == embedded.verify.entries + 1
    assert on_chain.proof_ok

    ours, theirs = _totals(on_chain), _totals(embedded)
    for key in ours:
        assert ours[key] == theirs[key], key
    # The demo's net (audited Scope 1+2 minus retired offsets) with the yearly factors of #16.
    assert Decimal(ours["net"]["net_kg_co2e"]) == Decimal("7803295.261316")

    # The home is on the EVM backend with the store in PostgreSQL; later commands open it.
    config = home.config()
    assert config["backend"] == "evm"
    assert config["evm"]["offchain"] == pg_database
    assert config["evm"]["rpc"] == anvil_node.url
    monkeypatch.setenv("CARBONLEDGER_HOME", str(home.path))
    monkeypatch.setenv("COLUMNS", "500")
    runner = CliRunner()
    res = runner.invoke(app, ["verify", "--json"])
    assert res.exit_code == 0, res.stdout
    assert json.loads(res.stdout)["ok"] is True
    res = runner.invoke(app, ["records", "list", "--site", "nw-chicago"])
    assert res.exit_code == 0, res.stdout
    assert "27 records, all sealed in channels you cannot read" in res.stdout  # no key
    res = runner.invoke(
        app, ["records", "list", "--site", "nw-chicago"], env={"CARBONLEDGER_PASSPHRASE": PASS}
    )
    assert res.exit_code == 0, res.stdout
    assert "27 records, 2,632.786 t CO2e" in res.stdout  # with the travel and freight of #16
    res = runner.invoke(app, ["chain", "status", "--json"])
    assert res.exit_code == 0, res.stdout
    status = json.loads(res.stdout)
    assert status["entries_on_chain"] == status["entries_off_chain"] == on_chain.verify.entries


def test_the_demo_command_starts_and_stops_its_own_anvil(
    tmp_path: Path, fast_keys: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need_evm()
    home = tmp_path / "home"
    monkeypatch.setenv("CARBONLEDGER_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "500")
    res = CliRunner().invoke(app, ["demo", "--backend", "evm"])
    assert res.exit_code == 0, (res.stdout, res.exception)
    assert "verify OK" in res.stdout
    assert "the local anvil is stopped" in res.stdout
    assert "the DAO's rules ran on chain" in res.stdout
    assert (home / "offchain.db").exists()
    assert (home / "anvil-state.json").exists()
    # The node is gone, but reads come from the off-chain store.
    res = CliRunner().invoke(
        app, ["records", "list", "--site", "nw-chicago"], env={"CARBONLEDGER_PASSPHRASE": "demo"}
    )
    assert res.exit_code == 0, res.stdout
    assert "27 records, 2,632.786 t CO2e" in res.stdout  # with the travel and freight of #16


def test_demo_options_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONLEDGER_HOME", str(tmp_path / "home"))
    res = CliRunner().invoke(app, ["demo", "--rpc", "http://127.0.0.1:1"])
    assert res.exit_code != 0
    res = CliRunner().invoke(app, ["demo", "--backend", "fabric"])
    assert res.exit_code != 0
    assert not (tmp_path / "home").exists()
