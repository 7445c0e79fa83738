"""A real import killed with SIGKILL loses nothing, records nothing twice, leaves no process.

Both paths: the serial import, and the parallel one whose worker processes must
exit when the importing process is killed (they would otherwise wait forever).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from benchmarks.workload import bills_csv

from carbonledger.services.home import Home

pytestmark = pytest.mark.slow

N_SITES, MONTHS = 200, 150  # 30,000 bills: several commits, so the kill lands mid-import


def _records(db: Path) -> int:
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute("SELECT COUNT(*) FROM leaf WHERE kind = 'emissions_record'").fetchone()[
            0
        ]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carbonledger", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "CARBONLEDGER_HOME": str(home), "CARBONLEDGER_PASSPHRASE": "crash-test"},
        check=False,
    )


def _children(pid: int) -> set[int]:
    """Every living descendant of ``pid``, from /proc (no psutil)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # the command name may hold spaces: the fields after it are fixed
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if state != "Z":
                parents[int(entry.name)] = int(ppid)
    found: set[int] = set()
    todo = [pid]
    while todo:
        here = todo.pop()
        kids = {p for p, pp in parents.items() if pp == here}
        found |= kids
        todo.extend(kids)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


@pytest.mark.parametrize("workers", ["0", "2"])
def test_sigkill_during_import_then_verify_and_rerun(tmp_path: Path, workers: str) -> None:
    from benchmarks.workload import sites

    from carbonledger.core.domain import Organisation
    from carbonledger.factors import FactorCatalog  # noqa: F401  (import cost outside timing)
    from carbonledger.services.registry import register_orgs, register_sites

    home = Home(tmp_path / "home")
    key = home.init("crash-test", scrypt_n=2**10)
    ledger = home.ledger(key)
    register_orgs(ledger, ledger.channels, key, [Organisation("bench", "Bench Co")])
    register_sites(ledger, key, sites(N_SITES))
    ledger.close()
    csv_file = tmp_path / "bills.csv"
    csv_file.write_text(bills_csv(N_SITES, MONTHS))
    env = {
        **os.environ,
        "CARBONLEDGER_HOME": str(home.path),
        "CARBONLEDGER_PASSPHRASE": "crash-test",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "carbonledger",
            "bills",
            "import",
            str(csv_file),
            "--json",
            "--workers",
            workers,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while _records(home.ledger_file) == 0 and time.monotonic() < deadline:
        assert proc.poll() is None, "the import finished before it could be killed"
        time.sleep(0.02)
    workers_seen = _children(proc.pid)
    assert len(workers_seen) >= int(workers), workers_seen
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _records(home.ledger_file)
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in workers_seen) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in workers_seen if _alive(p)] == [], "workers outlived the killed import"
    assert 0 < partial < N_SITES * MONTHS

    verified = _cli(home.path, "verify", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    rerun = _cli(home.path, "bills", "import", str(csv_file), "--json")
    assert rerun.returncode == 0, rerun.stderr
    assert f'"duplicates": {partial}' in rerun.stdout
    assert f'"recorded": {N_SITES * MONTHS - partial}' in rerun.stdout
    con = sqlite3.connect(home.ledger_file)
    total, distinct = con.execute(
        "SELECT COUNT(*), COUNT(DISTINCT rid) FROM leaf WHERE kind = 'emissions_record'"
    ).fetchone()
    con.close()
    assert total == distinct == N_SITES * MONTHS
    assert _cli(home.path, "verify").returncode == 0
