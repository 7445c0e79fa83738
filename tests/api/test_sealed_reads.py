"""Sealed details through the API: what one caller's read opened is never another's.

The server keeps the sealed blobs it has opened, so that a page of records does not
decrypt whole blobs at every request. Each read must still obey the grant at read
time: a caller who is not a member sees public fields only, even right after a
member's read opened the very blob; a member removed from the channel sees public
fields only from the next request on; a member still in it sees the figures.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.api_helpers import PASS, Served, hq_bill, served

V1 = "/api/v1"
# eGRID2023r2 RFCW (ZIP 60601) 916.054 lb CO2e/MWh x 0.45359237 kg/lb, for 1000 kWh:
RFCW_KG_PER_MWH = Decimal("916.054") * Decimal("0.45359237")


@pytest.fixture
def api(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return served(tmp_path_factory.mktemp("sealed-reads") / "home")


def _listed(api: Served, headers: dict[str, str]) -> list[dict[str, object]]:
    res = api.client.get(f"{V1}/records", params={"site": "hq"}, headers=headers)
    assert res.status_code == 200, res.text
    items: list[dict[str, object]] = res.json()["items"]
    return items


def test_each_read_is_judged_by_its_caller_s_grant_now(api: Served) -> None:
    alice = api.sign_in(api.users["alice"], PASS)
    dana = api.sign_in(api.users["dana"], PASS)  # an auditor of another firm, never granted
    admin = api.sign_in(api.admin, PASS)
    bills = [hq_bill("meter-1", m) for m in range(1, 4)]  # January to March, 1,000 kWh each
    res = api.client.post(f"{V1}/bills", json=bills, headers=alice)
    assert res.status_code == 201, res.text
    assert res.json()["recorded"] == 3

    for _ in range(2):  # the second read comes from what the first opened
        mine = _listed(api, alice)
        assert len(mine) == 3
        for item in mine:
            kg = Decimal(str(item["kg_co2e"]))
            assert abs(kg - RFCW_KG_PER_MWH) < Decimal("0.01"), kg
            assert item["account"] == "meter-1"  # the account number, opened
    theirs = _listed(api, dana)
    assert [i["id"] for i in theirs] == [i["id"] for i in mine]
    for item in theirs:
        assert item.get("kg_co2e") is None
        assert item["account"] != "meter-1"  # its public reference only

    gone = api.client.delete(
        f"{V1}/channels/acme/members/{api.users['alice'].address}", headers=admin
    )
    assert gone.status_code == 200, gone.text
    for item in _listed(api, alice):
        assert item.get("kg_co2e") is None
        assert item["account"] != "meter-1"
    detail = api.client.get(f"{V1}/records/{mine[0]['id']}", headers=alice).json()
    assert "billed" not in detail
    assert "not a member of channel 'acme'" in detail["sealed"]
    # the admin, a member still, reads the figures as before
    for item in _listed(api, admin):
        assert abs(Decimal(str(item["kg_co2e"])) - RFCW_KG_PER_MWH) < Decimal("0.01")


def test_a_kept_view_is_given_only_for_the_bytes_it_was_made_from() -> None:
    # A store rebuilt from its chain may hold other bytes at a leaf index: the view kept
    # for the old record must not be served for the new one.
    from carbonledger.api.readers import EncodedViews

    views = EncodedViews(max_views=2)
    views.put(7, b'{"id":"old"}', ("acme", "1"), b'"id":"old","kg_co2e":"1"}')
    assert views.get(7, b'{"id":"new"}') is None
    assert views.get(7, b'{"id":"old"}') == (("acme", "1"), b'"id":"old","kg_co2e":"1"}')
    views.put(8, b"{}", ("acme", "1"), b"}")
    views.put(9, b"{}", ("acme", "1"), b"}")
    assert views.get(7, b'{"id":"old"}') is None  # the oldest out first, two kept
    assert views.get(9, b"{}") is not None
