"""Attacks on the files of a ledger home: the remembered checkpoint beside the SQLite
file replaced (garbage, empty, another ledger's note), and the ledger file rolled back
to an older copy while the home still remembers the newer checkpoint."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.cli_helpers import Run, _clean, _ok


def _home(cli: Run, path: Path, orgs: int = 2) -> Path:
    _ok(cli("init", "--home", str(path)))
    for n in range(orgs):
        _ok(cli("org", "add", f"org{n}", "--name", f"Org {n}", "--home", str(path)))
    return path


def _fold(home: Path) -> None:
    """Fold the WAL into the file, as after every process closed it."""
    con = sqlite3.connect(home / "ledger.db")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


@pytest.mark.parametrize("content", ["garbage", "empty", "other ledger", "NUL bytes"])
def test_a_replaced_remembered_checkpoint_does_not_verify(
    cli: Run, tmp_path: Path, content: str
) -> None:
    home = _home(cli, tmp_path / "a")
    other = _home(cli, tmp_path / "b")
    remembered = home / "ledger.db.checkpoint"
    assert remembered.exists()
    replacement = {
        "garbage": b"this is not a signed note\n",
        "empty": b"",
        "other ledger": (other / "ledger.db.checkpoint").read_bytes(),
        "NUL bytes": b"\x00" * 4096,
    }[content]
    remembered.write_bytes(replacement)
    res = _ok(cli("verify", "--home", str(home)), 1)
    assert "checkpoint" in _clean(res.stdout + res.stderr)


def test_an_older_copy_of_the_file_does_not_verify_and_nothing_is_written_on_it(
    cli: Run, tmp_path: Path
) -> None:
    home = _home(cli, tmp_path / "a")
    _fold(home)
    old = tmp_path / "old.db"
    shutil.copy(home / "ledger.db", old)
    for n in range(3):
        _ok(cli("org", "add", f"late{n}", "--name", f"Late {n}", "--home", str(home)))
    _fold(home)
    # the operator puts the older copy back; the home's remembered note stays
    shutil.copy(old, home / "ledger.db")
    res = _ok(cli("verify", "--home", str(home)), 1)
    assert "remembered" in _clean(res.stdout + res.stderr) or "rolled back" in _clean(
        res.stdout + res.stderr
    )
    before = (home / "ledger.db").read_bytes()
    write = _ok(cli("org", "add", "onto", "--name", "On the evidence", "--home", str(home)), 2)
    assert "Traceback" not in write.stderr
    _fold(home)
    assert (home / "ledger.db").read_bytes() == before  # nothing written on top
    # and read commands say so in one line rather than answering from the old copy
    status = cli("status", "--home", str(home))
    assert "Traceback" not in status.stdout + status.stderr
