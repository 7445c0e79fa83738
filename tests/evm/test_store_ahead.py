"""A node's store ahead of the chain: the importer killed after its chunk was sent and
taken by its store, before the chain mined it.

The importer commits a chunk to its store while the chain node mines it. Here the chain
node never answers that mining call (a JSON-RPC proxy between the importer and anvil
holds it), and the importer is killed (SIGKILL) once its store holds entries the chain
does not. The chain node then either keeps the chunk waiting in its pool (the next
writer mines it, and the store is level with the chain again) or loses it (as a
restarted node does: the store, ahead, is rebuilt from the chain). Either way the
import run again records every row once, and the node verifies.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.api_helpers import PASS
from tests.evm.rpc_proxy import RpcProxy
from tests.evm_homes import entries_on_chain, evm_home, import_killed, point_to, write_bills
from tests.process_helpers import run_cli

SITES = 50
ROWS = SITES * 12  # six EVM transactions of 100 records: one chunk
WAIT_S = 120.0


class _Proxy(RpcProxy):
    """JSON-RPC to ``upstream``, except the first ``evm_mine`` once armed: held (never
    forwarded) until :attr:`release` is set."""

    def __init__(self, upstream: str) -> None:
        self.held = threading.Event()
        self.release = threading.Event()
        super().__init__(upstream, self._hold)

    def _hold(self, calls: list[dict[str, Any]], handler: BaseHTTPRequestHandler) -> bool:
        if any(c["method"] == "evm_mine" for c in calls) and not self.held.is_set():
            self.held.set()
            self.release.wait(WAIT_S)
            with contextlib.suppress(OSError):  # the importer was killed meanwhile
                handler.send_error(503)
            return False
        return True

    def close(self) -> None:
        self.release.set()
        super().close()


@pytest.fixture
def proxy(node: Any) -> Iterator[_Proxy]:
    running = _Proxy(node.url)
    yield running
    running.close()


def _json(home: Path, *args: str) -> dict[str, Any]:
    res = run_cli(home, *args, "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    data: dict[str, Any] = json.loads(res.stdout)
    return data


def _in_store(home: Path, *, after: int | None = None) -> int:
    """Entries in the node's store (or, ``after`` an entry, the emissions records of the
    entries after it), read from its SQLite file."""
    conn = sqlite3.connect(home / "offchain.db")
    try:
        if after is not None:
            sql = "SELECT COUNT(*) FROM leaf WHERE seq > ? AND kind = 'emissions_record'"
            return int(conn.execute(sql, (after,)).fetchone()[0])
        return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM tx").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("pool", ["kept", "lost"])
def test_the_importer_killed_while_its_store_is_ahead_of_the_chain(
    tmp_path: Path, node: Any, proxy: _Proxy, pool: str
) -> None:
    from carbonledger.adapters.evm import Rpc

    made = evm_home(tmp_path / "home", node.url, SITES, passphrase=PASS)
    home = made.path
    bills = write_bills(tmp_path / "bills.csv", SITES, 12)
    point_to(made, proxy.url)
    before = entries_on_chain(node.url, home)

    def store_ahead() -> bool:  # the store holds entries of the chunk the chain node is to mine
        return proxy.held.is_set() and _in_store(home) > before

    import_killed(home, bills, store_ahead, "--json", wait_s=WAIT_S)
    proxy.release.set()

    # The store holds the chunk, the chain has not mined it: it waits in the node's pool.
    ahead = _in_store(home)
    assert entries_on_chain(node.url, home) == before < ahead
    taken = _in_store(home, after=before)  # the records the store took ahead of the chain
    rpc = Rpc(node.url)
    assert int(rpc.call("txpool_status")["pending"], 16) > 0
    if pool == "lost":
        rpc.call("anvil_dropAllTransactions")  # as a chain node restarted without its pool

    point_to(made, node.url)
    rerun = _json(home, "bills", "import", str(bills))
    assert rerun["recorded"] + rerun["duplicates"] == ROWS
    if pool == "kept":
        # The chunk was mined first and its rows found recorded: none signed again.
        assert rerun["duplicates"] == taken > 0
        assert not list(home.glob("offchain.db.diverged-*"))
    else:
        # The store, ahead of the chain, was rebuilt from it (its old copy kept aside).
        assert rerun["recorded"] == ROWS
        assert list(home.glob("offchain.db.diverged-*"))
    status = _json(home, "chain", "status")
    assert status["entries_on_chain"] == status["entries_off_chain"]
    listed = json.loads(run_cli(home, "records", "list", "--json", "--limit", "0").stdout)
    assert len(listed) == ROWS
    assert len({(r["site"], r["account"], r["period"]["start"]) for r in listed}) == ROWS
    assert _json(home, "verify")["ok"] is True
