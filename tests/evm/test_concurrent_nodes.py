"""Two nodes writing to one chain at the same time.

The first home deployed the ledger; the second attached to it with ``chain attach``
and relays its own users' transactions (its node key pays the gas). Each imports a
bills file at the same moment as the other, as its own process. Both imports must
finish with every row recorded, although each node's store falls behind the chain
while the other writes (and, for one signer on both nodes, the signer's nonces race):
the losing node reads the chain again and retries by itself. Afterwards both stores
equal the chain, both verify, and each lists every record exactly once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from carbonledger.crypto.keys import PrivateKey
from tests.api_helpers import PASS
from tests.conformance.world import World
from tests.evm_homes import cli_json, cli_ok, evm_home, write_bills
from tests.process_helpers import env_for, free_port, serving

SITES, MONTHS = 60, 12


def _importing(home: Path, bills: Path, *who: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "carbonledger", "bills", "import", str(bills), "--json", *who],
        env=env_for(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _halves(tmp_path: Path) -> tuple[Path, Path]:
    """The bills of the first and of the last half of the sites, the same months (so the
    two imports use the same calculation bases, and no row is in both)."""
    lines = write_bills(tmp_path / "all.csv", SITES, MONTHS).read_text().splitlines(True)
    header, rows = lines[0], lines[1:]
    first, last = tmp_path / "first.csv", tmp_path / "last.csv"
    low = [int(r.split(",")[0].removeprefix("site")) < SITES // 2 for r in rows]
    first.write_text(header + "".join(r for r, is_low in zip(rows, low, strict=True) if is_low))
    last.write_text(header + "".join(r for r, is_low in zip(rows, low, strict=True) if not is_low))
    return first, last


def _member(home: Path, name: str) -> str:
    """A member of ``bench`` registered and enrolled on ``home``; their address."""
    secret = cli_json(home, "user", "register", name, "--org", "bench", "--roles", "member")
    cli_ok(home, "user", "enroll", name, "--org", "bench", "--secret", secret["secret"])
    users = cli_json(home, "user", "list", "--org", "bench")
    address = str(next(u["address"] for u in users if u["name"] == name))
    cli_ok(home, "channel", "grant", "bench", address, "--role", "member")
    return address


def _second_node(tmp_path: Path, first: Path, rpc: str, ports: tuple[int, int]) -> Path:
    """A home attached to the first's contract, its node key funded (on a real chain its
    organisation pays for its own gas), holding the keystores of ``bench``'s users; each
    node the other's peer, their servers at ``ports`` (sealed blobs come from there)."""
    from carbonledger.adapters.evm import Rpc

    contract = cli_json(first, "chain", "status")["contract"]
    second = tmp_path / "second"
    peer = f"http://127.0.0.1:{ports[0]}"
    cli_ok(second, "chain", "attach", "--rpc", rpc, "--contract", contract, "--peer", peer)
    cli_ok(first, "chain", "peers", "--add", f"http://127.0.0.1:{ports[1]}")
    node_key = json.loads((second / "config.json").read_text())["node"]
    Rpc(rpc).call("anvil_setBalance", node_key, hex(10**22))
    shutil.copytree(first / "keys" / "bench", second / "keys" / "bench")
    return second


