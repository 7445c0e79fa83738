"""A bills CSV of any size uploaded to an attached node's API is recorded, once.

One anvil chain; the first home deployed the ledger, the second attached to it with
``chain attach`` and serves its own API. Organisation B's admin, enrolled on the second node
(her key in its keystore), signs in there and uploads 1,800 bills through
``POST /api/v1/bills/csv``: more than one EVM transaction may carry, so the node
splits them between transactions that each fit a block. Every bill is recorded once;
the same upload again records nothing twice; both nodes verify against the chain.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from carbonledger.services.home import Home
from tests.api_helpers import PASS, sign_in_over_http
from tests.evm_homes import cli_json, cli_ok, org_b_joins
from tests.process_helpers import serving

#: 75 meters x 24 months, a bill each: 1,800 rows (480 rows used to be the most an
#: upload to an attached node could hold).
ACCOUNTS, MONTHS = 75, 24


def _upload(url: str, auth: dict[str, str], csv: Path) -> dict[str, Any]:
    with csv.open("rb") as fh:
        res = httpx.post(
            f"{url}/api/v1/bills/csv",
            files={"file": ("bills.csv", fh, "text/csv")},
            headers=auth,
            timeout=900,
        )
    assert res.status_code == 201, res.text
    out: dict[str, Any] = res.json()
    return out


def _bills_csv(path: Path) -> Path:
    """1,800 bills of one site: 75 meters (accounts) x 24 months of 2022 and 2023."""
    rows = ["site,account,start,end,amount,unit"]
    for meter in range(ACCOUNTS):
        for month in range(MONTHS):
            year, m = 2022 + month // 12, month % 12 + 1
            end = monthrange(year, m)[1]
            rows.append(
                f"b-plant,meter-{meter},{year}-{m:02d}-01,{year}-{m:02d}-{end},"
                f"{1000 + meter * 10 + month},kWh"
            )
    path.write_text("\n".join(rows) + "\n")
    return path


def test_an_upload_of_1800_bills_to_an_attached_node_is_recorded_once(
    tmp_path: Path, node: Any
) -> None:
    # Organisation B joins from its own node (its CA key stays there); the network
    # admin registers it and its admin, who enrolls on B's node and adds B's site.
    first, second = org_b_joins(tmp_path, node.url, passphrase=PASS)
    cli_ok(first, "channel", "grant", "orgb", "orgb/bea")
    cli_ok(second, "site", "add", "b-plant", "--org", "orgb", "--name", "B Plant", "--country",
           "US", "--zip", "60601", "--utility", "4110", "--as", "orgb/bea")  # fmt: skip
    csv = _bills_csv(tmp_path / "bills.csv")

    with serving(second) as url:
        bea = sign_in_over_http(url, Home(second).user_key("orgb", "bea", PASS))
        done = _upload(url, bea, csv)
        assert (done["rows"], done["recorded"], done["duplicates"]) == (1800, 1800, 0)
        assert done["rejected"] == []
        assert len(set(done["record_ids"])) == 1800
        again = _upload(url, bea, csv)  # a client retrying: nothing is recorded twice
        assert (again["rows"], again["recorded"], again["duplicates"]) == (1800, 0, 1800)

        cli_ok(first, "chain", "peers", "--add", url)  # the sealed blobs come from B's node
        for home in (first, second):
            cli_ok(home, "chain", "sync")
            assert cli_json(home, "verify")["ok"] is True
            chain = cli_json(home, "chain", "status")
            assert chain["entries_on_chain"] == chain["entries_off_chain"]
            records = cli_json(home, "records", "list", "--limit", "0")
            assert sorted(r["id"] for r in records) == sorted(done["record_ids"])


def test_a_transaction_too_big_for_any_block_is_refused_before_it_is_sent(
    anvil_url: str, tmp_path: Path
) -> None:
    from carbonledger.core.domain import Bill
    from carbonledger.errors import InvalidInput
    from carbonledger.factors import FactorCatalog
    from carbonledger.services.importer import import_bills
    from tests.conformance.test_evm import _evm_world

    w = _evm_world(anvil_url, tmp_path)
    ledger: Any = w.ledger
    try:
        sender = ledger._sender.address
        before = ledger.rpc.call("eth_getTransactionCount", sender, "pending")
        entries = len(ledger.chain_entries())
        # Bounds raised past what a block holds: 5,000 records signed in one transaction
        # take about 1.2 MB of calldata (238 bytes a record, its sealed blob not among
        # them), whose EIP-7623 floor (nearly all non-zero bytes at 40 gas: about 47 M
        # gas) is over a 30 M gas block.
        ledger.max_tx_items = 5_000
        bills = [
            Bill(
                "acme-chi", f"meter-{i}", date(2023, 1, 1), date(2023, 1, 31), Decimal(1000), "kWh"
            )
            for i in range(5_000)
        ]
        with pytest.raises(InvalidInput, match="sign at most 5000 items per transaction"):
            import_bills(ledger, w.alice, FactorCatalog(), bills, store=w.store, batch_size=5_000)
        # Nothing was sent (no nonce taken, nothing waits in the pool) or recorded.
        assert ledger.rpc.call("eth_getTransactionCount", sender, "pending") == before
        assert len(ledger.chain_entries()) == entries
        ledger.max_tx_items = 100  # the backend's own bound: the same bills go through
        done = import_bills(ledger, w.alice, FactorCatalog(), bills, store=w.store)
        assert done.recorded == 5_000
        assert ledger.verify().ok
    finally:
        ledger.close()
