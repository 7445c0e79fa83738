"""Token network rules: issue, mint, transfer, retire; the original system's bugs as tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from carbonledger.core.tokens.holdings import token_exists
from carbonledger.core.tokens.model import AUDITED, REC
from carbonledger.errors import Conflict, DuplicateEntity, InvalidInput, NotFound, PermissionDenied
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.channels import submit_one
from carbonledger.services.offsets import package_directory
from carbonledger.services.tokens import (
    balances,
    issue_audited,
    issue_audited_emissions,
    issue_offset,
    issue_rec,
    mint,
    retire,
    token_history,
    transfer,
)
from tests.tokens.tokens_helpers import World, build_template, copy_world

YEAR = (date(2023, 1, 1), date(2023, 12, 31))


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_template(tmp_path_factory.mktemp("tokens") / "home")
    yield world
    world.ledger.close()


@pytest.fixture
def w(template: World, tmp_path: Path) -> Iterator[World]:
    world = copy_world(template, tmp_path / "home")
    yield world
    world.ledger.close()


def rec(w: World, mwh: int = 100, *, start: int = 1, token_id: str = "rec-camx-1") -> str:
    return issue_rec(
        w.ledger,
        w.rec_dealer,
        to="acme/alice",
        mwh=mwh,
        facility="Altamont Pass Wind Farm",
        facility_id="EIA-56789",
        grid_region="CAMX",
        generation=(date(2023, 1, 1), date(2023, 3, 31)),
        registry="WREGIS",
        serial_prefix="WREGIS-56789-CA-2023Q1-",
        serial_start=start,
        technology="wind",
        token_id=token_id,
    ).token


def state(w: World) -> Any:
    return w.ledger.state()


def bal(w: World, holder: str, token: str) -> tuple[int, int]:
    b = state(w).balances.get(f"{holder}/{token}", {"available": 0, "retired": 0})
    return b["available"], b["retired"]


def test_rec_issue_records_metadata_totals_and_balance(w: World) -> None:
    tid = rec(w)
    tok = state(w).tokens[tid]
    assert (tok["type"], tok["unit"], tok["issued"], tok["retired"]) == (REC, "MWh", 100, 0)
    assert tok["meta"]["grid_region"] == "CAMX"
    assert tok["serial"] == {"prefix": "WREGIS-56789-CA-2023Q1-", "start": 1, "end": 100}
    assert bal(w, w.alice.address, tid) == (100, 0)
    assert w.ledger.verify().ok


def test_only_the_dealer_role_of_the_type_issues(w: World) -> None:
    with pytest.raises(PermissionDenied, match="rec_dealer"):
        issue_rec(
            w.ledger,
            w.offset_dealer,
            to="acme/alice",
            mwh=1,
            facility="F",
            grid_region="CAMX",
            generation=YEAR,
            registry="WREGIS",
            serial_prefix="W-",
            serial_start=1,
        )
    with pytest.raises(PermissionDenied, match="offset_dealer"):
        issue_offset(
            w.ledger,
            w.rec_dealer,
            package_directory(),
            project="VCS1529",
            to="acme/alice",
            tonnes=5,
            vintage=2014,
            serial_prefix="VCU-1529-",
            serial_start=1,
        )
    with pytest.raises(PermissionDenied, match="auditor"):
        issue_audited(
            w.ledger, w.admin, store=w.store, org="acme", scope="2", start=YEAR[0], end=YEAR[1]
        )


def test_token_id_zero_never_exists(w: World) -> None:
    """Original bug: id 0 counted as existing (a default mapping value)."""
    st = state(w)
    assert not token_exists(st, "0")
    assert not token_exists(st, "000")
    assert not token_exists(st, "")
    with pytest.raises(NotFound, match="token '0' does not exist"):
        transfer(w.ledger, w.alice, "0", to="globex/bob", amount=1)
    with pytest.raises(InvalidInput, match="token id 0 is reserved"):
        rec(w, token_id="0")


def test_mint_updates_total_issued_and_continues_serials(w: World) -> None:
    """Original bug: mint did not update totalIssued."""
    tid = rec(w, 10)
    mint(w.ledger, w.rec_dealer, tid, to="acme/alice", amount=5)
    tok = state(w).tokens[tid]
    assert (tok["issued"], tok["serial"]["end"]) == (15, 15)
    assert bal(w, w.alice.address, tid) == (15, 0)


def test_audited_emissions_are_retired_at_mint_and_never_transferable(w: World) -> None:
    """Original bug: audited emissions became transferable through an admin mint."""
    tid = issue_audited(
        w.ledger, w.auditor, store=w.store, org="acme", scope="2", start=YEAR[0], end=YEAR[1]
    ).token
    tok = state(w).tokens[tid]
    assert (tok["type"], tok["transferable"]) == (AUDITED, False)
    assert tok["issued"] == tok["retired"] > 0
    assert bal(w, "org:acme", tid) == (0, tok["issued"])
    assert tok["meta"]["manifest"]["records"] == 36
    with pytest.raises(PermissionDenied, match="never minted again"):
        mint(w.ledger, w.auditor, tid, to="acme/alice", amount=1)
    with pytest.raises(PermissionDenied, match="never minted again"):  # the admin path too
        submit_one(
            w.ledger,
            w.admin,
            "mint_token",
            [
                {
                    "kind": "token_mint",
                    "id": "m1",
                    "token": tid,
                    "amount": 1,
                    "to": w.admin.address,
                    "serial": {"prefix": "X", "start": 1, "end": 1},
                }
            ],
        )
    with pytest.raises(PermissionDenied, match="not transferable"):
        submit_one(
            w.ledger,
            w.auditor,
            "transfer_token",
            [
                {
                    "kind": "token_transfer",
                    "id": "t1",
                    "token": tid,
                    "to": w.alice.address,
                    "amount": 1,
                }
            ],
        )
    with pytest.raises(Conflict, match="retired when they are minted"):
        retire(w.ledger, w.auditor, tid, amount=1, beneficiary="x", reason="y")


def test_audited_item_cannot_ask_to_be_transferable_or_held(w: World) -> None:
    base = {
        "kind": "token",
        "id": "aud-x",
        "type": AUDITED,
        "amount": 5,
        "org": "acme",
        "scope": "1",
        "period": {"start": "2023-01-01", "end": "2023-12-31"},
        "manifest": {
            "entries": [{"record": "r1", "leaf": "00" * 32}, {"record": "r2", "leaf": "11" * 32}],
            "root": "00" * 32,
        },
    }
    for extra in ({"transferable": True}, {"to": w.alice.address}):
        with pytest.raises(InvalidInput, match="minted retired"):
            submit_one(w.ledger, w.auditor, "issue_token", [{**base, **extra}])
    with pytest.raises(InvalidInput, match="manifest root"):
        submit_one(w.ledger, w.auditor, "issue_token", [base])


def test_auditor_needs_access_to_the_channel(w: World) -> None:
    with pytest.raises(PermissionDenied, match="not a member of channel 'globex'"):
        submit_one(
            w.ledger,
            w.auditor,
            "issue_token",
            [{"kind": "token", "id": "aud-g", "type": AUDITED, "amount": 5, "org": "globex"}],
        )


def test_transfer_between_registered_identities_only(w: World) -> None:
    tid = rec(w)
    transfer(w.ledger, w.alice, tid, to="globex/bob", amount=30)
    assert bal(w, w.alice.address, tid) == (70, 0)
    assert bal(w, w.bob.address, tid) == (30, 0)
    stranger = "0x" + "ab" * 20
    with pytest.raises(NotFound, match="not an enrolled identity"):
        transfer(w.ledger, w.alice, tid, to=stranger, amount=1)
    with pytest.raises(Conflict, match="exceeds the available balance 30"):
        transfer(w.ledger, w.bob, tid, to="acme/alice", amount=31)


def test_retiring_more_than_the_balance_fails_and_changes_nothing(w: World) -> None:
    tid = rec(w, 10)
    before = state(w).to_json()
    size = w.ledger.latest_checkpoint().size
    with pytest.raises(Conflict, match="amount 11 exceeds the available balance 10"):
        retire(w.ledger, w.alice, tid, amount=11, beneficiary="Acme Corp", reason="Scope 2")
    after = state(w).to_json()
    assert after == before
    assert w.ledger.latest_checkpoint().size == size
    # A batch whose second item overdraws is refused whole.
    items = [
        {
            "kind": "token_retirement",
            "id": f"r{n}",
            "token": tid,
            "amount": 6,
            "serial": {"prefix": "WREGIS-56789-CA-2023Q1-", "start": 1 + 6 * n, "end": 6 + 6 * n},
            "beneficiary": "Acme",
            "reason": "Scope 2",
        }
        for n in range(2)
    ]
    with pytest.raises(Conflict, match="exceeds"):
        submit_one(w.ledger, w.alice, "retire_token", items)
    assert state(w).to_json() == before


def test_partial_retirement_splits_the_serial_range(w: World) -> None:
    tid = rec(w, 100)
    retire(
        w.ledger,
        w.alice,
        tid,
        amount=40,
        beneficiary="Acme Corp",
        reason="Scope 2 2023",
        org="acme",
        site="acme-sf",
    )
    retire(
        w.ledger,
        w.alice,
        tid,
        amount=25,
        beneficiary="Acme Corp",
        reason="Scope 2 2023",
        org="acme",
    )
    hist = token_history(w.ledger, tid)
    serials = [
        (h["serial"]["start"], h["serial"]["end"]) for h in hist if h["kind"] == "token_retirement"
    ]
    assert serials == [(1, 40), (41, 65)]
    tok = state(w).tokens[tid]
    assert (tok["issued"], tok["retired"]) == (100, 65)
    assert bal(w, w.alice.address, tid) == (35, 65)
    assert w.ledger.verify().ok


def test_retirement_names_beneficiary_reason_and_next_serials(w: World) -> None:
    tid = rec(w, 10)
    ok = {
        "kind": "token_retirement",
        "id": "r1",
        "token": tid,
        "amount": 2,
        "serial": {"prefix": "WREGIS-56789-CA-2023Q1-", "start": 1, "end": 2},
        "beneficiary": "Acme",
        "reason": "Scope 2",
    }
    with pytest.raises(InvalidInput, match="beneficiary is required"):
        submit_one(w.ledger, w.alice, "retire_token", [{**ok, "beneficiary": " "}])
    with pytest.raises(InvalidInput, match="reason is required"):
        submit_one(w.ledger, w.alice, "retire_token", [{**ok, "reason": None}])
    with pytest.raises(Conflict, match="the next 2 serials are"):
        submit_one(
            w.ledger,
            w.alice,
            "retire_token",
            [{**ok, "serial": {**ok["serial"], "start": 3, "end": 4}}],
        )
    with pytest.raises(PermissionDenied, match="may not retire for 'globex'"):
        submit_one(w.ledger, w.alice, "retire_token", [{**ok, "org": "globex"}])
    with pytest.raises(NotFound, match="not a site of 'acme'"):
        submit_one(w.ledger, w.alice, "retire_token", [{**ok, "org": "acme", "site": "globex-hq"}])


def test_serials_are_never_issued_twice(w: World) -> None:
    rec(w, 100, start=1)
    with pytest.raises(DuplicateEntity, match="overlap token rec-camx-1"):
        rec(w, 10, start=95, token_id="rec-camx-2")
    rec(w, 10, start=101, token_id="rec-camx-2")
    with pytest.raises(DuplicateEntity, match="already exists"):
        rec(w, 10, start=500, token_id="rec-camx-2")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", 0, "amount must be between 1"),
        ("amount", True, "amount must be an integer"),
        ("amount", "5", "amount must be an integer"),
        ("amount", 2**63, "amount must be between 1"),
        ("grid_region", "Mars", "grid_region: 'Mars' is not an eGRID subregion"),
        ("generation", {"start": "2023-05-01", "end": "2023-04-01"}, "generation: end"),
        ("serial", {"prefix": "W-", "start": 1, "end": 5}, "5 serials for 10 units"),
        ("facility", {"id": "x"}, "facility.name is required"),
        ("registry", "", "registry is required"),
        ("type", "NFT", "type must be one of"),
    ],
)
def test_bad_rec_fields_are_named(w: World, field: str, value: object, message: str) -> None:
    item = {
        "kind": "token",
        "id": "rec-bad",
        "type": REC,
        "amount": 10,
        "to": w.alice.address,
        "facility": {"name": "F"},
        "grid_region": "CAMX",
        "generation": {"start": "2023-01-01", "end": "2023-01-31"},
        "registry": "WREGIS",
        "serial": {"prefix": "W-", "start": 1, "end": 10},
    }
    with pytest.raises(InvalidInput, match=message):
        submit_one(w.ledger, w.rec_dealer, "issue_token", [{**item, field: value}])


def test_offset_must_name_a_project_of_a_registered_directory(w: World) -> None:
    directory = package_directory()
    tid = issue_offset(
        w.ledger,
        w.offset_dealer,
        directory,
        project="VCS1529",
        to="acme/alice",
        tonnes=50,
        vintage=2014,
        serial_prefix="VCU-1529-2014-",
        serial_start=1001,
    ).token
    tok = state(w).tokens[tid]
    assert tok["meta"]["project"]["country"] == "China"
    assert (tok["unit"], tok["registry"], tok["meta"]["vintage"]) == ("t CO2e", "VCS", 2014)
    with pytest.raises(NotFound, match="not in the offsets directory"):
        issue_offset(
            w.ledger,
            w.offset_dealer,
            directory,
            project="VCS999999",
            to="acme/alice",
            tonnes=1,
            vintage=2014,
            serial_prefix="V-",
            serial_start=1,
        )
    # A forged project (changed name) does not verify against the registered root.
    proof = directory.proof("VCS1529")
    forged = {**directory.get("VCS1529").summary(), "name": "Something else"}
    with pytest.raises(NotFound, match="not in offset directory"):
        submit_one(
            w.ledger,
            w.offset_dealer,
            "issue_token",
            [
                {
                    "kind": "token",
                    "id": "off-x",
                    "type": "OFFSET",
                    "amount": 1,
                    "to": w.alice.address,
                    "directory": directory.id,
                    "project": forged,
                    "project_proof": proof,
                    "vintage": 2014,
                    "registry": "VCS",
                    "serial": {"prefix": "V-", "start": 1, "end": 1},
                }
            ],
        )


def test_balances_and_history(w: World) -> None:
    tid = rec(w, 20)
    transfer(w.ledger, w.alice, tid, to="globex/bob", amount=5)
    retire(w.ledger, w.bob, tid, amount=5, beneficiary="Globex", reason="Scope 2", org="globex")
    rows = {(b.holder, b.available, b.retired) for b in balances(state(w), token=tid)}
    assert rows == {(w.alice.address, 15, 0), (w.bob.address, 0, 5)}
    kinds = [h["kind"] for h in token_history(w.ledger, tid)]
    assert kinds == ["token", "token_transfer", "token_retirement"]


def test_audited_emissions_for_listed_records_as_the_api_asks(w: World) -> None:
    ids = [s.item["id"] for s in w.ledger.items(ItemQuery(kind="emissions_record", site="acme-sf"))]
    token = issue_audited_emissions(w.ledger, w.store, w.auditor, record_ids=ids[:3])
    assert (token["type"], token["org"], token["transferable"]) == (AUDITED, "acme", False)
    assert token["meta"]["scope"] == "2"
    assert token["meta"]["period"] == {"start": "2023-01-01", "end": "2023-03-31"}
    assert token["meta"]["manifest"]["records"] == 3
    # globex's bob cannot open acme's records
    with pytest.raises(PermissionDenied, match="not a member of channel 'acme'"):
        issue_audited_emissions(w.ledger, w.store, w.bob, record_ids=ids[:1])
    with pytest.raises(InvalidInput, match="each record once"):
        issue_audited_emissions(w.ledger, w.store, w.auditor, record_ids=[ids[0], ids[0]])
