"""Synthetic but realistic workloads for the benchmarks: sites on real ZIPs and countries."""

from __future__ import annotations

import io
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.core.domain import Organisation, Site
from carbonledger.core.tx import build_tx, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.services.registry import register_orgs, register_sites

US = [
    ("60601", "4110"),
    ("94105", "16612"),
    ("10001", "4226"),
    ("78701", "1015"),
    ("98101", "16868"),
    ("02108", "54913"),
]
EU = ["DE", "FR", "PL", "GB", "ES", "IT", "NL", "SE"]


def sites(n: int) -> list[Site]:
    out = []
    for i in range(n):
        if i % 2:
            z, u = US[i % len(US)]
            out.append(Site(f"site{i}", "bench", f"Site {i}", "US", z, utility_id=u))
        else:
            out.append(Site(f"site{i}", "bench", f"Site {i}", EU[i % len(EU)]))
    return out


def bills_csv(n_sites: int, months: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    buf = io.StringIO()
    buf.write("site,account,start,end,amount,unit,cost,currency\n")
    for m in range(months):
        start = date(2015 + m // 12, m % 12 + 1, 1)
        end = date(start.year + (start.month == 12), start.month % 12 + 1, 1) - timedelta(days=1)
        for i in range(n_sites):
            kwh = rng.randint(1_000, 900_000)
            buf.write(f"site{i},site{i}-E1,{start},{end},{kwh},kWh,{kwh * 0.15:.2f},USD\n")
    return buf.getvalue()


def new_ledger(path: Path, key: PrivateKey, n_sites: int) -> SqliteLedger:
    ledger = SqliteLedger(path, operator=key)
    ledger.submit(
        [
            build_tx(
                key,
                tx_type="genesis",
                ledger_id="cl-bench",
                nonce=0,
                created=utc_now(),
                items=[
                    {
                        "kind": "ledger",
                        "id": "cl-bench",
                        "name": "bench",
                        "admin": key.address,
                        "admin_public_key": key.public_key.to_bytes().hex(),
                    }
                ],
            )
        ]
    )
    register_orgs(ledger, ledger.channels, key, [Organisation("bench", "Bench Co")])
    register_sites(ledger, key, sites(n_sites))
    return ledger


def warm_catalog(catalog: Any, n_sites: int) -> None:
    """Resolve each site's electricity factor once, so every file the import needs is loaded."""
    from carbonledger.services.importer import site_location

    for site in sites(min(n_sites, len(US) + len(EU))):
        catalog.resolve("electricity", site_location(site.item()), year=2023)
