"""Sealed blobs travel between nodes, not in calldata: fetched from peers by hash.

Two homes on one anvil chain, each a real ``carbonledger`` home and the peers real
``carbonledger serve`` processes. The first records bills (their sealed details stay
in its store); the second attaches with ``--peer`` and builds its store from the chain
and the blobs its peer serves; an auditor opens the sealed records there. A peer that
serves a tampered blob (an attacker's copy of the first node, its SQLite file edited)
is refused, naming the blob, and nothing of it reaches the store; a peer that is down
is waited for, ``chain status`` names what is missing and whom it asked, and the node
catches up once the peer is back.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api_helpers import PASS
from tests.cli_helpers import _clean
from tests.conformance.test_evm import _need_evm
from tests.evm_homes import cli_json, cli_ok, evm_home, write_bills
from tests.process_helpers import free_port, run_cli, serving, until

#: Generous bound for a node to catch up (its server retries less often while a peer
#: is down, at most every 30 s; the machine may be loaded).
WAIT_S = 120.0
#: 3 sites x 4 months (benchmarks.workload.bills_csv: from January 2015).
ROWS = 12


@pytest.fixture
def node() -> Iterator[Any]:
    with _need_evm().Anvil() as running:
        yield running


def _first(tmp_path: Path, rpc: str) -> tuple[Path, str]:
    """A deployed home whose admin imported bills (sealed details in its store only), and
    an auditor of bench granted the channel; the contract's address."""
    first = evm_home(tmp_path / "first", rpc, 3, passphrase=PASS).path
    report = cli_json(first, "bills", "import", str(write_bills(tmp_path / "a.csv", 3, 4)))
    assert report["recorded"] == ROWS
    secret = cli_json(first, "user", "register", "aud", "--org", "bench", "--roles", "auditor")
    cli_ok(first, "user", "enroll", "aud", "--org", "bench", "--secret", secret["secret"])
    aud = next(u for u in cli_json(first, "user", "list", "--org", "bench") if u["name"] == "aud")
    cli_ok(first, "channel", "grant", "bench", aud["address"], "--role", "auditor")
    return first, str(cli_json(first, "chain", "status")["contract"])


def _blob_ids(home: Path) -> list[str]:
    """The sealed blobs the records name (their public ``detail.blob``)."""
    records = cli_json(home, "records", "list", "--limit", "0")
    ids = sorted({str(r["detail"]["blob"]) for r in records if r.get("detail")})
    assert ids, records
    return ids


def _stored(home: Path, blob_id: str) -> bytes | None:
    """The blob as the home's SQLite file holds it (None: not there)."""
    conn = sqlite3.connect(home / "offchain.db")
    try:
        row = conn.execute("SELECT data FROM blob WHERE id = ?", (blob_id,)).fetchone()
    finally:
        conn.close()
    return None if row is None else bytes(row[0])


def _attach(second: Path, rpc: str, contract: str, *peers: str) -> str:
    args = [arg for p in peers for arg in ("--peer", p)]
    return _clean(cli_ok(second, "chain", "attach", "--rpc", rpc, "--contract", contract, *args))


def _total(records: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(str(r["kg_co2e"])) for r in records), Decimal(0))


def test_a_node_attached_with_a_peer_builds_its_store_and_an_auditor_audits_there(
    tmp_path: Path, node: Any
) -> None:
    first, contract = _first(tmp_path, node.url)
    second = tmp_path / "second"
    with serving(first) as peer:
        # The peer serves each blob by its hash, one or an EVM transaction's at once.
        ids = _blob_ids(first)
        one = httpx.get(f"{peer}/api/v1/blobs/{ids[0]}", timeout=30)
        assert one.status_code == 200
        assert hashlib.sha256(one.content).hexdigest() == ids[0]
        batch = httpx.post(f"{peer}/api/v1/blobs", json={"ids": [*ids, "0" * 64]}, timeout=30)
        assert batch.status_code == 200, batch.text
        assert sorted(batch.json()["blobs"]) == ids
        assert batch.json()["missing"] == ["0" * 64]
        assert httpx.get(f"{peer}/api/v1/blobs/{'0' * 64}", timeout=30).status_code == 404
        assert httpx.get(f"{peer}/api/v1/blobs/not-a-hash", timeout=30).status_code == 422
        too_many = {"ids": [f"{n:064x}" for n in range(2001)]}
        assert httpx.post(f"{peer}/api/v1/blobs", json=too_many, timeout=30).status_code == 422

        _attach(second, node.url, contract, peer)
    status = cli_json(second, "chain", "status")
    assert status["entries_on_chain"] == status["entries_off_chain"]
    assert status["waiting_for_blobs"] is None
    assert status["peers"] == [peer]
    assert cli_json(second, "verify")["ok"] is True
    for blob_id in ids:  # every blob held, as its hash says
        data = _stored(second, blob_id)
        assert data is not None
        assert hashlib.sha256(data).hexdigest() == blob_id

    # The auditor, with their own key on the second node, opens and audits the records.
    (second / "keys" / "bench").mkdir(parents=True)
    shutil.copy(first / "keys" / "bench" / "aud.json", second / "keys" / "bench")
    seen = cli_json(second, "records", "list", "--limit", "0", "--as", "bench/aud")
    assert len(seen) == ROWS
    assert _total(seen) == _total(cli_json(first, "records", "list", "--limit", "0"))
    audit = cli_json(second, "audit", "run", "bench", "--start", "2015-01-01", "--end",
                     "2015-12-31", "--as", "bench/aud")  # fmt: skip
    assert (audit["records"], audit["verified"], audit["failures"]) == (ROWS, ROWS, [])


