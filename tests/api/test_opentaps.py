"""opentaps SEAS compatibility: its emissions client's calls, field by field.

The requests below are built exactly as opentaps SEAS's ``emissions_utils`` builds
them: a multipart form with ``utilityId, partyId, fromDate, thruDate,
energyUseAmount, energyUseUom`` and an optional ``emissionsDoc`` file, the
``userId`` query parameter, and the ``vault_token`` (or ``web_socket_key``) header.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import pytest

from tests.api_helpers import PASS, Served, served

BASE = "/api/v1/utilityemissionchannel"
# eGRID2023r2 RFCW (ZIP 60601, ComEd 4110) CO2e 916.054 lb/MWh; hand calculation for 1000 kWh:
# 1 MWh x 916.054 lb x 0.45359237 kg/lb = 415.514...kg = 0.415514... t
RFCW_2023_KG_PER_MWH = Decimal("916.054") * Decimal("0.45359237")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return served(tmp_path_factory.mktemp("opentaps") / "home")


def _record(
    api: Served,
    *,
    party: str,
    start: str,
    end: str,
    amount: str = "1000",
    doc: bytes | None = None,
    header: str = "vault_token",
) -> object:
    data = {
        "utilityId": "USA_EIA_4110",
        "partyId": party,
        "fromDate": start,
        "thruDate": end,
        "energyUseAmount": amount,
        "energyUseUom": "kWh",
    }
    files = {"emissionsDoc": ("bill.pdf", doc, "application/pdf")} if doc else None
    return api.client.post(
        f"{BASE}/emissionscontract/recordEmissions",
        params={"userId": "erp"},
        data=data,
        files=files,
        headers={header: api.erp_token},
    )


FORM_412 = {
    "utilityId": "4110",
    "partyId": "412",
    "fromDate": "2023-06-01T00:00:00Z",
    "thruDate": "2023-06-30T00:00:00Z",
    "energyUseAmount": "5",
    "energyUseUom": "kWh",
}


def _post_form(api: Served, data: dict[str, str]) -> Any:
    return api.client.post(
        f"{BASE}/emissionscontract/recordEmissions",
        params={"userId": "erp"},
        data=data,
        headers={"vault_token": api.erp_token},
    )


def test_record_then_get_by_uuid_and_list(api: Served) -> None:
    doc = b"%PDF-1.4 a utility bill"
    res = _record(
        api, party="1234567890", start="2023-04-01T00:00:00Z", end="2023-04-30T23:59:59Z", doc=doc
    )
    assert res.status_code == 201, res.text
    rec = res.json()
    assert rec["utilityId"] == "4110"
    assert rec["partyId"] == "1234567890"
    assert rec["fromDate"] == "2023-04-01T00:00:00Z"
    assert rec["thruDate"] == "2023-04-30T23:59:59Z"
    expected_t = (RFCW_2023_KG_PER_MWH).quantize(Decimal("0.000001")) / 1000
    assert Decimal(str(rec["emissionsAmount"])) == expected_t
    assert rec["emissionsUom"] == "tCO2e"
    # RFCW in eGRID2023r2: 7.6 % renewable, 92.3 % non-renewable (99.9 % together); the
    # 1000 kWh split in that proportion: 76.076 and 923.924, floors 76 + 923 = 999, the
    # kWh left goes to the larger remainder (0.924): 76 + 924 = 1000 kWh
    assert rec["renewableEnergyUseAmount"] == 76.0
    assert rec["nonrenewableEnergyUseAmount"] == 924.0
    assert rec["energyUseAmount"] == 1000.0
    assert rec["energyUseUom"] == "kWh"
    assert rec["factorSource"] == "eGRID egrid2023r2 subregion RFCW"
    assert rec["md5"] == hashlib.md5(doc, usedforsecurity=False).hexdigest()
    assert rec["tokenId"] is None
    got = api.client.get(
        f"{BASE}/emissionscontract/getEmissionsData/{rec['uuid']}",
        params={"userId": "erp"},
        headers={"vault_token": api.erp_token},
    )
    assert got.status_code == 200
    # what getEmissionsData returns is what recordEmissions returned, md5 and dates too
    assert got.json() == rec
    listed = api.client.get(
        f"{BASE}/emissionscontract/getAllEmissionsData/USA_EIA_4110/1234567890",
        params={"userId": "erp"},
        headers={"web_socket_key": api.erp_token},
    )
    assert listed.status_code == 200
    assert [r["uuid"] for r in listed.json()] == [rec["uuid"]]
    ranged = api.client.get(
        f"{BASE}/emissionscontract/getAllEmissionsDataByDateRange/2023-04-15T00:00:00Z/"
        "2023-05-01T00:00:00Z",
        params={"userId": "erp"},
        headers={"vault_token": api.erp_token},
    )
    assert rec["uuid"] in [r["uuid"] for r in ranged.json()]


def test_duplicate_and_overlap_are_409(api: Served) -> None:
    first = _record(api, party="777", start="2023-01-01T00:00:00Z", end="2023-01-31T00:00:00Z")
    assert first.status_code == 201
    again = _record(api, party="777", start="2023-01-01T00:00:00Z", end="2023-01-31T00:00:00Z")
    assert again.status_code == 409
    overlap = _record(api, party="777", start="2023-01-15T00:00:00Z", end="2023-02-14T00:00:00Z")
    assert overlap.status_code == 409
    assert "overlaps" in overlap.json()["detail"]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("fromDate", "yesterday", "fromDate"),
        ("energyUseAmount", "-3", "energyUseAmount"),
        ("energyUseAmount", "0", "energyUseAmount"),
        ("energyUseUom", "mt", "ambiguous"),
        ("utilityId", "99999", "no site of organisation 'acme' is served by utility"),
    ],
)
def test_invalid_input_is_412(api: Served, field: str, value: str, reason: str) -> None:
    res = _post_form(api, {**FORM_412, field: value})
    assert res.status_code == 412, res.text
    assert reason in res.json()["detail"]


def test_credentials(api: Served) -> None:
    url = f"{BASE}/emissionscontract/getAllEmissionsData/4110/1"
    assert api.client.get(url).status_code == 401
    assert api.client.get(url, headers={"vault_token": "clk_nope"}).status_code == 401
    wrong_user = api.client.get(
        url, params={"userId": "someone"}, headers={"vault_token": api.erp_token}
    )
    assert wrong_user.status_code == 403


def test_register_and_enroll_an_opentaps_user(api: Served) -> None:
    without_key = api.sign_in(api.admin, None)
    refused = api.client.post(
        f"{BASE}/registerEnroll/register",
        json={"enrollmentID": "clerk", "affiliation": "acme.accounts"},
        headers=without_key,
    )
    assert refused.status_code == 403
    assert "sign the transaction yourself" in refused.json()["detail"]
    admin_token = api.sign_in(api.admin, PASS)  # opt in: the server unlocks the admin keystore
    reg = api.client.post(
        f"{BASE}/registerEnroll/register",
        json={"enrollmentID": "clerk", "affiliation": "acme.accounts"},
        headers=admin_token,
    )
    assert reg.status_code == 201, reg.text
    secret = reg.json()["enrollmentSecret"]
    assert (
        api.client.post(
            f"{BASE}/registerEnroll/register",
            json={"enrollmentID": "clerk", "affiliation": "acme.accounts"},
            headers=admin_token,
        ).status_code
        == 409
    )
    enrolled = api.client.post(
        f"{BASE}/registerEnroll/enroll",
        json={"enrollmentID": "clerk", "enrollmentSecret": secret},
        headers={"web_socket_key": '{"pub": "session-key-of-clerk"}'},
    )
    assert enrolled.status_code == 201, enrolled.text
    res = api.client.post(
        f"{BASE}/emissionscontract/recordEmissions",
        params={"userId": "clerk"},
        data={
            "utilityId": "1015",
            "partyId": "55",
            "fromDate": "2023-03-01T00:00:00Z",
            "thruDate": "2023-03-31T00:00:00Z",
            "energyUseAmount": "200",
            "energyUseUom": "kWh",
        },
        headers={"web_socket_key": '{"pub": "session-key-of-clerk"}'},
    )
    assert res.status_code == 201, res.text
    assert res.json()["factorSource"] == "eGRID egrid2023r2 subregion ERCT"


@pytest.mark.parametrize("thru", ["2023-08-31T00:00:00Z", "2023-08-31T23:59:59Z"])
def test_thru_date_round_trips(api: Served, thru: str) -> None:
    party = f"rt-{thru[11:13]}"
    res = _record(
        api, party=party, start="2023-08-01T00:00:00Z", end=thru, doc=b"bill " + thru.encode()
    )
    assert res.status_code == 201, res.text
    got = api.client.get(
        f"{BASE}/emissionscontract/getEmissionsData/{res.json()['uuid']}",
        params={"userId": "erp"},
        headers={"vault_token": api.erp_token},
    ).json()
    assert res.json()["thruDate"] == got["thruDate"] == thru
    assert got["md5"] == res.json()["md5"] == hashlib.md5(b"bill " + thru.encode()).hexdigest()


@pytest.mark.parametrize("amount", ["7", "1001", "12345", "344389", "2500.5"])
def test_renewable_and_nonrenewable_sum_to_the_energy_used(api: Served, amount: str) -> None:
    res = _record(api, party=f"sum-{amount}", start="2023-09-01T00:00:00Z",
                  end="2023-09-30T00:00:00Z", amount=amount)  # fmt: skip
    assert res.status_code == 201, res.text
    rec = res.json()
    parts = Decimal(str(rec["renewableEnergyUseAmount"])) + Decimal(
        str(rec["nonrenewableEnergyUseAmount"])
    )
    assert parts == Decimal(amount) == Decimal(str(rec["energyUseAmount"]))
    # the renewable part is within one unit of the exact share, 7.6 / 99.9 of the whole
    exact = Decimal(amount) * Decimal("7.6") / Decimal("99.9")
    assert abs(Decimal(str(rec["renewableEnergyUseAmount"])) - exact) < 1


@pytest.mark.parametrize(
    "missing", ["utilityId", "partyId", "fromDate", "thruDate", "energyUseAmount", "energyUseUom"]
)
def test_a_missing_form_field_is_412_naming_it(api: Served, missing: str) -> None:
    res = _post_form(api, {k: v for k, v in FORM_412.items() if k != missing})
    assert res.status_code == 412, res.text
    assert res.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in res.json()["errors"]] == [missing]


def test_an_audited_token_names_its_records_and_they_name_it(api: Served) -> None:
    """recordAuditedEmissionsToken by a granted auditor; getEmissionsData then gives the
    token's id as ``tokenId`` for each record it attests, and null for the others."""
    from carbonledger.services.channels import grant

    made = [
        _record(api, party="777", start=f"2022-0{m}-01T00:00:00Z", end=f"2022-0{m}-28T00:00:00Z")
        for m in (1, 2, 3)
    ]
    uuids = [r.json()["uuid"] for r in made]  # type: ignore[attr-defined]
    dana = api.users["dana"]
    audit = {"userId": "dana", "emissionsRecordsToAudit": ",".join(uuids[:2])}
    url = f"{BASE}/emissionscontract/recordAuditedEmissionsToken"
    # not yet granted: refused, and no token exists
    refused = api.client.post(url, data=audit, headers=api.sign_in(dana, PASS))
    assert refused.status_code == 403, refused.text
    # a member who is not an auditor may not mint one either
    as_erp = api.client.post(
        url, data={**audit, "userId": "erp"}, headers={"vault_token": api.erp_token}
    )
    assert as_erp.status_code == 403, as_erp.text
    with api.ctx.lock:
        grant(api.ctx.ledger, api.ctx.ledger.channels, api.admin, "acme", dana.address,
              role="auditor")  # fmt: skip
    res = api.client.post(url, data=audit, headers=api.sign_in(dana, PASS))
    assert res.status_code == 201, res.text
    token = res.json()
    assert token["tokenId"].startswith("audited")
    # the amount is the two records' kg CO2e in mg (recomputed here from the member's view)
    members = [_get(api, u) for u in uuids]
    kg = sum((Decimal(str(m["emissionsAmount"])) * 1000 for m in members[:2]), Decimal(0))
    assert abs(Decimal(token["issued"]) / 10**6 - kg) < Decimal("0.001")
    assert token["meta"]["manifest"]["records"] == 2
    assert [m["tokenId"] for m in members] == [token["tokenId"], token["tokenId"], None]


def _get(api: Served, uuid: str) -> dict[str, Any]:
    got = api.client.get(
        f"{BASE}/emissionscontract/getEmissionsData/{uuid}",
        params={"userId": "erp"},
        headers={"vault_token": api.erp_token},
    )
    assert got.status_code == 200, got.text
    result: dict[str, Any] = got.json()
    return result


def test_the_recorded_answer_is_the_record_read_back_byte_for_byte(api: Served) -> None:
    """recordEmissions answers with the very bytes getEmissionsData then gives (no token
    names a record just recorded, so the two must not differ even in key order)."""
    res = _record(
        api, party="5550001", start="2023-09-01T00:00:00Z", end="2023-09-30T00:00:00Z", amount="7"
    )
    assert res.status_code == 201, res.text
    got = api.client.get(
        f"{BASE}/emissionscontract/getEmissionsData/{res.json()['uuid']}",
        params={"userId": "erp"},
        headers={"vault_token": api.erp_token},
    )
    assert got.status_code == 200
    assert got.content == res.content
