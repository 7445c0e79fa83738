"""What another process commits to the ledger file, the server's very next request sees.

A server takes in other processes' commits once a request (and once a batch of
writes), not at each lookup: these tests run the CLI as its own process on the
served home between two requests, and check that the request right after it
already answers from the CLI's commit: a bill recorded, a duplicate refused, an
identity revoked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api_helpers import OPENTAPS_RECORD, PASS, Served, hq_bill, served
from tests.process_helpers import run_cli


@pytest.fixture
def api(tmp_path: Path) -> Served:
    return served(tmp_path / "home")


def _cli_bill(api: Served, tmp_path: Path, account: str) -> None:
    """``account``'s January 2024 bill of 1,000 kWh at ``hq``, recorded by the CLI as alice."""
    csv = tmp_path / f"{account}.csv"
    csv.write_text(f"account,start,end,amount,unit\n{account},2024-01-01,2024-01-31,1000,kWh\n")
    done = run_cli(api.home.path, "bills", "import", str(csv), "--site", "hq", "--as", "acme/alice")
    assert done.returncode == 0, done.stdout + done.stderr


def _accounts(api: Served, auth: dict[str, str]) -> list[str]:
    res = api.client.get("/api/v1/records", params={"site": "hq"}, headers=auth)
    assert res.status_code == 200, res.text
    return sorted(item["account"] for item in res.json()["items"])


def test_a_bill_recorded_by_the_cli_is_listed_and_counted_at_the_next_request(
    api: Served, tmp_path: Path
) -> None:
    alice = api.sign_in(api.users["alice"], PASS)
    res = api.client.post("/api/v1/bills", json=[hq_bill("api-1")], headers=alice)
    assert res.status_code == 201, res.text
    assert _accounts(api, alice) == ["api-1"]
    assert _accounts(api, alice) == ["api-1"]  # the server's own view, read twice

    _cli_bill(api, tmp_path, "cli-1")
    assert _accounts(api, alice) == ["api-1", "cli-1"]

    # The same bill again through the API: the batch that judges it sees the CLI's
    # record, so it is a duplicate, not a second record.
    again = api.client.post("/api/v1/bills", json=[hq_bill("cli-1")], headers=alice)
    assert again.status_code in (200, 201, 409), again.text
    assert again.json().get("recorded", 0) == 0, again.text
    assert _accounts(api, alice) == ["api-1", "cli-1"]

    # And a write of the API right after another of the CLI's goes on the new head.
    _cli_bill(api, tmp_path, "cli-2")
    res = api.client.post("/api/v1/bills", json=[hq_bill("api-2")], headers=alice)
    assert res.status_code == 201, res.text
    assert _accounts(api, alice) == ["api-1", "api-2", "cli-1", "cli-2"]
    verified = run_cli(api.home.path, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_reader_revoked_by_the_cli_is_refused_at_the_next_request(api: Served) -> None:
    alice = api.sign_in(api.users["alice"], PASS)
    res = api.client.post("/api/v1/bills", json=[hq_bill("api-1")], headers=alice)
    assert res.status_code == 201, res.text
    assert _accounts(api, alice) == ["api-1"]
    revoked = run_cli(api.home.path, "user", "revoke", "acme/alice", "--reason", "test")
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    page = api.client.get("/api/v1/records", params={"site": "hq"}, headers=alice)
    assert page.status_code in (401, 403), page.text


def test_a_service_account_revoked_by_the_cli_is_refused_at_the_next_request(
    api: Served,
) -> None:
    form = {
        "utilityId": "USA_EIA_4110",
        "partyId": "p1",
        "energyUseAmount": "1000",
        "energyUseUom": "kWh",
    }

    def record(month: int) -> int:
        dates = {
            "fromDate": f"2023-{month:02d}-01T00:00:00Z",
            "thruDate": f"2023-{month:02d}-20T00:00:00Z",
        }
        res = api.client.post(
            OPENTAPS_RECORD,
            params={"userId": "erp"},
            data={**form, **dates},
            headers={"vault_token": api.erp_token},
        )
        return res.status_code

    assert record(1) == 201
    assert record(2) == 201
    revoked = run_cli(api.home.path, "user", "revoke", "acme/erp", "--reason", "test")
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    assert record(3) in (401, 403)
    assert record(4) in (401, 403)


def _billed(api: Served, auth: dict[str, str], account: str) -> tuple[int, dict[str, object]]:
    """The epoch ``account``'s record is sealed in and what was billed, opened by the API."""
    page = api.client.get("/api/v1/records", params={"site": "hq"}, headers=auth).json()
    (item,) = [i for i in page["items"] if i["account"] == account]
    res = api.client.get(f"/api/v1/records/{item['id']}", headers=auth)
    assert res.status_code == 200, res.text
    assert "sealed" not in res.json(), res.json()  # its details opened
    return int(item["detail"]["epoch"]), res.json()["billed"]


def test_a_channel_rotated_by_the_cli_seals_the_next_batch_under_its_new_key(
    api: Served,
) -> None:
    alice = api.sign_in(api.users["alice"], PASS)
    for account in ("before-1", "before-2"):  # two batches under epoch 0's key
        res = api.client.post("/api/v1/bills", json=[hq_bill(account)], headers=alice)
        assert res.status_code == 201, res.text
    assert _billed(api, alice, "before-2")[0] == 0

    rotated = run_cli(api.home.path, "channel", "rotate", "acme")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    res = api.client.post("/api/v1/bills", json=[hq_bill("after")], headers=alice)
    assert res.status_code == 201, res.text
    epoch, billed = _billed(api, alice, "after")
    assert epoch == 1  # sealed under the new epoch's key, which the members can open
    assert billed["amount"] == "1000"
    assert _billed(api, alice, "before-1")[0] == 0  # and the old one still opens


def test_a_member_revoked_from_the_channel_by_the_cli_writes_nothing_more(
    api: Served,
) -> None:
    alice = api.sign_in(api.users["alice"], PASS)
    res = api.client.post("/api/v1/bills", json=[hq_bill("kept")], headers=alice)
    assert res.status_code == 201, res.text

    revoked = run_cli(api.home.path, "channel", "revoke", "acme", "acme/alice")
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    refused = api.client.post("/api/v1/bills", json=[hq_bill("refused")], headers=alice)
    assert refused.json()["recorded"] == 0, refused.text
    (rejected,) = refused.json()["rejected"]
    assert "not a member of channel 'acme'" in rejected["reason"]
    erp = api.sign_in(api.users["erp"], PASS)
    page = api.client.get("/api/v1/records", params={"site": "hq"}, headers=erp).json()
    assert sorted(i["account"] for i in page["items"]) == ["kept"]
