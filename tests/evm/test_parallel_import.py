"""The parallel import path on the EVM backend: workers read the off-chain store.

Skipped with the reason when anvil is absent; with ``CARBONLEDGER_REQUIRE_EVM=1``
that fails instead.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.api_helpers import served
from tests.conformance.test_evm import _need_evm
from tests.process_helpers import run_cli


def test_bills_import_with_workers_on_an_evm_home(tmp_path: Path) -> None:
    api = served(tmp_path / "home")  # acme with sites hq and plant, member alice
    api.ctx.ledger.close()
    home = api.home.path
    anvil = _need_evm().Anvil()
    try:
        deployed = run_cli(home, "chain", "deploy", "--rpc", anvil.url)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        rows = [
            f"{site},{site}-{n},2023-{m:02d}-01,2023-{m:02d}-28,{100 + n},kWh"
            for site in ("hq", "plant")
            for n in range(5)
            for m in range(1, 13)
        ]
        bills = tmp_path / "bills.csv"
        bills.write_text("site,account,start,end,amount,unit\n" + "\n".join(rows) + "\n")
        args = ("bills", "import", str(bills), "--workers", "2", "--as", "acme/alice", "--json")
        first = run_cli(home, *args)
        assert first.returncode == 0, first.stdout + first.stderr
        assert json.loads(first.stdout)["recorded"] == len(rows) == 120
        again = json.loads(run_cli(home, *args).stdout)
        assert (again["recorded"], again["duplicates"]) == (0, 120)  # nothing twice
        verified = run_cli(home, "verify", "--json")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        report = json.loads(verified.stdout)
        assert any("match the chain's commitments" in n for n in report["notes"])
        status = json.loads(run_cli(home, "chain", "status", "--json").stdout)
        assert status["entries_on_chain"] == status["entries_off_chain"] == report["entries"]
    finally:
        anvil.stop()
