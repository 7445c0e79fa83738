"""The bill writes at their edges: every odd request gets the documented answer.

``POST /api/v1/bills`` and opentaps' ``recordEmissions`` are answered by a direct
path when well formed and by the framework otherwise; a client must not be able
to tell which: each request below is refused naming what is wrong, or recorded
once, exactly as the operation documents, and nothing refused is recorded.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import quote_plus

import pytest

from tests.api_helpers import PASS, Served, hq_bill, served

V1 = "/api/v1"
RECORD = f"{V1}/utilityemissionchannel/emissionscontract/recordEmissions"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return served(tmp_path_factory.mktemp("edges") / "home")


@pytest.fixture(scope="module")
def alice(api: Served) -> dict[str, str]:
    return api.sign_in(api.users["alice"], PASS)


def _form(party: str) -> dict[str, str]:
    return {
        "utilityId": "USA_EIA_4110",
        "partyId": party,
        "fromDate": "2024-01-01T00:00:00Z",
        "thruDate": "2024-01-31T23:59:59Z",
        "energyUseAmount": "1000",
        "energyUseUom": "kWh",
    }


def _records(api: Served) -> list[dict[str, object]]:
    admin = api.sign_in(api.admin, PASS)
    items: list[dict[str, object]] = api.client.get(
        f"{V1}/records", params={"limit": 1000}, headers=admin
    ).json()["items"]
    return items


def _refused(res: object, status: int, *named: str) -> None:
    assert res.status_code == status, res.text  # type: ignore[attr-defined]
    assert res.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    detail = res.json()["detail"]  # type: ignore[attr-defined]
    for name in named:
        assert name in detail, detail


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"json": {"site": "hq"}}, ["valid list"]),  # an object, not a list
        ({"json": [hq_bill("e-1", amount=1000)]}, ["0.amount", "valid string"]),
        ({"json": [hq_bill("e-2", unit=None)]}, ["0.unit"]),
        ({"json": [{"site": "hq"}]}, ["0.account", "Field required"]),
        ({"content": b"[{", "headers": {"content-type": "application/json"}}, ["JSON"]),
        ({"content": b"", "headers": {"content-type": "application/json"}}, ["required"]),
        (  # JSON sent as text is not taken for JSON
            {"content": json.dumps([hq_bill("e-3")]), "headers": {"content-type": "text/plain"}},
            ["valid list"],
        ),
        ({"json": [hq_bill("e-4")], "params": {"limt": "1"}}, ["unknown query parameter 'limt'"]),
        (
            {"json": [hq_bill("e-5")], "params": [("userId", "a"), ("userId", "b")]},
            ["userId: give each query parameter once"],
        ),
    ],
)
def test_a_malformed_bills_request_is_refused_naming_what_is_wrong(
    api: Served, alice: dict[str, str], kwargs: dict[str, object], named: list[str]
) -> None:
    before = len(_records(api))
    headers = {**alice, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    _refused(api.client.post(f"{V1}/bills", headers=headers, **kwargs), 422, *named)  # type: ignore[arg-type]
    assert len(_records(api)) == before


def test_a_bad_bill_beside_good_ones_is_named_and_the_good_ones_recorded(
    api: Served, alice: dict[str, str]
) -> None:
    bills = [hq_bill("g-1"), hq_bill("g-2", amount="-5"), hq_bill("g-3", start="2024-02-30")]
    res = api.client.post(f"{V1}/bills", json=bills, headers=alice)
    assert res.status_code == 201, res.text
    body = res.json()
    assert (body["rows"], body["recorded"]) == (3, 1)
    assert [(r["line"], r["field"]) for r in body["rejected"]] == [(2, "amount"), (3, "start")]
    again = api.client.post(f"{V1}/bills", json=bills[:1], headers=alice).json()
    assert (again["recorded"], again["duplicates"]) == (0, 1)


def test_credentials_are_judged_before_anything_is_read(api: Served) -> None:
    before = len(_records(api))
    _refused(api.client.post(f"{V1}/bills", json=[hq_bill("c-1")]), 401, "sign in first")
    bad = {"Authorization": "Bearer nope.nope"}
    _refused(api.client.post(f"{V1}/bills", json=[hq_bill("c-2")], headers=bad), 401, "not valid")
    no_key = api.sign_in(api.users["alice"])  # signed in without unlocking a key
    _refused(
        api.client.post(f"{V1}/bills", json=[hq_bill("c-3")], headers=no_key), 403, "holds no key"
    )
    _refused(
        api.client.post(
            RECORD, params={"userId": "alice"}, data=_form("c-4"), headers={"vault_token": "x"}
        ),
        401,
        "unknown API token",
    )
    _refused(
        api.client.post(
            RECORD, params={"userId": "alice"}, data=_form("c-5"),
            headers={"vault_token": api.erp_token},
        ),
        403,
        "not this token's account",
    )  # fmt: skip
    assert len(_records(api)) == before


def test_opentaps_forms_as_sent_and_oddly_sent(api: Served) -> None:
    erp = {"vault_token": api.erp_token}
    before = len(_records(api))
    plain = api.client.post(RECORD, params={"userId": "erp"}, data=_form("t-1"), headers=erp)
    assert plain.status_code == 201, plain.text
    assert plain.json()["partyId"] == "t-1"
    pdf = b"%PDF-1.4 a bill"
    multipart = api.client.post(
        RECORD,
        params={"userId": "erp"},
        data=_form("t-2"),
        files={"emissionsDoc": ("bill.pdf", pdf, "application/pdf")},
        headers=erp,
    )
    assert multipart.status_code == 201, multipart.text
    assert multipart.json()["md5"] == hashlib.md5(pdf, usedforsecurity=False).hexdigest()
    assert len(_records(api)) == before + 2

    # a field given twice: which one was meant? refused, naming it
    twice = "&".join(f"{k}={v}" for k, v in _form("t-3").items()) + "&partyId=t-4"
    _refused(
        api.client.post(
            RECORD,
            params={"userId": "erp"},
            content=twice,
            headers={**erp, "content-type": "application/x-www-form-urlencoded"},
        ),
        412,
        "partyId: give each form field once",
    )
    missing = {k: v for k, v in _form("t-5").items() if k != "energyUseUom"}
    _refused(
        api.client.post(RECORD, params={"userId": "erp"}, data=missing, headers=erp),
        412,
        "energyUseUom",
    )
    _refused(
        api.client.post(
            RECORD,
            params={"userId": "erp"},
            content=json.dumps(_form("t-6")),
            headers={**erp, "content-type": "application/json"},
        ),
        412,
    )
    _refused(
        api.client.post(RECORD, params={"userId": "erp", "x": "1"}, data=_form("t-7"), headers=erp),
        422,
        "unknown query parameter 'x'",
    )
    again = api.client.post(RECORD, params={"userId": "erp"}, data=_form("t-1"), headers=erp)
    _refused(again, 409)
    assert len(_records(api)) == before + 2


def test_opentaps_urlencoded_fields_are_decoded_as_sent(api: Served) -> None:
    erp = {"vault_token": api.erp_token, "content-type": "application/x-www-form-urlencoded"}
    before = len(_records(api))
    # "+" encodes a space, "%2B" a plus and "%C3%A9" an e with an acute accent (UTF-8)
    party = "meter é+1 a"
    sent = {**_form("unused"), "partyId": party}
    body = "&".join(f"{k}={quote_plus(v)}" for k, v in sent.items())
    assert "meter+%C3%A9%2B1+a" in body
    res = api.client.post(RECORD, params={"userId": "erp"}, content=body, headers=erp)
    assert res.status_code == 201, res.text
    assert res.json()["partyId"] == party
    # an empty field between separators is skipped, as form parsers do
    stray = "&".join(f"{k}={quote_plus(v)}" for k, v in _form("t-stray").items())
    res = api.client.post(
        RECORD, params={"userId": "erp"}, content=stray.replace("&", "&&", 1), headers=erp
    )
    assert res.status_code == 201, res.text
    assert res.json()["partyId"] == "t-stray"
    assert len(_records(api)) == before + 2
