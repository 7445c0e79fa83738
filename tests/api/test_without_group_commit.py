"""The API does not need group commit: given the backend itself, it records and reads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from carbonledger.adapters.group_commit import GroupCommitLedger
from carbonledger.api import create_app
from carbonledger.api.context import AppContext
from carbonledger.factors import FactorCatalog
from tests.api_helpers import OPENTAPS_RECORD, PASS, Served, served


def test_the_api_serves_a_ledger_without_group_commit(tmp_path: Path) -> None:
    made = served(tmp_path / "home")
    made.ctx.ledger.close()
    operator = made.home.key(PASS)
    ledger = made.home.ledger(operator)  # the backend the home names, unwrapped
    ctx = AppContext(made.home, ledger, operator, PASS, FactorCatalog(home=made.home.path))
    ctx.reload_service_accounts()
    assert not isinstance(ctx.ledger, GroupCommitLedger)
    api = Served(
        made.home, ctx, TestClient(create_app(ctx)), made.admin, made.users, made.erp_token
    )
    alice = api.sign_in(api.users["alice"], PASS)

    def post(month: int) -> dict[str, Any]:
        bill = {"site": "hq", "account": "E1", "start": f"2023-{month:02d}-01",
                "end": f"2023-{month:02d}-28", "amount": "1000", "unit": "kWh"}  # fmt: skip
        res = api.client.post("/api/v1/bills", json=[bill], headers=alice)
        assert res.status_code == 201, res.text
        body: dict[str, Any] = res.json()
        return body

    with ThreadPoolExecutor(4) as pool:  # concurrent writers, each committed on its own
        reports = list(pool.map(post, range(1, 9)))
    assert sorted(r["recorded"] for r in reports) == [1] * 8
    assert post(1)["duplicates"] == 1  # nothing counted twice

    erp = api.client.post(
        OPENTAPS_RECORD,
        params={"userId": "erp"},
        data={"utilityId": "USA_EIA_4110", "partyId": "p1", "fromDate": "2023-10-01T00:00:00Z",
              "thruDate": "2023-10-20T00:00:00Z", "energyUseAmount": "1000",
              "energyUseUom": "kWh"},
        headers={"vault_token": api.erp_token},
    )  # fmt: skip
    assert erp.status_code == 201, erp.text

    listed = api.client.get("/api/v1/records", headers=alice, params={"limit": 100}).json()
    assert len(listed["items"]) == 9
    assert api.client.post("/api/v1/verify", headers=alice).json()["ok"] is True
    ctx.ledger.close()
