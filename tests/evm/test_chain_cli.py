"""``carbonledger chain deploy`` / ``chain status`` end to end on anvil.

Skipped with the reason when anvil (or PostgreSQL, for ``--db``) is absent; with
``CARBONLEDGER_REQUIRE_EVM=1`` (CI) those fail instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import Run, _clean, _ok
from tests.conformance.test_evm import _need_evm


@pytest.fixture
def anvil_url() -> Iterator[str]:
    anvil = _need_evm()
    node = anvil.Anvil()
    yield node.url
    node.stop()


@pytest.fixture(autouse=True)
def fast_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("carbonledger.services.home.KEYSTORE_SCRYPT_N", 2**10, raising=False)


def _status(cli: Run) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_ok(cli("chain", "status", "--json")).stdout)
    return data


def _deploy_and_use(cli: Run, tmp_path: Path, url: str, *extra: str) -> dict[str, Any]:
    _ok(cli("init"))
    _ok(cli("org", "add", "acme", "--name", "Acme Corp", "--country", "US"))
    before = json.loads(_ok(cli("status", "--json")).stdout)

    res = _ok(cli("chain", "deploy", "--rpc", url, *extra))
    assert "deployed CarbonLedger at 0x" in res.stdout
    config = json.loads((tmp_path / "home" / "config.json").read_text())
    assert config["backend"] == "evm"
    evm = config["evm"]
    assert evm["rpc"] == url
    assert evm["chain_id"] == 31337
    assert evm["deploy_block"] >= 1
    assert evm["contract"] in res.stdout

    # The ledger's entries (genesis, the organisation) were copied onto the chain.
    status = _status(cli)
    assert status["contract"] == evm["contract"]
    assert status["entries_on_chain"] == status["entries_off_chain"] == 2
    after = json.loads(_ok(cli("status", "--json")).stdout)
    assert after["ledger_id"] == before["ledger_id"]
    assert after["organisations"] == 1

    # Later commands write through the chain and read the off-chain store.
    _ok(cli("org", "add", "globex", "--name", "Globex", "--country", "US"))
    assert "globex" in _ok(cli("org", "list")).stdout
    status = _status(cli)
    assert status["entries_on_chain"] == status["entries_off_chain"] == 3
    assert status["block"] > evm["deploy_block"]
    verify = json.loads(_ok(cli("verify", "--json")).stdout)
    assert verify["ok"] is True
    assert any("3 entries match the chain's commitments" in n for n in verify["notes"])

    text = _clean(_ok(cli("chain", "status")).stdout)
    assert f"contract: {evm['contract']}" in text
    assert "entries_on_chain: 3" in text

    # Deploying twice is refused with the reason.
    res = _ok(cli("chain", "deploy", "--rpc", url), code=2)
    assert "already on the EVM backend" in _clean(res.stdout + res.stderr)
    return evm


def test_chain_deploy_and_status_on_anvil(cli: Run, tmp_path: Path, anvil_url: str) -> None:
    evm = _deploy_and_use(cli, tmp_path, anvil_url)
    assert evm["offchain"] == "offchain.db"
    assert (tmp_path / "home" / "offchain.db").exists()


def test_chain_deploy_with_the_store_in_postgresql(
    cli: Run, tmp_path: Path, anvil_url: str
) -> None:
    from tests.conformance.pg import fresh_database, server_url

    databases = fresh_database(server_url())
    url = next(databases)
    try:
        evm = _deploy_and_use(cli, tmp_path, anvil_url, "--db", url)
        assert evm["offchain"] == url
        assert not (tmp_path / "home" / "offchain.db").exists()
    finally:
        databases.close()


def test_chain_status_needs_the_evm_backend(cli: Run) -> None:
    _ok(cli("init"))
    res = _ok(cli("chain", "status"), code=2)
    assert "not on the EVM backend" in _clean(res.stdout + res.stderr)


def test_chain_deploy_to_an_unreachable_node_is_a_clear_error(cli: Run) -> None:
    _need_evm()
    _ok(cli("init"))
    res = _ok(cli("chain", "deploy", "--rpc", "http://127.0.0.1:9"), code=2)
    assert "unreachable" in _clean(res.stdout + res.stderr)
    assert json.loads(_ok(cli("status", "--json")).stdout)["organisations"] == 0
