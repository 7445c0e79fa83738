"""The operator rewrites a served ledger between two visits of a witness that follows it
over HTTP: the whole home (file and remembered checkpoint) replaced by a fork at the
same size, signed with the admin key, or by an older copy. ``witness check`` against
the URL reports FORK and ROLLBACK."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.api_helpers import served
from tests.attacks.conftest import free_port, run_cli, serve, stop

pytestmark = pytest.mark.slow


def _fold(home: Path) -> None:
    con = sqlite3.connect(home / "ledger.db")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def _replace(home: Path, other: Path) -> None:
    shutil.rmtree(home)
    shutil.copytree(other, home)


def test_a_fork_or_rollback_of_a_served_ledger_is_reported_by_its_witness(
    tmp_path: Path,
) -> None:
    api = served(tmp_path / "home")
    api.ctx.ledger.close()
    home = api.home.path
    _fold(home)
    before = tmp_path / "before"
    shutil.copytree(home, before)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    witness = str(tmp_path / "w")

    proc = serve(home, port)
    try:
        added = run_cli(home, "witness", "add", url, "--dir", witness)
        assert added.returncode == 0, added.stderr
        grown = run_cli(home, "org", "add", "x", "--name", "Honest Entry")
        assert grown.returncode == 0, grown.stderr
        checked = run_cli(home, "witness", "check", "--dir", witness)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        stop(proc)

    # the fork: the older copy grown by another entry, signed with the same admin key
    fork = tmp_path / "fork"
    shutil.copytree(before, fork)
    forked = run_cli(fork, "org", "add", "y", "--name", "Rewritten Entry")
    assert forked.returncode == 0, forked.stderr
    saved = tmp_path / "honest"
    _fold(home)
    shutil.copytree(home, saved)
    _replace(home, fork)
    proc = serve(home, port)
    try:
        res = run_cli(tmp_path, "witness", "check", "--dir", witness)
        assert res.returncode == 1, res.stdout + res.stderr
        assert "FORK" in res.stdout + res.stderr
    finally:
        stop(proc)

    # the rollback: the older copy itself
    _replace(home, before)
    proc = serve(home, port)
    try:
        res = run_cli(tmp_path, "witness", "check", "--dir", witness)
        assert res.returncode == 1, res.stdout + res.stderr
        assert "ROLLBACK" in res.stdout + res.stderr
    finally:
        stop(proc)
