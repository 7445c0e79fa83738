"""A node killed mid-import, restarted with its state and without it.

The second organisation's node (attached with ``chain attach``, relaying its own
member's transactions) imports a member's bills file, and its importing process is
killed (SIGKILL) while the import is being recorded on chain. Restarted with its home
as the kill left it, the node repairs its store from the chain and the import again
records exactly the rows that were not recorded; with its home removed, a new ``chain
attach`` rebuilds the store from the chain alone and the member's import finishes
there. Each time both nodes verify and list every row once. Sealed blobs are not on the
chain: each node fetches the other's from its server (``chain attach --peer``, ``chain
peers --add``), so the rebuilt node gets back even its own from the first node.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx

from tests.api_helpers import PASS
from tests.evm_homes import (
    cli_json,
    cli_ok,
    entries_on_chain,
    evm_home,
    import_killed,
    write_bills,
)
from tests.process_helpers import free_port, serving

SITES = 200
#: Generous bound for a server to start or for a first entry to reach the chain.
WAIT_S = 120.0


def _attach(first: Path, second: Path, rpc: str, peer: str) -> None:
    """``second`` attached to the first home's contract with the first node's server as
    its peer, its node funded, with the keystore of bench's member bob (his own, not the
    first home's)."""
    from carbonledger.adapters.evm import Rpc

    contract = cli_json(first, "chain", "status")["contract"]
    cli_ok(second, "chain", "attach", "--rpc", rpc, "--contract", contract, "--peer", peer)
    node_key = json.loads((second / "config.json").read_text())["node"]
    Rpc(rpc).call("anvil_setBalance", node_key, hex(10**22))
    (second / "keys" / "bench").mkdir(parents=True, exist_ok=True)
    shutil.copy(first / "keys" / "bench" / "bob.json", second / "keys" / "bench")


def _kill_mid_import(home: Path, rpc: str, bills: Path) -> None:
    """``bills import`` as bob on ``home`` as its own process, SIGKILLed once the import's
    first entry is on chain (and before the import has finished)."""
    start = entries_on_chain(rpc, home)

    def on_chain() -> bool:
        return entries_on_chain(rpc, home) > start

    import_killed(home, bills, on_chain, "--as", "bench/bob", wait_s=WAIT_S)


def _each_row_once(home: Path, rows: int) -> None:
    cli_json(home, "chain", "sync")
    status = cli_json(home, "chain", "status")
    assert status["entries_on_chain"] == status["entries_off_chain"]
    assert cli_json(home, "verify")["ok"] is True
    records = cli_json(home, "records", "list", "--limit", "0", "--as", "bench/bob")
    keys = {(r["site"], r["account"], r["period"]["start"]) for r in records}
    assert len(records) == len(keys) == rows


def test_a_node_killed_mid_import_restarts_with_and_without_its_state(
    tmp_path: Path, node: Any
) -> None:
    first = evm_home(tmp_path / "first", node.url, SITES, passphrase=PASS).path
    secret = cli_json(first, "user", "register", "bob", "--org", "bench", "--roles", "member")
    cli_ok(first, "user", "enroll", "bob", "--org", "bench", "--secret", secret["secret"])
    users = cli_json(first, "user", "list", "--org", "bench")
    bob = next(u["address"] for u in users if u["name"] == "bob")
    cli_ok(first, "channel", "grant", "bench", bob, "--role", "member")
    second = tmp_path / "second"
    first_port, second_port = free_port(), free_port()
    with serving(first, port=first_port) as first_url:
        _attach(first, second, node.url, first_url)
    cli_ok(first, "chain", "peers", "--add", f"http://127.0.0.1:{second_port}")
    lines = write_bills(tmp_path / "all.csv", SITES, 24).read_text().splitlines(True)
    rows = SITES * 12
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"  # a year each
    one.write_text("".join(lines[: 1 + rows]))
    two.write_text(lines[0] + "".join(lines[1 + rows :]))

    # Killed, then restarted with its home as the kill left it: the import again.
    _kill_mid_import(second, node.url, one)
    again = cli_json(second, "bills", "import", str(one), "--as", "bench/bob")
    assert again["rejected"] == []
    assert again["recorded"] + again["duplicates"] == rows
    assert 0 < again["duplicates"] < rows  # the kill came after some, before all
    with serving(second, port=second_port) as url:  # and the node serves again
        assert httpx.get(f"{url}/api/v1/status", timeout=30).json()["sites"] == SITES
        for home in (first, second):
            _each_row_once(home, rows)

    # Killed, then its home removed (the first node took what reached the chain from its
    # server meanwhile): attached again, the store rebuilt from the chain and the peer.
    _kill_mid_import(second, node.url, two)
    with serving(second, port=second_port):
        cli_json(first, "chain", "sync")
    shutil.rmtree(second)
    with serving(first, port=first_port) as first_url:
        _attach(first, second, node.url, first_url)
        assert cli_json(second, "verify")["ok"] is True
        rerun = cli_json(second, "bills", "import", str(two), "--as", "bench/bob")
    assert rerun["recorded"] + rerun["duplicates"] == rows
    assert 0 < rerun["duplicates"] < rows
    with serving(second, port=second_port):
        for home in (first, second):
            _each_row_once(home, 2 * rows)
