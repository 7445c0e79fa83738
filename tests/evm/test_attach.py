"""A second organisation's node: ``chain attach`` makes a home from the chain alone.

The second home holds no file of the first (no store, no admin key, no CA): only the
chain's URL, the contract's address and the first node's server URL (its peer), and a
member's own key. Its store is built from the chain's calldata (wrapped channel keys
included) and the sealed blobs its peer serves; the member reads the sealed records
there; both homes verify; the second follows what the first adds.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.api_helpers import PASS
from tests.cli_helpers import _clean
from tests.conformance.test_evm import _need_evm
from tests.evm_homes import evm_home, write_bills
from tests.process_helpers import run_cli, serving


@pytest.fixture
def node() -> Iterator[Any]:
    with _need_evm().Anvil() as running:
        yield running


def _ok(home: Path, *args: str) -> str:
    res = run_cli(home, *args)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def _json(home: Path, *args: str) -> Any:
    return json.loads(_ok(home, *args, "--json"))


def _total(records: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(str(r["kg_co2e"])) for r in records), Decimal(0))


def test_a_node_attached_with_no_files_of_the_first_reads_and_verifies(
    tmp_path: Path, node: Any
) -> None:
    first = evm_home(tmp_path / "first", node.url, 5, passphrase=PASS).path
    _json(first, "bills", "import", str(write_bills(tmp_path / "a.csv", 5, 6)))
    secret = _json(first, "user", "register", "alice", "--org", "bench", "--roles", "member")
    _ok(first, "user", "enroll", "alice", "--org", "bench", "--secret", secret["secret"])
    alice = _json(first, "user", "list", "--org", "bench")[-1]["address"]
    _ok(first, "channel", "grant", "bench", alice, "--role", "member")
    contract = _json(first, "chain", "status")["contract"]
    theirs = _json(first, "records", "list", "--limit", "0")
    assert len(theirs) == 30
    assert _total(theirs) > 0

    second = tmp_path / "second"
    with serving(first) as peer:
        attach = ("chain", "attach", "--rpc", node.url, "--contract", contract, "--peer", peer)
        out = _clean(_ok(second, *attach))
        _json(first, "bills", "import", str(write_bills(tmp_path / "b.csv", 5, 7)))
        synced = _json(second, "chain", "sync")
    assert f"at {contract}" in out
    assert not (second / "keys" / "admin.json").exists()
    assert not (second / "ca").exists()
    config = json.loads((second / "config.json").read_text())
    assert config["ledger_id"] == json.loads((first / "config.json").read_text())["ledger_id"]
    assert config["node"] != config["admin"]
    status = _json(second, "chain", "status")
    assert status["entries_on_chain"] == status["entries_off_chain"]
    assert _json(second, "verify")["ok"] is True

    # Without a member's key the second node shows the public fields only...
    public = _clean(_ok(second, "records", "list"))
    assert "sealed in channels you cannot read" in public
    # ... and with alice's own key (hers, not the first home's) the sealed details.
    (second / "keys" / "bench").mkdir(parents=True)
    shutil.copy(first / "keys" / "bench" / "alice.json", second / "keys" / "bench")
    mine = _json(second, "records", "list", "--limit", "0", "--as", "bench/alice")
    assert len(mine) == 35
    assert _total(mine) == _total(_json(first, "records", "list", "--limit", "0"))

    # The first node went on (a month more); the second followed.
    assert synced["taken"] >= 1
    assert synced["entries_off_chain"] == synced["entries_on_chain"]
    assert _json(second, "verify")["ok"] is True
    assert _json(first, "verify")["ok"] is True


def test_attach_to_an_address_without_the_contract_is_refused(tmp_path: Path, node: Any) -> None:
    res = run_cli(tmp_path / "second", "chain", "attach", "--rpc", node.url, "--contract",
                  "0x" + "11" * 20)  # fmt: skip
    assert res.returncode == 2
    assert "no contract at" in _clean(res.stderr)
    assert not (tmp_path / "second" / "config.json").exists()