def _listed(home: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = cli_json(
        home, "records", "list", "--limit", "0", "--as", "bench/bob"
    )
    return records


def member_nodes(
    anvil_url: str, tmp_path: Path, store: str | None = None
) -> tuple[World, PrivateKey, Any, Any]:
    """A ledger deployed by a first node (``tmp_path/first``), and a second node of its
    chain (``tmp_path/second``, its own key funded; its store ``store``, a database URL,
    else a SQLite file there); carol, a member of acme with access to its channel,
    beside alice. Both nodes in this process: each takes the other's sealed blobs from
    its store. The world, carol's key, the first node, the second."""
    from carbonledger.adapters.evm import EvmLedger, Rpc
    from carbonledger.adapters.evm.exchange import StoreBlobs
    from carbonledger.services.channels import grant
    from tests.conformance.test_evm import _evm_world

    w = _evm_world(anvil_url, tmp_path / "first")
    carol = w.user("acme", "carol", ["member"])
    grant(w.ledger, w.store, w.admin, "acme", carol.address, role="member")
    node_key = PrivateKey.generate()
    Rpc(anvil_url).call("anvil_setBalance", node_key.address, hex(10**22))
    (tmp_path / "second").mkdir()
    first: Any = w.ledger
    second = EvmLedger(
        first.rpc,
        first.address,
        store or tmp_path / "second" / "offchain.db",
        node_key,
        deploy_block=first.deploy_block,
        checkpoint_signer=node_key.address,
    )
    first.exchange, second.exchange = StoreBlobs(second.channels), StoreBlobs(first.channels)
    return w, carol, first, second


@pytest.mark.parametrize("signers", ["two users", "one user on both nodes"])
def test_two_nodes_import_at_the_same_time(tmp_path: Path, node: Any, signers: str) -> None:
    first = evm_home(tmp_path / "first", node.url, SITES, passphrase=PASS).path
    _member(first, "alice")
    _member(first, "bob")
    ports = free_port(), free_port()
    second = _second_node(tmp_path, first, node.url, ports)
    early, late = _halves(tmp_path)
    on_first = ("--as", "bench/alice") if signers == "two users" else ("--as", "bench/bob")

    # Both nodes serve (each reads the other's entries back before it writes, their sealed
    # blobs fetched from the other's server).
    with serving(first, port=ports[0]), serving(second, port=ports[1]):
        procs = [
            _importing(first, early, *on_first),
            _importing(second, late, "--as", "bench/bob"),
        ]
        rows = SITES * MONTHS // 2
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, out + err
            assert "Traceback" not in err
            report = json.loads(out)
            assert (report["recorded"], report["duplicates"], report["rejected"]) == (rows, 0, [])
        for home in (first, second):
            cli_json(home, "chain", "sync")
    for home in (first, second):
        status = cli_json(home, "chain", "status")
        assert status["entries_on_chain"] == status["entries_off_chain"]
        assert cli_json(home, "verify")["ok"] is True
        records = _listed(home)
        # every row once: 60 sites x 12 months, one record per account and month
        keys = [(r["site"], r["account"], r["period"]["start"]) for r in records]
        assert len(keys) == len(set(keys)) == SITES * MONTHS
    assert [r["id"] for r in _listed(first)] == [r["id"] for r in _listed(second)]


def test_the_same_calculation_basis_from_two_nodes_at_once(anvil_url: str, tmp_path: Path) -> None:
    """Two members of one organisation, each on their own node, import bills of the same
    site and year at once: both need the same calculation basis, which neither store
    holds when its import starts, so both send it. Both imports finish, and both nodes
    follow both entries."""
    from carbonledger.core.domain import Bill
    from carbonledger.factors import FactorCatalog
    from carbonledger.ports.ledger import ItemQuery
    from carbonledger.services.importer import ImportSession, import_bills

    def bill(month: int) -> Bill:
        start = date(2023, month, 1)
        return Bill("acme-chi", "meter-1", start, start + timedelta(days=27), Decimal(1000), "kWh")

    w, carol, first, second = member_nodes(anvil_url, tmp_path)
    try:
        catalog = FactorCatalog()
        late = ImportSession(second, carol, catalog, store=second.channels)  # no basis yet
        assert not late.state.bases
        early = import_bills(first, w.alice, catalog, [bill(1)], store=w.store)
        assert early.recorded == 1  # with the basis both need
        late.add([bill(2)])
        assert late.finish().recorded == 1  # with the same basis again
        for ledger in (first, second):
            ledger.sync()
            assert ledger.verify().ok
            records = list(ledger.items(ItemQuery(kind="emissions_record", site="acme-chi")))
            assert len(records) == 2
    finally:
        second.close()
        first.close()
