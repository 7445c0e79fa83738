"""The REST API: every route, its authorisation failures and its bad-input errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from carbonledger.core.proofdoc import check_proof
from carbonledger.core.tx import build_tx, utc_now
from carbonledger.crypto import x509ca
from carbonledger.crypto.keys import PrivateKey, eip191_digest
from tests.api_helpers import PASS, Served, served

V1 = "/api/v1"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Served:
    s = served(tmp_path_factory.mktemp("api") / "home")
    alice = s.sign_in(s.users["alice"], PASS)
    bills = [
        {
            "site": "hq",
            "account": "E1",
            "start": f"2023-{m:02d}-01",
            "end": f"2023-{m:02d}-28",
            "amount": str(1000 + m),
            "unit": "kWh",
        }
        for m in range(1, 13)
    ]
    res = s.client.post(f"{V1}/bills", json=bills, headers=alice)
    assert res.status_code == 201, res.text
    return s


def _problem(res: object, status: int) -> dict[str, object]:
    assert res.status_code == status, res.text  # type: ignore[attr-defined]
    assert res.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body: dict[str, object] = res.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert body["detail"]
    return body


def test_sign_in_flow_and_failures(api: Served) -> None:
    key = api.users["alice"]
    ch = api.client.post(f"{V1}/auth/challenge", json={"address": key.address}).json()
    assert key.address in ch["message"]
    assert f"Nonce: {ch['nonce']}" in ch["message"]
    other = PrivateKey.generate().sign_digest(eip191_digest(ch["message"].encode())).hex()
    body = _problem(
        api.client.post(f"{V1}/auth/login", json={"message": ch["message"], "signature": other}),
        401,
    )
    assert "is signed by" in str(body["detail"])
    # the nonce was spent by the failed attempt: a replay is refused
    good = key.sign_digest(eip191_digest(ch["message"].encode())).hex()
    _problem(
        api.client.post(f"{V1}/auth/login", json={"message": ch["message"], "signature": good}), 403
    )
    stranger = PrivateKey.generate()
    ch = api.client.post(f"{V1}/auth/challenge", json={"address": stranger.address}).json()
    sig = stranger.sign_digest(eip191_digest(ch["message"].encode())).hex()
    body = _problem(
        api.client.post(f"{V1}/auth/login", json={"message": ch["message"], "signature": sig}), 403
    )
    assert "not an active identity" in str(body["detail"])
    _problem(api.client.post(f"{V1}/auth/challenge", json={"address": "nope"}), 422)
    _problem(api.client.get(f"{V1}/records", headers={"Authorization": "Bearer x.y"}), 401)


def test_public_routes(api: Served) -> None:
    status = api.client.get(f"{V1}/status").json()
    assert status["organisations"] == 2
    assert status["sites"] == 2
    assert {o["id"] for o in api.client.get(f"{V1}/organisations").json()} == {"acme", "audits"}
    assert [s["id"] for s in api.client.get(f"{V1}/sites", params={"org": "acme"}).json()] == [
        "hq",
        "plant",
    ]
    assert "egrid2022" in {e["edition"] for e in api.client.get(f"{V1}/factors").json()}
    rfcw = api.client.get(f"{V1}/factors/egrid2022", params={"region": "RFCW"}).json()
    assert {f["value"] for f in rfcw if f["gas"] == "co2e"} == {"1005.904"}
    calc = api.client.post(
        f"{V1}/calculate",
        json={"amount": "1000", "unit": "MWh", "subregion": "RFCW", "edition": "egrid2022"},
    )
    assert calc.json()["kg_co2e"] == "456270.379352"  # 1000 x 1005.904 x 0.45359237
    _problem(
        api.client.post(
            f"{V1}/calculate", json={"amount": "1", "unit": "furlong", "subregion": "RFCW"}
        ),
        422,
    )
    body = _problem(api.client.post(f"{V1}/calculate", json={"unit": "kWh"}), 422)
    assert "amount" in str(body["detail"])
    _problem(api.client.get(f"{V1}/factors/egrid1999"), 404)
    assert {
        i["name"] for i in api.client.get(f"{V1}/identities", params={"org": "acme"}).json()
    } == {"alice", "erp"}


def test_records_pagination_filters_and_detail(api: Served) -> None:
    alice = api.sign_in(api.users["alice"], PASS)
    _problem(api.client.get(f"{V1}/records"), 401)
    page = api.client.get(f"{V1}/records", params={"site": "hq", "limit": 5}, headers=alice).json()
    assert len(page["items"]) == 5
    assert page["next_offset"] == 5
    rest = api.client.get(
        f"{V1}/records", params={"site": "hq", "limit": 100, "offset": 5}, headers=alice
    ).json()
    assert len(rest["items"]) == 7
    assert rest["next_offset"] is None
    assert rest["next_after"] is None
    june = api.client.get(
        f"{V1}/records", params={"since": "2023-06-01", "until": "2023-06-30"}, headers=alice
    ).json()["items"]
    assert [r["period"]["start"] for r in june] == ["2023-06-01"]
    _problem(api.client.get(f"{V1}/records", params={"since": "June"}, headers=alice), 422)
    _problem(api.client.get(f"{V1}/records", params={"limit": 0}, headers=alice), 422)
    rid = june[0]["id"]
    mine = api.client.get(f"{V1}/records/{rid}", headers=alice).json()
    assert mine["billed"]["amount"] == "1006"
    assert mine["recomputed"]["kg_co2e"] == mine["kg_co2e"]
    dana = api.sign_in(api.users["dana"], PASS)
    theirs = api.client.get(f"{V1}/records/{rid}", headers=dana).json()
    assert "billed" not in theirs
    assert "not a member of channel 'acme'" in theirs["sealed"]
    _problem(api.client.get(f"{V1}/records/nope", headers=alice), 404)
    doc = api.client.get(f"{V1}/records/{rid}/proof").json()
    assert check_proof(doc, expect_signer=api.admin.address)["id"] == rid


def test_bills_json_and_csv_errors(api: Served) -> None:
    alice = api.sign_in(api.users["alice"], PASS)
    res = api.client.post(
        f"{V1}/bills",
        headers=alice,
        json=[
            {
                "site": "plant",
                "account": "P1",
                "start": "2023-02-30",
                "end": "2023-03-01",
                "amount": "5",
                "unit": "kWh",
            },
            {
                "site": "plant",
                "account": "P1",
                "start": "2023-02-01",
                "end": "2023-02-28",
                "amount": "5",
                "unit": "kWh",
            },
        ],
    )
    report = res.json()
    assert res.status_code == 201
    assert report["recorded"] == 1
    assert report["rejected"] == [
        {"line": 1, "field": "start", "reason": "'2023-02-30' is not a date (use YYYY-MM-DD)"}
    ]
    _problem(api.client.post(f"{V1}/bills", headers=alice, json=[{"site": "plant"}]), 422)
    csv = b"account,start,end,amount,unit\nP2,2023-01-01,2023-01-31,10,kWh\nP2,x,y,1,kWh\n"
    res = api.client.post(
        f"{V1}/bills/csv",
        params={"site": "plant"},
        headers=alice,
        files={"file": ("bills.csv", csv, "text/csv")},
    )
    assert res.status_code == 201
    assert (res.json()["recorded"], [e["line"] for e in res.json()["rejected"]]) == (1, [3])
    _problem(
        api.client.post(
            f"{V1}/bills/csv", headers=alice, files={"file": ("b.csv", b"\xff\xfe", "text/csv")}
        ),
        422,
    )
    no_key = api.sign_in(api.users["alice"])
    _problem(api.client.post(f"{V1}/bills", headers=no_key, json=[]), 403)


def test_client_signed_transaction(api: Served) -> None:
    alice = api.users["alice"]
    state = api.ctx.ledger.state()
    site = {"kind": "site", "id": "annex", "org": "acme", "name": "Annex", "country": "US"}
    tx = build_tx(
        alice,
        tx_type="register_site",
        ledger_id=str(state.ledger_id),
        nonce=state.next_nonce(alice.address),
        created=utc_now(),
        items=[site],
    )
    body = {
        "body": tx.body_bytes.decode(),
        "items": [i.decode() for i in tx.items],
        "signature": tx.signature.hex(),
    }
    refused = _problem(api.client.post(f"{V1}/transactions", json=body), 403)
    assert "not an admin of 'acme'" in str(refused["detail"])
    forged = dict(body, signature=PrivateKey.generate().sign_digest(b"\x01" * 32).hex())
    _problem(api.client.post(f"{V1}/transactions", json=forged), 401)
    _problem(api.client.post(f"{V1}/transactions", json=dict(body, items=[])), 422)


def test_enrolment_over_the_api_with_a_client_side_key(api: Served) -> None:
    admin = api.sign_in(api.admin, PASS)
    reg = api.client.post(
        f"{V1}/users", headers=admin, json={"org": "acme", "name": "bob", "roles": ["member"]}
    )
    assert reg.status_code == 201
    key = PrivateKey.generate()  # made on bob's side; never sent
    csr = x509ca.make_csr(key, common_name="bob", org_id="acme").decode()
    wrong = api.client.post(
        f"{V1}/enrolment/certificate",
        json={"org": "acme", "name": "bob", "secret": "guess", "csr": csr},
    )
    assert "wrong enrolment secret" in str(_problem(wrong, 403)["detail"])
    cert = api.client.post(
        f"{V1}/enrolment/certificate",
        json={"org": "acme", "name": "bob", "secret": reg.json()["secret"], "csr": csr},
    ).json()
    state = api.ctx.ledger.state()
    tx = build_tx(
        key,
        tx_type="enroll",
        ledger_id=str(state.ledger_id),
        nonce=0,
        created=utc_now(),
        items=[
            {
                "kind": "identity",
                "id": "bob",
                "org": "acme",
                "certificate": cert["certificate"],
                "secret": reg.json()["secret"],
            }
        ],
    )
    res = api.client.post(
        f"{V1}/transactions",
        json={
            "body": tx.body_bytes.decode(),
            "items": [i.decode() for i in tx.items],
            "signature": tx.signature.hex(),
        },
    )
    assert res.status_code == 201, res.text
    assert api.ctx.ledger.state().identities[key.address]["name"] == "bob"
    _problem(
        api.client.post(
            f"{V1}/users",
            headers=api.sign_in(api.users["alice"], PASS),
            json={"org": "acme", "name": "eve"},
        ),
        403,
    )


def test_channels_and_audits(api: Served) -> None:
    admin = api.sign_in(api.admin, PASS)
    dana_key = api.users["dana"]
    dana = api.sign_in(dana_key, PASS)
    body = _problem(
        api.client.post(
            f"{V1}/audits",
            headers=dana,
            json={"org": "acme", "start": "2023-01-01", "end": "2023-12-31"},
        ),
        403,
    )
    assert "not a member of channel 'acme'" in str(body["detail"])
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="seconds")
    res = api.client.post(
        f"{V1}/channels/acme/grants",
        headers=admin,
        json={"member": dana_key.address, "role": "auditor", "until": until.replace("+00:00", "Z")},
    )
    assert res.status_code == 201, res.text
    members = api.client.get(f"{V1}/channels/acme", headers=admin).json()["members"]
    assert members[dana_key.address]["role"] == "auditor"
    report = api.client.post(
        f"{V1}/audits",
        headers=dana,
        json={"org": "acme", "start": "2023-01-01", "end": "2023-12-31"},
    )
    assert report.status_code == 201, report.text
    assert report.json()["failures"] == []
    assert report.json()["verified"] >= 12
    assert report.json()["id"] in {a["id"] for a in api.client.get(f"{V1}/audits").json()}
    _problem(
        api.client.post(
            f"{V1}/audits", headers=dana, json={"org": "acme", "start": "2023", "end": "2023-12-31"}
        ),
        422,
    )
    res = api.client.delete(f"{V1}/channels/acme/members/{dana_key.address}", headers=admin)
    assert res.status_code == 200
    assert api.ctx.ledger.state().channels["acme"]["epoch"] == 1
    _problem(api.client.get(f"{V1}/channels/nowhere", headers=admin), 422)
    assert api.client.post(f"{V1}/verify", headers=admin).json()["ok"] is True


def test_openapi_is_served(api: Served) -> None:
    spec = api.client.get("/openapi.json").json()
    assert "/api/v1/records" in spec["paths"]
    assert "/api/v1/utilityemissionchannel/emissionscontract/recordEmissions" in spec["paths"]


def test_calculate_takes_the_gwp_set_the_cli_has(api: Served) -> None:
    # 100 therms of natural gas at a US site = 10 MMBtu; EPA Hub: 53.06 kg CO2, 1 g CH4 and
    # 0.1 g N2O per MMBtu.  AR5 (CH4 28, N2O 265): 10 x (53.06 + 0.028 + 0.0265) = 531.145;
    # AR6 (fossil CH4 29.8, N2O 273, as core/calculator.py GWP_SETS uses):
    # 10 x (53.06 + 0.0298 + 0.0273) = 531.171.
    gas = {"amount": "100", "unit": "therm", "activity": "natural_gas", "state": "IL"}
    got = {
        gwp: api.client.post(f"{V1}/calculate", json={**gas, "gwp": gwp}).json()
        for gwp in ("AR5", "AR6")
    }
    assert got["AR5"]["kg_co2e"] == "531.145000"
    assert got["AR6"]["kg_co2e"] == "531.171000"
    assert "AR6 GWP" in got["AR6"]["trace"]["factor"]["basis"]
    default = api.client.post(f"{V1}/calculate", json=gas).json()
    assert default["kg_co2e"] == got["AR5"]["kg_co2e"]  # AR5 unless asked, as the Hub
    for where in (gas, {"amount": "1", "unit": "MWh", "subregion": "RFCW"}):
        body = _problem(api.client.post(f"{V1}/calculate", json={**where, "gwp": "AR9"}), 422)
        assert "AR9" in str(body["detail"])
        assert "AR6" in str(body["detail"])
    schema = api.client.get("/openapi.json").json()["components"]["schemas"]["CalcIn"]
    assert schema["properties"]["gwp"]["enum"] == ["AR4", "AR5", "AR6"]
    assert "AR6" in schema["properties"]["gwp"]["description"]
