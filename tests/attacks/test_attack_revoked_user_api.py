"""A revoked user through the API: the bearer token it held before the revocation and a
fresh sign-in. Neither opens a bill recorded after the revocation, nor writes."""

from __future__ import annotations

from pathlib import Path

from carbonledger.crypto.keys import eip191_digest
from carbonledger.services.identity import revoke_user
from tests.access.test_attacks import V1
from tests.api_helpers import PASS as API_PASS
from tests.api_helpers import served

AMOUNT = "123457"


def _bill(start: str, end: str, amount: str) -> dict[str, str]:
    return {"site": "hq", "account": "E1", "start": start, "end": end, "amount": amount,
            "unit": "kWh"}  # fmt: skip


def test_a_revoked_users_old_token_and_new_sign_in_open_nothing_recorded_after(
    tmp_path: Path,
) -> None:
    api = served(tmp_path / "home")
    alice_key = api.users["alice"]
    alice = api.sign_in(alice_key, API_PASS)  # a token taken before the revocation
    first = api.client.post(
        f"{V1}/bills", headers=alice, json=[_bill("2023-01-01", "2023-01-31", "1000")]
    )
    assert first.status_code == 201, first.text
    revoke_user(api.ctx.ledger, api.admin, api.home.ca, alice_key.address, reason="left",
                ca_passphrase=API_PASS)  # fmt: skip
    erp = {"Authorization": f"Bearer {api.erp_token}"}
    later = api.client.post(
        f"{V1}/bills", headers=erp, json=[_bill("2023-02-01", "2023-02-28", AMOUNT)]
    )
    assert later.status_code == 201, later.text
    records = api.client.get(f"{V1}/records", headers=erp).json()["items"]
    assert len(records) == 2
    # the old token: no write, and no later bill's details
    write = api.client.post(
        f"{V1}/bills", headers=alice, json=[_bill("2023-03-01", "2023-03-31", "5")]
    )
    assert write.status_code in (401, 403), write.text
    for record in records:
        res = api.client.get(f"{V1}/records/{record['id']}", headers=alice)
        assert res.status_code < 500
        assert AMOUNT not in res.text
    # a fresh sign-in with the revoked key is refused, or reads no more
    ch = api.client.post(f"{V1}/auth/challenge", json={"address": alice_key.address})
    if ch.status_code == 200:
        message = ch.json()["message"]
        sig = alice_key.sign_digest(eip191_digest(message.encode())).hex()
        body = {"message": message, "signature": sig, "passphrase": API_PASS}
        login = api.client.post(f"{V1}/auth/login", json=body)
        if login.status_code == 200:
            fresh = {"Authorization": f"Bearer {login.json()['token']}"}
            for record in records:
                res = api.client.get(f"{V1}/records/{record['id']}", headers=fresh)
                assert AMOUNT not in res.text
        else:
            assert login.status_code in (401, 403), login.text
