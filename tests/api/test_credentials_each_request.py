"""Credentials are judged at every request, however often they were accepted before.

The server remembers which bearer tokens it has already checked (so a busy client
does not pay the signature check each time); an attacker must gain nothing from
that: a token altered after its genuine form was accepted is refused, and a
revocation recorded by another process (``carbonledger user revoke`` while the
server runs) refuses the very next request of the revoked identity, whether it
signs in with a session token or sends a service account's API token.
"""

from __future__ import annotations

import base64
import json

import pytest

from carbonledger.services.identity import revoke_user
from tests.api_helpers import PASS, Served, hq_bill, served

V1 = "/api/v1"
OPENTAPS = f"{V1}/utilityemissionchannel/emissionscontract"


@pytest.fixture
def api(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return served(tmp_path_factory.mktemp("credentials") / "home")


def _revoke_elsewhere(api: Served, address: str) -> None:
    """Revoke ``address`` through a ledger opened apart from the server's, as the CLI does."""
    ledger = api.home.ledger(api.admin)
    try:
        revoke_user(ledger, api.admin, api.home.ca, address, reason="left", ca_passphrase=PASS)
    finally:
        ledger.close()


def test_a_revoked_user_s_session_token_is_refused_at_the_next_request(api: Served) -> None:
    alice = api.sign_in(api.users["alice"], PASS)
    first = api.client.post(f"{V1}/bills", json=[hq_bill("m-1")], headers=alice)
    assert first.status_code == 201, first.text
    assert first.json()["recorded"] == 1
    assert api.client.get(f"{V1}/records", headers=alice).status_code == 200

    _revoke_elsewhere(api, api.users["alice"].address)

    for res in (
        api.client.get(f"{V1}/records", headers=alice),
        api.client.post(f"{V1}/bills", json=[hq_bill("m-2")], headers=alice),
    ):
        assert res.status_code == 403, res.text
        assert res.headers["content-type"] == "application/problem+json"
        assert "no longer an active identity" in res.json()["detail"]
    # nothing of the refused request was recorded
    admin = api.sign_in(api.admin)
    listed = api.client.get(f"{V1}/records", headers=admin).json()["items"]
    assert [r["id"] for r in listed] == first.json()["record_ids"]


def test_a_revoked_service_account_s_api_token_is_refused_at_the_next_request(
    api: Served,
) -> None:
    form = {
        "utilityId": "USA_EIA_4110",
        "partyId": "meter-7",
        "fromDate": "2024-01-01T00:00:00Z",
        "thruDate": "2024-01-31T23:59:59Z",
        "energyUseAmount": "1000",
        "energyUseUom": "kWh",
    }
    headers = {"vault_token": api.erp_token}
    res = api.client.post(
        f"{OPENTAPS}/recordEmissions", params={"userId": "erp"}, data=form, headers=headers
    )
    assert res.status_code == 201, res.text

    _revoke_elsewhere(api, api.users["erp"].address)

    again = api.client.post(
        f"{OPENTAPS}/recordEmissions",
        params={"userId": "erp"},
        data={**form, "fromDate": "2024-02-01", "thruDate": "2024-02-29"},
        headers=headers,
    )
    assert again.status_code == 403, again.text
    assert "'erp' is not active" in again.json()["detail"]
    bearer = api.client.get(f"{V1}/records", headers={"Authorization": f"Bearer {api.erp_token}"})
    assert bearer.status_code == 403


def test_a_token_altered_after_its_genuine_form_was_accepted_is_refused(api: Served) -> None:
    alice = api.sign_in(api.users["alice"], PASS)
    assert api.client.get(f"{V1}/records", headers=alice).status_code == 200
    token = alice["Authorization"].removeprefix("Bearer ")
    payload, _, mac = token.partition(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    # the same signature over claims naming another identity (the admin), valid for longer
    forged_claims = {**claims, "sub": api.admin.address, "exp": claims["exp"] + 10**6}
    forged = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).decode().rstrip("=")
    for bad in (
        f"{forged}.{mac}",
        f"{payload}.{mac[:-1]}{'1' if mac.endswith('0') else '0'}",
        f"{payload}x.{mac}",
        payload,
    ):
        res = api.client.get(f"{V1}/records", headers={"Authorization": f"Bearer {bad}"})
        assert res.status_code == 401, (bad, res.text)
        assert "not valid" in res.json()["detail"]
    # the genuine token still works
    assert api.client.get(f"{V1}/records", headers=alice).status_code == 200
