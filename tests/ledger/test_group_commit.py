"""Group commit: concurrent writers share commits; nothing is lost or recorded twice."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date
from decimal import Decimal
from pathlib import Path

from carbonledger.adapters.group_commit import GroupCommitLedger
from carbonledger.core.domain import Bill, Organisation, Site
from carbonledger.factors import FactorCatalog
from carbonledger.services.home import Home
from carbonledger.services.importer import ImportReport, import_bills
from carbonledger.services.registry import register_orgs, register_sites

THREADS, BILLS_EACH = 8, 12


def test_concurrent_writers_share_commits(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    key = home.init("gc", scrypt_n=2**10)
    inner = home.ledger(key)
    register_orgs(inner, inner.channels, key, [Organisation("acme", "Acme")])
    register_sites(inner, key, [Site("hq", "acme", "HQ", "US", "60601", utility_id="4110")])
    ledger = GroupCommitLedger(inner)
    catalog = FactorCatalog()
    lock = threading.Lock()
    reports: list[ImportReport] = []
    start_entries = ledger.latest_checkpoint().size

    def writer(n: int) -> None:
        for m in range(BILLS_EACH):
            # thread n owns account A{n}; every thread also sends one shared bill (a duplicate)
            account = "shared" if m == 0 else f"A{n}"
            bill = Bill(
                "hq", account, date(2023, 1, 1 + m), date(2023, 1, 1 + m), Decimal(100 + m), "kWh"
            )
            with lock, ledger.deferred():
                report = import_bills(ledger, key, catalog, [bill], store=ledger.channels)
            ledger.wait()
            reports.append(report)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recorded = sum(r.recorded for r in reports)
    duplicates = sum(r.duplicates for r in reports)
    assert recorded == THREADS * (BILLS_EACH - 1) + 1  # the shared bill once
    assert duplicates == THREADS - 1
    report = ledger.verify()
    assert report.ok, report.error
    con = sqlite3.connect(home.ledger_file)
    records = con.execute("SELECT COUNT(*) FROM leaf WHERE kind = 'emissions_record'").fetchone()[0]
    commits = con.execute(
        "SELECT COUNT(*) FROM checkpoint WHERE size > ?", (start_entries,)
    ).fetchone()[0]
    con.close()
    assert records == recorded
    # every record was its own transaction, but commits were shared between writers
    txs = recorded + 1  # one calculation basis rode along with the first record
    assert commits < txs
    ledger.close()
