"""A real import killed with SIGKILL loses nothing and records nothing twice."""

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


def test_sigkill_during_import_then_verify_and_rerun(tmp_path: Path) -> None:
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
        [sys.executable, "-m", "carbonledger", "bills", "import", str(csv_file), "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while _records(home.ledger_file) == 0 and time.monotonic() < deadline:
        assert proc.poll() is None, "the import finished before it could be killed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _records(home.ledger_file)
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
