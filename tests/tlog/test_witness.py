"""Witnesses: a carbonledger witness served over HTTP cosigns two ledgers, and catches an
operator who rewrites history (rollback, fork at the same size) that the home, the
witness and ``check-proof --witness`` must each refuse.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from carbonledger.core.note import Verifier, parse_note, verify_cosignature
from tests.cli_helpers import PASS, Run, _clean, _ok


def _home(cli: Run, path: Path, orgs: int = 2) -> Path:
    _ok(cli("init", "--home", str(path)))
    for n in range(orgs):
        _ok(cli("org", "add", f"org{n}", "--name", f"Org {n}", "--home", str(path)))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def witness(cli: Run, tmp_path: Path) -> Iterator[tuple[str, Path, Verifier]]:
    """`carbonledger witness serve` in its own process; yields (URL, directory, vkey)."""
    directory = tmp_path / "witness"
    res = _ok(cli("witness", "init", "--name", "witness.test/w1", "--dir", str(directory)))
    vkey = Verifier.from_vkey(res.stdout.strip().splitlines()[-1])
    port = _free_port()
    env = {**os.environ, "CARBONLEDGER_PASSPHRASE": PASS, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "carbonledger", "witness", "serve"),
            *("--port", str(port), "--dir", str(directory)),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/docs", timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.05)
        yield url, directory, vkey
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def _cosigned_by(home: Path, vkey: Verifier) -> bool:
    note = parse_note((home / "ledger.db.cosigned").read_text())
    return verify_cosignature(note, vkey) is not None


def test_a_served_witness_cosigns_two_ledgers_as_they_grow(
    cli: Run, tmp_path: Path, witness: tuple[str, Path, Verifier]
) -> None:
    url, directory, vkey = witness
    homes = [_home(cli, tmp_path / "a"), _home(cli, tmp_path / "b", orgs=1)]
    for home in homes:
        _ok(cli("witness", "add", str(home), "--dir", str(directory)))
        first = _ok(cli("witness", "submit", url, "--home", str(home)))
        assert "witness.test/w1" in first.stdout
        assert _cosigned_by(home, vkey)
    early = tmp_path / "early.json"
    _ok(cli("proof", "--leaf", "1", "-o", str(early), "--home", str(homes[0])))
    # ledger a grows: the witness wants a consistency proof from the size it cosigned
    _ok(cli("org", "add", "late", "--name", "Late", "--home", str(homes[0])))
    # a proof made before the growth still checks against the ledger as it is now
    later = _ok(cli("check-proof", str(early), "--log", str(homes[0])))
    assert "still in the ledger at size" in _clean(later.stdout)
    _ok(cli("witness", "submit", url, "--home", str(homes[0])))
    assert _cosigned_by(homes[0], vkey)
    checked = _ok(cli("witness", "check", "--dir", str(directory)))
    assert checked.stdout.count("OK") == 2
    # the cosigned checkpoint travels in proof documents: check-proof can require it
    proof = tmp_path / "proof.json"
    _ok(cli("proof", "--leaf", "1", "-o", str(proof), "--home", str(homes[0])))
    ok = _ok(cli("check-proof", str(proof), "--witness", vkey.vkey))
    assert "cosigned by witness.test/w1" in _clean(ok.stdout)


def test_rollback_is_reported_by_witness_check(cli: Run, tmp_path: Path) -> None:
    home = _home(cli, tmp_path / "a")
    before = tmp_path / "before"
    shutil.copytree(home, before)
    _ok(cli("witness", "add", str(home), "--dir", str(tmp_path / "w")))
    _ok(cli("org", "add", "late", "--name", "Late", "--home", str(home)))
    _ok(cli("witness", "check", "--dir", str(tmp_path / "w")))  # consistent growth
    # the operator restores the older copy of the ledger over the home
    shutil.rmtree(home)
    shutil.copytree(before, home)
    res = _ok(cli("witness", "check", "--dir", str(tmp_path / "w")), 1)
    assert "ROLLBACK" in _clean(res.stderr)


def test_a_fork_at_the_same_size_is_refused_everywhere(
    cli: Run, tmp_path: Path, witness: tuple[str, Path, Verifier]
) -> None:
    """The operator keeps a copy, commits X, gets it cosigned and hands out a proof; then
    commits Y instead of X on the copy (same size, another root, its own valid signatures)
    and puts it in place of the ledger."""
    url, directory, vkey = witness
    home = _home(cli, tmp_path / "a")
    fork = tmp_path / "fork"
    shutil.copytree(home, fork)
    _ok(cli("witness", "add", str(home), "--dir", str(directory)))
    _ok(cli("org", "add", "x", "--name", "Honest Entry", "--home", str(home)))
    _ok(cli("witness", "submit", url, "--home", str(home)))
    honest = tmp_path / "honest.json"
    _ok(cli("proof", "--leaf", "1", "-o", str(honest), "--home", str(home)))
    _ok(cli("org", "add", "y", "--name", "Rewritten Entry", "--home", str(fork)))
    same = [
        orjson.loads(_ok(cli("status", "--json", "--home", str(h))).stdout) for h in (home, fork)
    ]
    assert same[0]["leaves"] == same[1]["leaves"]
    assert same[0]["root"] != same[1]["root"]

    # the home: the ledger file swapped for the fork does not verify
    swapped = tmp_path / "swapped"
    shutil.copytree(home, swapped)
    shutil.copy(fork / "ledger.db", swapped / "ledger.db")
    res = _ok(cli("verify", "--home", str(swapped)), 1)
    assert "its history was rewritten" in _clean(res.stderr)

    # the witness: it will not cosign the fork, and `witness check` reports it
    refused = _ok(cli("witness", "submit", url, "--home", str(fork)), 2)
    assert "HTTP 422" in _clean(refused.stderr)
    shutil.rmtree(home)
    shutil.copytree(fork, home)
    res = _ok(cli("witness", "check", "--dir", str(directory)), 1)
    assert "FORK" in _clean(res.stderr)

    # check-proof: a proof from the fork lacks the witness's cosignature
    forged = tmp_path / "forged.json"
    _ok(cli("proof", "--leaf", "1", "-o", str(forged), "--home", str(fork)))
    _ok(cli("check-proof", str(forged)))  # signed by the operator: fine without a witness
    res = _ok(cli("check-proof", str(forged), "--witness", vkey.vkey), 2)
    assert "not cosigned by witness witness.test/w1" in _clean(res.stderr)
    # the honest proof still checks on its own, but not against the forked ledger
    _ok(cli("check-proof", str(honest), "--witness", vkey.vkey))
    res = _ok(cli("check-proof", str(honest), "--log", str(fork)), 2)
    assert "does not extend" in _clean(res.stderr)
