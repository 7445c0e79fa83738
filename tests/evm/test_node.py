"""A node on the EVM backend against a chain that is not its own, and imports of any size.

An operator points a home at a node that does not hold the ledger (a fresh chain, a
reset anvil, another network): every command refuses with the reason before anything
is signed or sent, rather than taking a successful receipt from an address without
code for acceptance. Large files are imported in EVM transactions bounded in bytes and
gas, in JSON-RPC requests bounded in bytes, on the sequential and the parallel path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import Run, _clean, _ok
from tests.conformance.test_evm import _need_evm
from tests.evm_homes import evm_home, point_to, write_bills


@pytest.fixture(autouse=True)
def fast_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("carbonledger.services.home.KEYSTORE_SCRYPT_N", 2**10, raising=False)


def _refused(res: Any) -> str:
    _ok(res, code=2)
    return _clean(res.stdout + res.stderr)


def test_a_node_without_the_contract_is_refused_by_every_command(
    cli: Run, tmp_path: Path, node: Any
) -> None:
    anvil = _need_evm()
    home = evm_home(tmp_path / "home", node.url)
    contract = home.config()["evm"]["contract"]
    bills = write_bills(tmp_path / "bills.csv", 1, 3)
    with anvil.Anvil() as fresh:  # the same chain id (31337), no contract on it
        point_to(home, fresh.url)
        text = _refused(cli("bills", "import", str(bills)))
        assert f"no contract at {contract}" in text
        assert "recorded" not in text
        for args in (("chain", "status"), ("verify",), ("org", "add", "x", "--name", "X")):
            assert f"no contract at {contract}" in _refused(cli(*args))
    point_to(home, node.url)
    status = json.loads(_ok(cli("chain", "status", "--json")).stdout)
    # genesis, the organisation, its site: nothing of the refused commands
    assert status["entries_on_chain"] == status["entries_off_chain"] == 3


def test_a_node_on_another_chain_id_is_refused(cli: Run, tmp_path: Path, node: Any) -> None:
    anvil = _need_evm()
    home = evm_home(tmp_path / "home", node.url)
    bills = write_bills(tmp_path / "bills.csv", 1, 3)
    with anvil.Anvil(chain_id=4242) as other:
        point_to(home, other.url)
        text = _refused(cli("bills", "import", str(bills)))
        assert "is on chain 4242, not on chain 31337" in text
        assert "is on chain 4242" in _refused(cli("chain", "status"))


def test_a_contract_that_is_not_a_ledger_is_refused(cli: Run, tmp_path: Path, node: Any) -> None:
    from carbonledger.adapters.evm import Rpc

    home = evm_home(tmp_path / "home", node.url)
    governor = json.loads(_ok(cli("chain", "status", "--json")).stdout)["governor"]
    config = home.config()
    config["evm"]["contract"] = governor  # code there, but not CarbonLedger's
    home.config_file.write_text(json.dumps(config))
    assert Rpc(node.url).call("eth_getCode", governor, "latest") != "0x"
    assert "is not a carbonledger ledger" in _refused(cli("chain", "status"))


def _import(cli: Run, bills: Path, *extra: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(
        _ok(cli("bills", "import", str(bills), "--json", *extra)).stdout
    )
    return report


def _verified(cli: Run, entries: int) -> None:
    status = json.loads(_ok(cli("chain", "status", "--json")).stdout)
    assert status["entries_on_chain"] == status["entries_off_chain"] == entries
    assert json.loads(_ok(cli("verify", "--json")).stdout)["ok"] is True


@pytest.mark.parametrize(
    ("n_sites", "months", "long_accounts"),
    [
        # 2,500 rows: one request of several MB that the node refused as a whole.
        (500, 5, False),
        # 1,000 rows with 200-character accounts: over the gas cap in one transaction.
        (250, 4, True),
    ],
)
def test_large_imports_are_recorded_whole(
    cli: Run, tmp_path: Path, node: Any, n_sites: int, months: int, long_accounts: bool
) -> None:
    home = evm_home(tmp_path / "home", node.url, n_sites)
    bills = write_bills(tmp_path / "bills.csv", n_sites, months, long_accounts=long_accounts)
    rows = n_sites * months
    report = _import(cli, bills)
    assert (report["recorded"], report["rejected"]) == (rows, [])
    records = json.loads(_ok(cli("records", "list", "--json", "--limit", "0")).stdout)
    assert len(records) == rows
    entries = json.loads(_ok(cli("chain", "status", "--json")).stdout)["entries_on_chain"]
    # genesis, organisation, sites, then the records in transactions of bounded size
    assert entries > 3
    _verified(cli, entries)
    # A re-run records nothing twice.
    again = _import(cli, bills)
    assert (again["recorded"], again["duplicates"]) == (0, rows)
    assert home.exists()


def test_twenty_thousand_rows_on_the_parallel_path(cli: Run, tmp_path: Path, node: Any) -> None:
    evm_home(tmp_path / "home", node.url, 1_000)
    bills = write_bills(tmp_path / "bills.csv", 1_000, 20)
    report = _import(cli, bills, "--workers", "2")
    assert (report["recorded"], report["rejected"]) == (20_000, [])
    entries = json.loads(_ok(cli("chain", "status", "--json")).stdout)["entries_on_chain"]
    _verified(cli, entries)
