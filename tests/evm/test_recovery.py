"""Stores that always recover: every divergence between a node's store and the chain is
repaired from the chain by the next command, never left stuck.

The faults are made as they happen: a store behind the chain (the importer killed after
the chain accepted a transaction and before the store took it, restored here from a copy
taken before, with the sealed blobs the node kept before sending), the importer killed
mid-import, the chain node killed mid-import and restarted from its state file (the chain
behind the store) or without it (no contract: refused), and two imports from one home at
the same time.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.api_helpers import PASS
from tests.cli_helpers import _clean
from tests.conformance.test_evm import _need_evm
from tests.evm_homes import entries_on_chain, evm_home, import_killed, write_bills
from tests.process_helpers import env_for, free_port, run_cli


def _json(home: Path, *args: str) -> dict[str, Any]:
    res = run_cli(home, *args, "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    data: dict[str, Any] = json.loads(res.stdout)
    return data


def _records(home: Path) -> int:
    return len(json.loads(run_cli(home, "records", "list", "--json", "--limit", "0").stdout))


def _healthy(home: Path, rows: int) -> None:
    """Every row recorded once, the store equal to the chain, verify passes."""
    status = _json(home, "chain", "status")
    assert status["entries_on_chain"] == status["entries_off_chain"]
    assert _records(home) == rows
    assert _json(home, "verify")["ok"] is True


def _copy_store(home: Path, to: Path) -> None:
    """A consistent copy of the store and of the checkpoint it remembers."""
    to.mkdir()
    src, dst = sqlite3.connect(home / "offchain.db"), sqlite3.connect(to / "offchain.db")
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    shutil.copy(home / "offchain.db.checkpoint", to / "offchain.db.checkpoint")


def _restore_store(home: Path, copy: Path) -> None:
    """The store as it was at ``copy``, but with the sealed blobs the node holds now: the
    node keeps a transaction's blobs (not on the chain) before sending it, so an importer
    killed after the chain accepted a transaction leaves its blobs in the store."""
    conn = sqlite3.connect(home / "offchain.db")
    blobs = conn.execute("SELECT id, channel, epoch, data FROM blob").fetchall()
    conn.close()
    for name in ("offchain.db-wal", "offchain.db-shm"):
        (home / name).unlink(missing_ok=True)
    for name in ("offchain.db", "offchain.db.checkpoint"):
        shutil.copy(copy / name, home / name)
    conn = sqlite3.connect(home / "offchain.db")
    with conn:
        conn.executemany("INSERT OR IGNORE INTO blob VALUES (?,?,?,?)", blobs)
    conn.close()


def test_a_store_behind_the_chain_is_caught_up_by_the_next_import(
    tmp_path: Path, node: Any
) -> None:
    home = evm_home(tmp_path / "home", node.url, 10, passphrase=PASS).path
    bills = write_bills(tmp_path / "bills.csv", 10, 12)
    _copy_store(home, tmp_path / "before")
    assert _json(home, "bills", "import", str(bills))["recorded"] == 120
    # The store as it was before the import: as if the importer died after the chain
    # accepted everything and before the store took any of it.
    _restore_store(home, tmp_path / "before")
    status = _json(home, "chain", "status")
    assert status["entries_on_chain"] > status["entries_off_chain"]
    synced = _json(home, "chain", "sync")
    assert synced["taken"] == status["entries_on_chain"] - status["entries_off_chain"]
    assert synced["entries_off_chain"] == synced["entries_on_chain"]
    _healthy(home, 120)
    _restore_store(home, tmp_path / "before")  # again, and this time the import repairs it
    again = _json(home, "bills", "import", str(bills))
    assert (again["recorded"], again["duplicates"]) == (0, 120)
    _healthy(home, 120)


def test_the_importer_killed_mid_import_then_rerun(tmp_path: Path, node: Any) -> None:
    home = evm_home(tmp_path / "home", node.url, 200, passphrase=PASS).path
    rows = 200 * 12
    bills = write_bills(tmp_path / "bills.csv", 200, 12)
    start = _on_chain(node.url, home)

    def on_chain() -> bool:
        return _on_chain(node.url, home) > start

    import_killed(home, bills, on_chain, "--json")
    rerun = _json(home, "bills", "import", str(bills))
    assert rerun["recorded"] + rerun["duplicates"] == rows
    assert 0 < rerun["duplicates"] < rows
    _healthy(home, rows)


def _on_chain(url: str, home: Path) -> int:
    """Entries on chain, read straight from the node (the store may be locked)."""
    return entries_on_chain(url, home)


def test_the_chain_node_killed_mid_import_and_restarted(tmp_path: Path) -> None:
    anvil = _need_evm()
    port, state = free_port(), tmp_path / "anvil-state.json"
    first = anvil.Anvil(port=port, state=state, state_interval=1)
    try:
        home = evm_home(tmp_path / "home", first.url, 500, passphrase=PASS).path
        rows = 500 * 12
        bills = write_bills(tmp_path / "bills.csv", 500, 12)
        time.sleep(2.5)  # the deployment is in the state file
        start = _on_chain(first.url, home)
        proc = subprocess.Popen(
            [sys.executable, "-m", "carbonledger", "bills", "import", str(bills), "--json"],
            env=env_for(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while _on_chain(first.url, home) <= start and time.monotonic() < deadline:
            assert proc.poll() is None, "the import finished before the node could be killed"
            time.sleep(0.05)
        seen = _on_chain(first.url, home)
        first.kill()  # the chain loses what it mined since its last state write
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 2, (seen, out, err)
        assert "Traceback" not in err
        assert "unreachable" in _clean(err)
    finally:
        first.kill()

    # Restarted without its state: a fresh chain without the contract, refused.
    with anvil.Anvil(port=port):
        res = run_cli(home, "bills", "import", str(bills))
        assert res.returncode == 2
        assert "no contract at" in _clean(res.stderr)

    # Restarted from its state file: the chain is behind the store (or level with it).
    with anvil.Anvil(port=port, state=state):
        before = _json(home, "chain", "status")
        assert before["entries_on_chain"] <= before["entries_off_chain"]
        rerun = _json(home, "bills", "import", str(bills))
        if before["entries_on_chain"] < before["entries_off_chain"]:
            # what the chain lost was dropped from the store (kept aside), then recorded
            assert list(home.glob("offchain.db.diverged-*"))
        assert rerun["recorded"] + rerun["duplicates"] == rows
        _healthy(home, rows)


def test_two_imports_from_one_home_at_once(tmp_path: Path, node: Any) -> None:
    home = evm_home(tmp_path / "home", node.url, 100, passphrase=PASS).path
    a = write_bills(tmp_path / "a.csv", 100, 6)
    text = write_bills(tmp_path / "all.csv", 100, 12).read_text().splitlines(keepends=True)
    b = tmp_path / "b.csv"  # the other six months of the same sites
    b.write_text(text[0] + "".join(text[601:]))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "carbonledger", "bills", "import", str(f), "--json"],
            env=env_for(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in (a, b)
    ]
    for p in procs:
        out, err = p.communicate(timeout=300)
        # Each either records its file or stops with one clear line (never a traceback).
        assert p.returncode in (0, 2), out + err
        assert "Traceback" not in err
    for f in (a, b):  # reruns finish whatever was refused, nothing twice
        rerun = _json(home, "bills", "import", str(f))
        assert rerun["recorded"] + rerun["duplicates"] == 600
    _healthy(home, 1_200)
    assert os.path.exists(home / "offchain.db")
