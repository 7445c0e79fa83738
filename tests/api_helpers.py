"""A served ledger for API tests: organisations, a site, users with keys, a service account."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from carbonledger.api import create_app
from carbonledger.api.context import AppContext, ServiceAccount, new_api_token
from carbonledger.core.domain import Organisation, Site
from carbonledger.crypto.keys import PrivateKey, eip191_digest
from carbonledger.crypto.keystore import encrypt_key, save_keystore
from carbonledger.services.channels import grant
from carbonledger.services.home import Home
from carbonledger.services.identity import enroll, make_enrolment_request, register_user
from carbonledger.services.registry import register_orgs, register_sites

PASS = "api-test-passphrase"


@dataclass
class Served:
    home: Home
    ctx: AppContext
    client: TestClient
    admin: PrivateKey
    users: dict[str, PrivateKey]
    erp_token: str

    def sign_in(self, key: PrivateKey, passphrase: str | None = None) -> dict[str, str]:
        ch = self.client.post("/api/v1/auth/challenge", json={"address": key.address}).json()
        sig = key.sign_digest(eip191_digest(ch["message"].encode())).hex()
        body = {"message": ch["message"], "signature": sig, "passphrase": passphrase}
        res = self.client.post("/api/v1/auth/login", json=body)
        assert res.status_code == 200, res.text
        return {"Authorization": f"Bearer {res.json()['token']}"}


def enroll_user(
    home: Home, ledger: object, admin: PrivateKey, org: str, name: str, roles: list[str]
) -> PrivateKey:
    secret = register_user(ledger, admin, org=org, name=name, roles=roles)  # type: ignore[arg-type]
    key, request = make_enrolment_request(org, name, secret)
    cert = home.ca.issue(ledger, request, PASS)  # type: ignore[arg-type]
    path = home.user_keystore(org, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_keystore(path, encrypt_key(key, PASS, n=2**10))
    enroll(ledger, key, request, cert)  # type: ignore[arg-type]
    return key


def served(path: Path) -> Served:
    home = Home(path)
    admin = home.init(PASS, scrypt_n=2**10)
    ledger = home.ledger(admin)
    orgs = [Organisation("acme", "Acme Corp", "US"), Organisation("audits", "Audit Firm", "GB")]
    certs = {o.id: home.ca.create_org(o.id, o.name, PASS) for o in orgs}
    register_orgs(ledger, ledger.channels, admin, orgs, ca_certs=certs)
    register_sites(
        ledger,
        admin,
        [
            Site("hq", "acme", "HQ", "US", "60601", utility_id="4110"),
            Site("plant", "acme", "Plant", "US", "78701", utility_id="1015"),
        ],
    )
    users = {
        "alice": enroll_user(home, ledger, admin, "acme", "alice", ["member"]),
        "dana": enroll_user(home, ledger, admin, "audits", "dana", ["auditor"]),
        "erp": enroll_user(home, ledger, admin, "acme", "erp", ["member"]),
    }
    grant(ledger, ledger.channels, admin, "acme", users["alice"].address, role="member")
    grant(ledger, ledger.channels, admin, "acme", users["erp"].address, role="member")
    token = new_api_token(home, ServiceAccount("acme", "erp", users["erp"].address))
    ledger.close()
    ctx = AppContext.open(home, PASS)
    return Served(home, ctx, TestClient(create_app(ctx)), admin, users, token)


OPENTAPS_RECORD = "/api/v1/utilityemissionchannel/emissionscontract/recordEmissions"


def hq_bill(account: str, month: int = 1, **changes: object) -> dict[str, object]:
    """One 1,000 kWh bill of the served home's site ``hq`` for ``month`` of 2024 (its 1st
    to its 28th, or January's whole month), with ``changes`` to any field."""
    end = "2024-01-31" if month == 1 else f"2024-{month:02d}-28"
    bill: dict[str, object] = {
        "site": "hq",
        "account": account,
        "start": f"2024-{month:02d}-01",
        "end": end,
        "amount": "1000",
        "unit": "kWh",
    }
    return {**bill, **changes}


def post_opentaps(url: str, token: str, month: int) -> httpx.Response:
    """opentaps SEAS' ``recordEmissions`` for 1,000 kWh in ``month`` of 2023 (days 1-20),
    sent by the ``erp`` service account of :func:`served` to a real server at ``url``."""
    data = {
        "utilityId": "USA_EIA_4110",
        "partyId": "p1",
        "fromDate": f"2023-{month:02d}-01T00:00:00Z",
        "thruDate": f"2023-{month:02d}-20T00:00:00Z",
        "energyUseAmount": "1000",
        "energyUseUom": "kWh",
    }
    return httpx.post(
        f"{url}{OPENTAPS_RECORD}",
        params={"userId": "erp"},
        data=data,
        headers={"vault_token": token},
        timeout=60,
    )


def sign_in_over_http(url: str, key: PrivateKey, passphrase: str = PASS) -> dict[str, str]:
    """EIP-4361 sign-in at a running server with the user's own key, opting in to a key
    session (the keystore the server's home keeps); the bearer header."""
    ch = httpx.post(f"{url}/api/v1/auth/challenge", json={"address": key.address}).json()
    sig = key.sign_digest(eip191_digest(ch["message"].encode())).hex()
    body = {"message": ch["message"], "signature": sig, "passphrase": passphrase}
    res = httpx.post(f"{url}/api/v1/auth/login", json=body, timeout=30)
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['token']}"}


def records_over_http(url: str, auth: dict[str, str]) -> list[dict[str, Any]]:
    """``GET /api/v1/records`` at a running server, the first 1,000."""
    res = httpx.get(f"{url}/api/v1/records", headers=auth, params={"limit": 1000}, timeout=60)
    assert res.status_code == 200, res.text
    items: list[dict[str, Any]] = res.json()["items"]
    return items
