"""Concurrent writes through a real ``carbonledger serve``: many HTTP clients at once.

The server may record the bills of concurrent requests by one signer in one signed
transaction and commit many requests at once; every request must still be judged
exactly as if the requests had come one after another: of two requests recording the
same account's period (or overlapping periods), one is recorded and the other gets
its own conflict, and nothing accepted is lost or recorded twice.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from typing import Any

import httpx
import pytest

from carbonledger.core.tx import build_tx, utc_now
from carbonledger.services.home import PASSPHRASE_ENV
from tests.api_helpers import PASS, Served, served

OPENTAPS = "/api/v1/utilityemissionchannel/emissionscontract"
CLIENTS = 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    api = served(tmp_path_factory.mktemp("concurrent") / "home")
    api.ctx.ledger.close()  # the server process opens the ledger itself
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "carbonledger", "serve",
         "--home", str(api.home.path), "--port", str(port)],
        env={**os.environ, PASSPHRASE_ENV: PASS},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/api/v1/status", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.1)
        yield api, base
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
        assert "Traceback" not in err, err


def _concurrently(jobs: list[Callable[[httpx.Client], Any]], base: str) -> list[Any]:
    clients = [httpx.Client(base_url=base, timeout=120) for _ in range(CLIENTS)]
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            futures = [pool.submit(job, clients[n % CLIENTS]) for n, job in enumerate(jobs)]
            return [f.result() for f in futures]
    finally:
        for c in clients:
            c.close()


def _db(api: Served) -> closing[sqlite3.Connection]:
    """The ledger file, read-only, as any reader of the file would open it."""
    return closing(sqlite3.connect(f"file:{api.home.path / 'ledger.db'}?mode=ro", uri=True))


def _counts(api: Served, sender: str) -> tuple[int, int, int]:
    """Record transactions by ``sender``, emissions records, checkpoints: from the file."""
    with _db(api) as db:
        txs = db.execute(
            "SELECT count(*) FROM tx WHERE type = 'record_emissions' AND sender = ?", (sender,)
        ).fetchone()[0]
        records = db.execute("SELECT count(*) FROM leaf WHERE kind = 'emissions_record'")
        checkpoints = db.execute("SELECT count(*) FROM checkpoint").fetchone()[0]
        return int(txs), int(records.fetchone()[0]), int(checkpoints)


def _rids(api: Served) -> list[str]:
    with _db(api) as db:
        rows = db.execute("SELECT rid FROM leaf WHERE kind = 'emissions_record'").fetchall()
        return [str(r[0]) for r in rows]


def _form(party: str, start: str, end: str, amount: str) -> dict[str, str]:
    return {
        "utilityId": "USA_EIA_4110",
        "partyId": party,
        "fromDate": f"{start}T00:00:00Z",
        "thruDate": f"{end}T23:59:59Z",
        "energyUseAmount": amount,
        "energyUseUom": "kWh",
    }


def _post_form(api: Served, form: dict[str, str]) -> Callable[[httpx.Client], tuple[int, Any]]:
    def job(client: httpx.Client) -> tuple[int, Any]:
        res = client.post(
            f"{OPENTAPS}/recordEmissions",
            params={"userId": "erp"},
            data=form,
            headers={"vault_token": api.erp_token},
        )
        return res.status_code, res.json()

    return job


def test_opentaps_requests_in_one_batch_are_judged_as_if_sequential(
    server: tuple[Served, str],
) -> None:
    api, base = server
    erp = api.users["erp"].address
    txs0, records0, checkpoints0 = _counts(api, erp)
    forms: list[dict[str, str]] = []
    # 64 bills nobody else sends: each recorded
    forms += [_form(f"solo-{n}", "2023-01-01", "2023-01-31", str(100 + n)) for n in range(64)]
    # 12 pairs, same account and period, different amounts: one recorded, one 409
    for k in range(12):
        forms += [_form(f"same-{k}", "2023-02-01", "2023-02-28", a) for a in ("1000", "2000")]
    # 12 pairs whose periods overlap by half a month: one recorded, one 409
    for k in range(12):
        forms += [
            _form(f"overlap-{k}", "2023-03-01", "2023-03-31", "500"),
            _form(f"overlap-{k}", "2023-03-16", "2023-04-15", "600"),
        ]
    # 12 exact repeats: one recorded, the repeat answered 409 (already recorded)
    for k in range(12):
        forms += [_form(f"twice-{k}", "2023-05-01", "2023-05-31", "700")] * 2

    answers = _concurrently([_post_form(api, f) for f in forms], base)
    solo = answers[:64]
    assert [code for code, _ in solo] == [201] * 64, solo
    # each answer is its own request's record
    assert [(b["partyId"], b["energyUseAmount"]) for _, b in solo] == [
        (f"solo-{n}", float(100 + n)) for n in range(64)
    ]
    pairs = [(forms[i], answers[i], forms[i + 1], answers[i + 1]) for i in range(64, 136, 2)]
    winners: dict[str, tuple[dict[str, str], dict[str, Any]]] = {}
    for first, (code1, body1), second, (code2, body2) in pairs:
        assert sorted([code1, code2]) == [201, 409], (first, body1, second, body2)
        won, body, lost = (first, body1, body2) if code1 == 201 else (second, body2, body1)
        assert lost["title"] == "conflict", lost
        assert "recorded" in lost["detail"] or "overlap" in lost["detail"], lost
        winners[won["partyId"]] = (won, body)
    for party, (won, body) in winners.items():
        # what was recorded is the winner's bill, read back from the ledger
        res = httpx.get(
            f"{base}{OPENTAPS}/getEmissionsData/{body['uuid']}",
            params={"userId": "erp"},
            headers={"vault_token": api.erp_token},
        )
        assert res.status_code == 200, res.text
        got = res.json()
        assert got == body  # the answer to the write is the record as read back
        assert got["partyId"] == party
        assert got["energyUseAmount"] == float(won["energyUseAmount"])
        assert got["fromDate"][:10] == won["fromDate"][:10]
    txs, records, checkpoints = _counts(api, erp)
    recorded = 64 + 36  # every solo bill and one of each pair
    assert records - records0 == recorded
    rids = _rids(api)
    assert len(rids) == len(set(rids))  # nothing recorded twice
    # concurrent requests by one signer share signed transactions and commits
    assert 1 <= txs - txs0 < recorded
    assert 1 <= checkpoints - checkpoints0 < recorded


def test_opentaps_bad_bills_in_a_batch_get_their_own_error_and_retries_are_not_doubled(
    server: tuple[Served, str],
) -> None:
    api, base = server
    erp = api.users["erp"].address
    txs0, records0, _ = _counts(api, erp)
    good = [_form(f"batch-{n}", "2022-06-01", "2022-06-30", str(200 + n)) for n in range(40)]
    # litres of electricity: refused by the calculation, inside the shared batch
    bad = [
        {**_form(f"litres-{n}", "2022-06-01", "2022-06-30", "50"), "energyUseUom": "litres"}
        for n in range(6)
    ]
    # 100 therms of electricity: 2,930.71070172 kWh (1 therm = 105.505585262 MJ, 1 kWh =
    # 3.6 MJ), a conversion whose exact kWh has 42 digits
    therms = [
        {**_form(f"therm-{n}", "2022-06-01", "2022-06-30", "100"), "energyUseUom": "therm"}
        for n in range(2)
    ]
    forms = [f for trio in zip(good[:6], bad, strict=True) for f in trio] + good[6:] + therms
    answers = _concurrently([_post_form(api, f) for f in forms], base)
    by_party = {f["partyId"]: a for f, a in zip(forms, answers, strict=True)}
    for n in range(6):  # each bad bill: its own 412 naming its field and why
        code, body = by_party[f"litres-{n}"]
        assert code == 412, body
        assert body["field"] == "unit", body
        assert "volume unit" in body["detail"], body
    recorded = {}
    for f in good + therms:
        code, body = by_party[f["partyId"]]
        assert code == 201, body  # recorded, though bad bills were in its batch
        assert body["partyId"] == f["partyId"]
        assert body["energyUseAmount"] == float(f["energyUseAmount"])
        recorded[body["uuid"]] = f
    assert len(recorded) == 42  # each its own record
    for party in ("therm-0", "therm-1"):
        body = by_party[party][1]
        assert body["energyUseUom"] == "therm"
        kwh = body["renewableEnergyUseAmount"] + body["nonrenewableEnergyUseAmount"]
        assert kwh == pytest.approx(2930.71070172)
    txs, records, _ = _counts(api, erp)
    assert records - records0 == 42
    assert 1 <= txs - txs0 < 42  # shared signed transactions
    assert set(recorded) <= set(_rids(api))
    # every request sent again, at once: each is answered 409, nothing recorded twice
    again = _concurrently([_post_form(api, f) for f in good + therms], base)
    for code, body in again:
        assert code == 409, body
        assert "already recorded" in body["detail"] or "overlap" in body["detail"], body
    assert _counts(api, erp)[:2] == (txs, records)
    rids = _rids(api)
    assert len(rids) == len(set(rids))


def test_bills_with_a_contested_bill_each_request_gets_its_own_report(
    server: tuple[Served, str],
) -> None:
    """Each of 24 requests sends its own bill and the same contested account-period."""
    api, base = server
    headers = _sign_in(base, api, "alice")
    n = 24

    def post(i: int) -> Callable[[httpx.Client], tuple[int, Any]]:
        body = [
            {"site": "plant", "account": f"own-{i}", "start": "2024-01-01", "end": "2024-01-31",
             "amount": str(10 + i), "unit": "kWh"},
            {"site": "plant", "account": "contested", "start": "2024-01-01", "end": "2024-01-31",
             "amount": str(1000 + i), "unit": "kWh"},
        ]  # fmt: skip

        def job(client: httpx.Client) -> tuple[int, Any]:
            res = client.post("/api/v1/bills", json=body, headers=headers)
            return res.status_code, res.json()

        return job

    answers = _concurrently([post(i) for i in range(n)], base)
    assert [code for code, _ in answers] == [201] * n, answers
    assert all(b["rows"] == 2 and b["duplicates"] == 0 for _, b in answers), answers
    won = [i for i, (_, b) in enumerate(answers) if b["recorded"] == 2]
    assert len(won) == 1, answers  # the contested period is recorded once
    for i, (_, b) in enumerate(answers):
        if i in won:
            assert b["rejected"] == []
            continue
        assert b["recorded"] == 1
        assert [(e["line"], e["field"]) for e in b["rejected"]] == [(2, "period")], b
        # the reason names the amount that was recorded: the winner's, 1000 + its index
        assert f"with {1000 + won[0]} kWh" in b["rejected"][0]["reason"], b
    # each answer counts its own request's records only (not the whole batch's)
    for i, (_, b) in enumerate(answers):
        assert len(b["record_ids"]) == b["recorded"]
        kg = 0.0
        for rid in b["record_ids"]:
            res = httpx.get(f"{base}/api/v1/records/{rid}", headers=headers)
            assert res.status_code == 200, res.text
            assert res.json()["account"] in (f"own-{i}", "contested")
            kg += float(res.json()["kg_co2e"])
        assert float(b["kg_co2e"]) == pytest.approx(kg), b
    rids = _rids(api)
    assert len(rids) == len(set(rids))


def _sign_in(base: str, api: Served, name: str) -> dict[str, str]:
    from carbonledger.crypto.keys import eip191_digest

    key = api.users[name]
    with httpx.Client(base_url=base) as client:
        ch = client.post("/api/v1/auth/challenge", json={"address": key.address}).json()
        sig = key.sign_digest(eip191_digest(ch["message"].encode())).hex()
        res = client.post(
            "/api/v1/auth/login",
            json={"message": ch["message"], "signature": sig, "passphrase": PASS},
        )
        assert res.status_code == 200, res.text
        return {"Authorization": f"Bearer {res.json()['token']}"}


def test_client_signed_transactions_racing_for_one_nonce_one_is_appended(
    server: tuple[Served, str],
) -> None:
    """16 transactions signed by the admin with the same nonce, sent at once: one wins."""
    api, base = server
    with _db(api) as db:
        nonce = db.execute(
            "SELECT count(*) FROM tx WHERE sender = ?", (api.admin.address,)
        ).fetchone()[0]
    ledger_id = str(httpx.get(f"{base}/api/v1/status").json()["ledger_id"])
    bodies = []
    for n in range(16):
        site = {"kind": "site", "id": f"race-{n}", "org": "acme", "name": f"Race {n}",
                "country": "US"}  # fmt: skip
        tx = build_tx(
            api.admin,
            tx_type="register_site",
            ledger_id=ledger_id,
            nonce=nonce,
            created=utc_now(),
            items=[site],
        )
        bodies.append(
            {
                "body": tx.body_bytes.decode(),
                "items": [i.decode() for i in tx.items],
                "signature": tx.signature.hex(),
            }
        )

    def post(body: dict[str, Any]) -> Callable[[httpx.Client], tuple[int, Any]]:
        def job(client: httpx.Client) -> tuple[int, Any]:
            res = client.post("/api/v1/transactions", json=body)
            return res.status_code, res.json()

        return job

    answers = _concurrently([post(b) for b in bodies], base)
    codes = [code for code, _ in answers]
    assert codes.count(201) == 1, answers
    for code, body in answers:
        if code != 201:
            assert 400 <= code < 500, body
            assert "nonce" in body["detail"], body
    with _db(api) as db:
        sites = db.execute("SELECT rid FROM leaf WHERE kind = 'site' AND rid LIKE 'race-%'")
        assert len(sites.fetchall()) == 1
