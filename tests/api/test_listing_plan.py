"""Listing a site's records is an indexed query, however many records the ledger holds.

Every statement the embedded ledger runs while the API lists a site's records is
recorded (SQLite's trace callback on its connections), and SQLite's own planner
is asked how it runs the listing's statement on the ledger file: through the
``leaf_site_kind`` index, in ledger order as the index holds it (no sort of every
match), never a scan of every leaf.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import carbonledger.adapters.sqlite.ledger as sqlite_ledger
from tests.api_helpers import PASS, Served, served

V1 = "/api/v1"


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement run on the embedded ledger's connections opened from now on."""
    run: list[str] = []
    connect: Callable[..., sqlite3.Connection] = sqlite_ledger.connect

    def traced(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(run.append)
        return conn

    monkeypatch.setattr(sqlite_ledger, "connect", traced)
    return run


def _plan(api: Served, statement: str) -> list[str]:
    """How SQLite runs ``statement`` on the ledger file, step by step."""
    with closing(sqlite3.connect(api.home.path / "ledger.db")) as db:
        return [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}")]


def test_a_site_s_records_are_listed_through_the_site_index(
    tmp_path: Path, statements: list[str]
) -> None:
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
    plan = _plan(api, listing[0])
    assert any("USING INDEX leaf_site_kind" in step for step in plan), plan
    assert not any(step.startswith("SCAN leaf") for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


def _bills(sites: tuple[str, ...], months: int) -> list[dict[str, str]]:
    return [
        {
            "site": site,
            "account": f"{site}-meter",
            "start": f"2024-{m:02d}-01",
            "end": f"2024-{m:02d}-28",
            "amount": str(1000 + m),
            "unit": "kWh",
        }
        for m in range(1, months + 1)
        for site in sites
    ]


def test_pages_follow_ledger_order_each_record_once(tmp_path: Path) -> None:
    api = served(tmp_path / "home")
    alice = api.sign_in(api.users["alice"], PASS)
    outsider = api.sign_in(api.users["dana"], PASS)  # an auditor never granted acme's channel
    assert (
        api.client.post(f"{V1}/bills", json=_bills(("hq", "plant"), 12), headers=alice).json()[
            "recorded"
        ]
        == 24
    )
    with closing(sqlite3.connect(api.home.path / "ledger.db")) as db:
        stored = {
            idx: json.loads(data)
            for idx, data in db.execute(
                "SELECT idx, data FROM leaf WHERE kind = 'emissions_record' AND site = 'plant'"
                " ORDER BY idx"
            )
        }
    assert len(stored) == 12
    for who in (alice, outsider):
        seen: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            page = api.client.get(
                f"{V1}/records", params={"site": "plant", "limit": 5, "offset": offset}, headers=who
            ).json()
            assert page["offset"] == offset
            assert page["limit"] == 5
            seen += page["items"]
            offset = page["next_offset"]
        # 12 records in pages of 5, 5 and 2: in ledger order, each once, none left out
        assert [r["leaf_index"] for r in seen] == list(stored)
        for record in seen:
            public = stored[record["leaf_index"]]
            if who is outsider:  # exactly the stored public item, nothing opened
                assert record == {"leaf_index": record["leaf_index"], **public}
            else:  # the member view: the public item with the account and results opened
                assert record["id"] == public["id"]
                assert record["trace"]["basis"] == public["trace"]["basis"]
                assert record["account"] == "plant-meter"
                assert record["account_ref"] == public["account"]
                assert Decimal(record["kg_co2e"]) > 0
    # a page past the end is empty, and says there is no next one
    past = api.client.get(
        f"{V1}/records", params={"site": "plant", "offset": 12}, headers=alice
    ).json()
    assert past == {"items": [], "offset": 12, "limit": 100, "next_offset": None}


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"limit": "ten"}, "limit"),
        ({"since": "2024-13-01"}, "since"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_listing_query_is_refused_naming_it(
    tmp_path_factory: pytest.TempPathFactory, params: dict[str, str], reason: str
) -> None:
    api = served(tmp_path_factory.mktemp("bad") / "home")
    alice = api.sign_in(api.users["alice"], PASS)
    res = api.client.get(f"{V1}/records", params=params, headers=alice)
    assert res.status_code == 422, res.text
    assert res.headers["content-type"].startswith("application/problem+json")
    assert reason in res.text


def test_an_organisation_s_records_are_listed_through_the_org_index(
    tmp_path: Path, statements: list[str]
) -> None:
    api = served(tmp_path / "home")
    alice = api.sign_in(api.users["alice"], PASS)
    assert (
        api.client.post(f"{V1}/bills", json=_bills(("hq",), 6), headers=alice).json()["recorded"]
        == 6
    )
    statements.clear()
    res = api.client.get(f"{V1}/records", params={"org": "acme", "limit": 4}, headers=alice)
    assert res.status_code == 200, res.text
    assert len(res.json()["items"]) == 4
    assert res.json()["next_offset"] == 4
    listing = [s for s in statements if "FROM leaf" in s and "'acme'" in s]
    assert len(listing) == 1, statements
    plan = _plan(api, listing[0])
    assert any("USING INDEX leaf_org_kind" in step for step in plan), plan
    assert not any(step.startswith("SCAN leaf") for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan
