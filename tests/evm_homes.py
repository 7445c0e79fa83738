"""Homes on the EVM backend for the node tests: deployed with the CLI's own code, a site
per ``N`` and a bills CSV, as an operator would set them up."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.workload import bills_csv, sites

from carbonledger.core.domain import Organisation
from carbonledger.services.home import Home
from carbonledger.services.registry import register_orgs, register_sites
from tests.cli_helpers import PASS
from tests.process_helpers import env_for, run_cli


def evm_home(
    path: Path, rpc: str, n_sites: int = 1, *, db: str | None = None, passphrase: str = PASS
) -> Home:
    """An initialised home with organisation ``bench`` and ``n_sites`` sites, on the chain."""
    home = Home(path)
    key = home.init(passphrase, scrypt_n=2**10)
    ledger = home.ledger(key)
    try:
        cert = home.ca.create_org("bench", "Bench Co", passphrase)
        org = Organisation("bench", "Bench Co")
        register_orgs(ledger, ledger.channels, key, [org], ca_certs={"bench": cert})
        every = sites(n_sites)
        for start in range(0, n_sites, 100):  # a site costs ~50,000 gas on chain
            register_sites(ledger, key, every[start : start + 100])
    finally:
        ledger.close()
    home.deploy_evm(key, rpc, mirror=db)
    return home


def write_bills(path: Path, n_sites: int, months: int, *, long_accounts: bool = False) -> Path:
    """A bills CSV of ``n_sites`` x ``months`` rows (accounts 200 characters long if asked)."""
    text = bills_csv(n_sites, months)
    if long_accounts:
        text = text.replace("-E1,", "-E1" + "x" * 197 + ",")
    path.write_text(text)
    return path


def point_to(home: Home, rpc: str) -> dict[str, Any]:
    """Point the home's config at another node (as an operator editing config.json would)."""
    config: dict[str, Any] = json.loads(home.config_file.read_text())
    config["evm"]["rpc"] = rpc
    home.config_file.write_text(json.dumps(config))
    return config


def cli_ok(home: Path, *args: str) -> str:
    """The CLI run as its own process on ``home``: its output, once it exited 0 with no
    traceback."""
    res = run_cli(home, *args)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    return res.stdout


def cli_json(home: Path, *args: str) -> Any:
    """:func:`cli_ok` with ``--json``, its output read."""
    return json.loads(cli_ok(home, *args, "--json"))


def org_b_joins(tmp_path: Path, rpc: str, *, passphrase: str = PASS) -> tuple[Path, Path]:
    """A home that deployed the ledger (organisation bench, one site) and a second home
    attached to it, where organisation B joins from its own node: its CA key made there,
    the network admin adding B and registering its first admin ``orgb/bea``, who enrolls
    on B's node. Returns the two homes' paths."""
    first = evm_home(tmp_path / "first", rpc, 1, passphrase=passphrase).path
    contract = cli_json(first, "chain", "status")["contract"]
    second = tmp_path / "second"
    cli_ok(second, "chain", "attach", "--rpc", rpc, "--contract", contract)
    csr = tmp_path / "orgb.csr"
    cli_ok(second, "ca", "request", "orgb", "--name", "B Corp", "--out", str(csr))
    cli_ok(first, "org", "add", "orgb", "--name", "B Corp", "--country", "US", "--ca-csr", str(csr))
    secret = cli_json(first, "user", "register", "bea", "--org", "orgb", "--roles", "org_admin")
    cli_ok(second, "user", "enroll", "bea", "--org", "orgb", "--secret", secret["secret"])
    return first, second


def entries_on_chain(rpc: str, home: Path) -> int:
    """Entries of ``home``'s ledger on chain, read straight from the chain node (the
    home's store may be locked by a writer)."""
    from carbonledger.adapters.evm import Rpc
    from carbonledger.adapters.evm.entries import EntryLog

    evm = json.loads((home / "config.json").read_text())["evm"]
    return len(EntryLog(Rpc(rpc), evm["contract"], evm["deploy_block"]).entries())


def import_killed(
    home: Path, bills: Path, ready: Callable[[], bool], *args: str, wait_s: float = 120.0
) -> None:
    """``bills import`` of ``bills`` (with ``args``) on ``home`` as its own process,
    SIGKILLed once ``ready()`` holds, before the import has finished."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "carbonledger", "bills", "import", str(bills), *args],
        env=env_for(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + wait_s
        while not ready():
            assert proc.poll() is None, "the import finished before it could be killed"
            assert time.monotonic() < deadline, "the import never got where it is killed"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