def test_a_peer_serving_a_tampered_blob_is_refused_naming_the_blob(
    tmp_path: Path, node: Any
) -> None:
    first, contract = _first(tmp_path, node.url)
    bad = _blob_ids(first)[0]
    # An attacker's node: a copy of the first one, one sealed blob edited in its file.
    evil = tmp_path / "evil"
    shutil.copytree(first, evil)
    conn = sqlite3.connect(evil / "offchain.db")
    with conn:
        (data,) = conn.execute("SELECT data FROM blob WHERE id = ?", (bad,)).fetchone()
        forged = bytes([data[0] ^ 1]) + bytes(data[1:])
        conn.execute("UPDATE blob SET data = ? WHERE id = ?", (forged, bad))
    conn.close()

    second = tmp_path / "second"
    with serving(evil) as evil_url:
        out = _attach(second, node.url, contract, evil_url)
        assert "waiting for sealed blobs" in out
        res = run_cli(second, "chain", "sync")
    assert res.returncode == 2
    (line,) = _clean(res.stderr).strip().splitlines()
    assert bad in line
    assert f"{evil_url} served blob {bad}" in line
    assert "refused" in line
    status = cli_json(second, "chain", "status")
    assert status["entries_off_chain"] < status["entries_on_chain"]  # stopped before it
    waiting = status["waiting_for_blobs"]
    assert bad in waiting["blobs"]
    assert waiting["peers_tried"] == [evil_url]
    assert _stored(second, bad) is None  # the forged bytes never reached the store
    behind = run_cli(second, "verify", "--json")  # a store behind the chain is named so
    assert behind.returncode == 1
    assert json.loads(behind.stdout)["error"] == (
        f"the chain holds {status['entries_on_chain']} entries,"
        f" the off-chain store {status['entries_off_chain']}"
    )

    # An honest peer added: the node takes the rest, with the true blob.
    with serving(first) as peer:
        added = cli_json(second, "chain", "peers", "--add", peer)
        assert [(p["url"], p["source"]) for p in added] == [(evil_url, "config"), (peer, "config")]
        synced = cli_json(second, "chain", "sync")
    assert synced["entries_off_chain"] == synced["entries_on_chain"]
    assert cli_json(second, "chain", "status")["waiting_for_blobs"] is None
    held = _stored(second, bad)
    assert held is not None
    assert hashlib.sha256(held).hexdigest() == bad
    assert cli_json(second, "verify")["ok"] is True


def test_a_peer_that_is_down_is_waited_for_and_the_node_catches_up(
    tmp_path: Path, node: Any
) -> None:
    first, contract = _first(tmp_path, node.url)
    port = free_port()
    peer = f"http://127.0.0.1:{port}"  # the first node's server, not running yet
    second = tmp_path / "second"
    out = _attach(second, node.url, contract, peer)
    assert "waiting for sealed blobs" in out
    status = cli_json(second, "chain", "status")
    assert status["entries_off_chain"] < status["entries_on_chain"]
    waiting = status["waiting_for_blobs"]
    assert set(waiting["blobs"]) <= set(_blob_ids(first))
    assert waiting["peers_tried"] == [peer]
    assert f"{peer} did not serve them" in waiting["reason"]
    shown = _clean(cli_ok(second, "chain", "status"))
    assert "waiting_for_blobs" in shown
    assert waiting["blobs"][0] in shown

    # The second node's server follows: it waits for the peer, still naming it...
    with serving(second):
        time.sleep(3)
        assert cli_json(second, "chain", "status")["waiting_for_blobs"]["peers_tried"] == [peer]
        # ... and once the peer is back (where it was), catches up by itself.
        with serving(first, port=port):

            def caught_up() -> bool:
                now = cli_json(second, "chain", "status")
                return bool(now["entries_off_chain"] == now["entries_on_chain"])

            until("the second node caught up", caught_up, wait_s=WAIT_S)
    status = cli_json(second, "chain", "status")
    assert status["waiting_for_blobs"] is None
    assert cli_json(second, "verify")["ok"] is True
    for blob_id in _blob_ids(first):
        assert _stored(second, blob_id) is not None
    assert json.loads((second / "config.json").read_text())["evm"]["peers"] == [peer]

    # The operator's list: a bad URL or an unknown peer is refused with one line.
    for args, reason in (
        (("--add", "ftp://example.org"), "give the node's base URL, http(s)://host:port"),
        (("--remove", "http://127.0.0.1:1"), "not a peer of this home: http://127.0.0.1:1"),
    ):
        res = run_cli(second, "chain", "peers", *args)
        assert res.returncode == 2
        (line,) = _clean(res.stderr).strip().splitlines()
        assert reason in line
    assert cli_json(second, "chain", "peers", "--remove", peer + "/") == []
    assert "no peers" in cli_ok(second, "chain", "peers")
