"""Listing a site's records is an indexed query, however many records the ledger holds.

Every statement the embedded ledger runs while the API lists a site's records is
recorded (SQLite's trace callback on its connections), and SQLite's own planner
is asked how it runs the listing's statement on the ledger file: through the
``leaf_site`` index, never a scan of every leaf.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

import carbonledger.adapters.sqlite.ledger as sqlite_ledger
from tests.api_helpers import PASS, served

V1 = "/api/v1"


def test_a_site_s_records_are_listed_through_the_site_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[str] = []
    connect: Callable[..., sqlite3.Connection] = sqlite_ledger.connect

    def traced(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(sqlite_ledger, "connect", traced)
    api = served(tmp_path / "home")
    alice = api.sign_in(api.users["alice"], PASS)
    bills = [
        {
            "site": site,
            "account": f"{site}-meter",
            "start": f"2024-{m:02d}-01",
            "end": f"2024-{m:02d}-28",
            "amount": "1000",
            "unit": "kWh",
        }
        for m in range(1, 13)
        for site in ("hq", "plant")
    ]
    assert api.client.post(f"{V1}/bills", json=bills, headers=alice).json()["recorded"] == 24
    statements.clear()
    res = api.client.get(f"{V1}/records", params={"site": "plant", "limit": 5}, headers=alice)
    assert res.status_code == 200, res.text
    assert {r["site"] for r in res.json()["items"]} == {"plant"}
    listing = [s for s in statements if "FROM leaf" in s and "'plant'" in s]
    assert len(listing) == 1, statements
    with closing(sqlite3.connect(api.home.path / "ledger.db")) as db:
        plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {listing[0]}")]
    assert any("USING INDEX leaf_site" in step for step in plan), plan
    assert not any(step.startswith("SCAN leaf") for step in plan), plan
