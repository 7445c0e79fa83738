"""Signed record transactions sent straight to the ledger, past every service.

An enrolled member signs a transaction by hand and sends it with ``ledger.submit``
or ``POST /api/v1/transactions``. Whatever the importer would refuse, the core's
rules refuse too, with one clear error, and the ledger still verifies afterwards.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonledger.core.domain import Bill, account_ref, record_id
from carbonledger.core.tx import SignedTx, build_tx, utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.importer import import_bills
from tests.api_helpers import Served, enroll_user, served

V1 = "/api/v1"
BLOB = b"\x00sealed bytes a member would carry"
BLOB_ID = hashlib.sha256(BLOB).hexdigest()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    world = served(tmp_path_factory.mktemp("rules") / "home")
    ledger = world.ctx.ledger
    # bob is a member of acme without access to its channel
    world.users["bob"] = enroll_user(world.home, ledger, world.admin, "acme", "bob", ["member"])
    # One real bill, January 2023 on account E1, so there is something to overlap.
    bill = Bill("hq", "E1", date(2023, 1, 1), date(2023, 1, 31), Decimal("1000"), "kWh")
    report = import_bills(
        ledger, world.users["alice"], world.ctx.catalog, [bill], store=ledger.channels
    )
    assert report.recorded == 1
    yield world
    world.ctx.ledger.close()


def _basis(api: Served) -> str:
    rec = next(iter(api.ctx.ledger.items(ItemQuery(kind="emissions_record", limit=1)))).item
    return str(rec["trace"]["basis"])


def record(api: Served, start: str, end: str, **changes: Any) -> dict[str, Any]:
    """A record of account E1 exactly as the importer would write it, then ``changes``
    applied (a change to None removes the field)."""
    ref = account_ref("hq", "E1")
    epoch = api.ctx.ledger.state().channels["acme"]["epoch"]
    item: dict[str, Any] = {
        "kind": "emissions_record",
        "id": record_id("hq", ref, start, end),
        "org": "acme",
        "site": "hq",
        "account": ref,
        "activity": "electricity",
        "period": {"start": start, "end": end},
        "trace": {"schema": "carbonledger.trace/1", "basis": _basis(api), "scope": "2-location"},
        "detail": {"channel": "acme", "epoch": epoch, "blob": BLOB_ID, "commitment": "ab" * 32},
    }
    for name, value in changes.items():
        if value is None:
            item.pop(name, None)
        else:
            item[name] = value
    return item


def signed(
    api: Served, key: PrivateKey, items: list[dict[str, Any]], blobs: list[bytes]
) -> SignedTx:
    state = api.ctx.ledger.state()
    return build_tx(
        key,
        tx_type="record_emissions",
        ledger_id=str(state.ledger_id),
        nonce=state.next_nonce(key.address),
        created=utc_now(),
        items=items,
        blobs=blobs,
    )


def by_submit(api: Served, tx: SignedTx) -> str | None:
    """The error ``ledger.submit`` raises, or None if it accepted."""
    try:
        with api.ctx.lock:
            api.ctx.ledger.submit([tx])
    except CarbonLedgerError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def by_api(api: Served, tx: SignedTx) -> str | None:
    """The problem ``POST /api/v1/transactions`` answers, or None if it accepted."""
    res = api.client.post(
        f"{V1}/transactions",
        json={
            "body": tx.body_bytes.decode(),
            "items": [i.decode() for i in tx.items],
            "signature": tx.signature.hex(),
            "blobs": [base64.b64encode(b).decode() for b in tx.blobs],
        },
    )
    if res.status_code == 201:
        return None
    assert res.headers["content-type"] == "application/problem+json", res.text
    assert 400 <= res.status_code < 500, res.text
    return f"{res.status_code}: {res.json()['detail']}"


_REF = account_ref("hq", "E1")
# Each case: who signs, the record's period and changes, blobs carried, what the error says.
CASES = {
    "overlapping period": ("alice", ("2023-01-15", "2023-02-14"), {}, True, "overlaps"),
    "exact repeat": ("alice", ("2023-01-01", "2023-01-31"), {}, True, "already recorded"),
    "negative kg_co2e": ("alice", ("2023-03-01", "2023-03-31"), {"kg_co2e": "-5"}, True, "kg_co2e"),
    "start after end": ("alice", ("2023-05-31", "2023-05-01"), {}, True, "before start"),
    "not a date": ("alice", ("2023-02-30", "2023-03-05"), {}, True, "not a date"),
    "no details, no channel access": (
        "bob",
        ("2023-06-01", "2023-06-30"),
        {"detail": None},
        False,
        "not a member of channel 'acme'",
    ),
    "no details from a member": (
        "alice",
        ("2023-06-01", "2023-06-30"),
        {"detail": None},
        False,
        "sealed details are required",
    ),
    "blob that does not exist": (
        "alice",
        ("2023-07-01", "2023-07-31"),
        {},
        False,
        "not carried by the transaction",
    ),
    "auditor writes a record": (
        "dana",
        ("2023-08-01", "2023-08-31"),
        {},
        True,
        "not a member or admin",
    ),
    "made-up id": ("alice", ("2023-09-01", "2023-09-30"), {"id": "r-1"}, True, "record id"),
    # "$" in a pattern also matches before a final newline: such an account would be
    # another account to the period rule, and the same bill would be counted twice.
    "the same bill again under its account reference and a newline": (
        "alice",
        ("2023-01-01", "2023-01-31"),
        {"account": _REF + "\n", "id": record_id("hq", _REF + "\n", "2023-01-01", "2023-01-31")},
        True,
        "account's reference",
    ),
    "activity with a final newline": (
        "alice",
        ("2023-11-01", "2023-11-30"),
        {"activity": "electricity\n"},
        True,
        "activity",
    ),
    "account number in clear": (
        "alice",
        ("2023-10-01", "2023-10-31"),
        {"account": "E1"},
        True,
        "account's reference",
    ),
}


@pytest.mark.parametrize("via", [by_submit, by_api], ids=["submit", "api"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_direct_submission_is_refused_and_ledger_verifies(api: Served, case: str, via: Any) -> None:
    signer, (start, end), changes, carry, expected = CASES[case]
    key = api.admin if signer == "admin" else api.users[signer]
    tx = signed(api, key, [record(api, start, end, **changes)], [BLOB] if carry else [])
    before = api.ctx.ledger.state().size
    error = via(api, tx)
    assert error is not None, f"{case}: accepted"
    assert expected in error, error
    assert api.ctx.ledger.state().size == before
    report = api.ctx.ledger.verify()
    assert report.ok, report.error


def test_blob_carried_but_named_by_no_item_is_refused(api: Served) -> None:
    item = record(api, "2024-01-01", "2024-01-31")
    tx = signed(api, api.users["alice"], [item], [BLOB, b"an orphan"])
    assert "no item names" in str(by_api(api, tx))


def test_the_same_good_record_is_accepted_with_its_blob_stored_in_the_commit(api: Served) -> None:
    item = record(api, "2024-03-01", "2024-03-31")
    tx = signed(api, api.users["alice"], [item], [BLOB])
    assert by_api(api, tx) is None
    assert api.ctx.ledger.channels.blob(BLOB_ID) == BLOB
    assert api.ctx.ledger.verify().ok
    # The same period again, now through the other path: refused as a repeat.
    again = signed(api, api.users["alice"], [record(api, "2024-03-01", "2024-03-31")], [BLOB])
    assert "already recorded" in str(by_submit(api, again))


def test_two_records_of_one_transaction_may_not_overlap(api: Served) -> None:
    a = record(api, "2025-01-01", "2025-01-31")
    b = record(api, "2025-01-31", "2025-02-27")
    error = by_submit(api, signed(api, api.users["alice"], [a, b], [BLOB]))
    assert error is not None
    assert "overlaps" in error


# --- property: no member can make verify fail ---------------------------------------

_dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31)).map(str)
_junk = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.text(max_size=12),
    st.sampled_from(["-1", "NaN", "Infinity", "1e400", "0", "2023-13-01", "", "acme"]),
)


@st.composite
def attempts(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]], list[bytes]]:
    items = []
    for _ in range(draw(st.integers(1, 3))):
        start, end = draw(_dates), draw(_dates)
        item = {
            "kind": "emissions_record",
            "org": draw(st.sampled_from(["acme", "audits", "nobody"])),
            "site": draw(st.sampled_from(["hq", "plant", "nowhere"])),
            "account": draw(st.sampled_from(["E1", "E2"])),
            "activity": draw(st.sampled_from(["electricity", "natural_gas", "x y"])),
            "period": {"start": start, "end": end},
            "detail_epoch": draw(st.sampled_from([0, 1, -1])),
            "blob": draw(st.sampled_from([BLOB_ID, "0" * 64, "nothex"])),
            "changes": draw(
                st.dictionaries(
                    st.sampled_from(["kg_co2e", "id", "trace", "detail", "period", "extra"]),
                    _junk,
                    max_size=2,
                )
            ),
        }
        items.append(item)
    signer = draw(st.sampled_from(["admin", "alice", "bob", "dana", "erp"]))
    carry = draw(st.lists(st.sampled_from([BLOB, b"other"]), max_size=2, unique=True))
    return signer, items, carry


def _build(api: Served, spec: dict[str, Any]) -> dict[str, Any]:
    ref = account_ref(spec["site"], spec["account"])
    start, end = spec["period"]["start"], spec["period"]["end"]
    item = record(api, start, end)
    item.update(
        org=spec["org"],
        site=spec["site"],
        account=ref,
        activity=spec["activity"],
        id=record_id(spec["site"], ref, start, end),
    )
    item["detail"] = {**item["detail"], "epoch": spec["detail_epoch"], "blob": spec["blob"]}
    for name, value in spec["changes"].items():
        item[name] = value
    return item


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(attempt=attempts())
def test_no_member_can_make_verify_fail(
    api: Served, attempt: tuple[str, list[dict[str, Any]], list[bytes]]
) -> None:
    signer, specs, carry = attempt
    key = api.admin if signer == "admin" else api.users[signer]
    tx = signed(api, key, [_build(api, s) for s in specs], carry)
    by_submit(api, tx)  # refused with a CarbonLedgerError, or accepted
    report = api.ctx.ledger.verify()
    assert report.ok, report.error


def test_the_property_accepts_some_records(api: Served) -> None:
    """The generator is not refusing everything: a well-formed attempt is accepted."""
    spec = {
        "org": "acme",
        "site": "plant",
        "account": "E9",
        "activity": "electricity",
        "period": {"start": "2019-01-01", "end": "2019-01-31"},
        "detail_epoch": api.ctx.ledger.state().channels["acme"]["epoch"],
        "blob": BLOB_ID,
        "changes": {},
    }
    assert by_submit(api, signed(api, api.users["alice"], [_build(api, spec)], [BLOB])) is None
    assert api.ctx.ledger.verify().ok


# --- the per-account period index, against days counted one by one -------------------


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 10)), max_size=25))
def test_period_index_agrees_with_counting_days(spans: list[tuple[int, int]]) -> None:
    from datetime import timedelta

    from carbonledger.core.intervals import add_period, overlapping

    day0 = date(2023, 12, 25)
    known: tuple[str, ...] = ()
    taken: set[int] = set()
    for first, length in spans:
        days = set(range(first, first + length + 1))
        start = (day0 + timedelta(days=first)).isoformat()
        end = (day0 + timedelta(days=first + length)).isoformat()
        clash = overlapping(known, start, end)
        assert (clash is not None) == bool(days & taken)
        if clash is None:
            known = add_period(known, start, end)
            taken |= days
    # The index holds exactly the accepted days, as few disjoint intervals.
    held: set[int] = set()
    for s, e in zip(known[::2], known[1::2], strict=True):
        lo, hi = (date.fromisoformat(s) - day0).days, (date.fromisoformat(e) - day0).days
        held |= set(range(lo, hi + 1))
    assert held == taken
    assert list(known) == sorted(known)
    assert all(
        date.fromisoformat(known[i + 1]) > date.fromisoformat(known[i]) + timedelta(days=1)
        for i in range(1, len(known) - 1, 2)
    )


def test_a_chain_entry_of_a_period_recorded_first_is_void_only_if_nothing_else_is_wrong(
    api: Served,
) -> None:
    """A chain orders entries its nodes checked apart: January of account E1 again, as a
    second node would send it, loses to the fixture's record. The core applies it as
    void (nonce taken, leaves counted, nothing recorded); signed by bob, who may not
    read acme's channel, it is refused as any node refuses it, never void."""
    from carbonledger.core.authority import apply_followed
    from carbonledger.core.tx import check_tx

    ref = account_ref("hq", "E1")
    january = record(api, "2023-01-01", "2023-01-31")
    state = api.ctx.ledger.state()
    tx = check_tx(signed(api, api.users["alice"], [january], [BLOB]))
    _, why = apply_followed(state, tx.body, tx.decoded(), now=utc_now(), blobs={BLOB_ID})
    assert why is not None
    assert f"account hq/{ref}, period 2023-01-01..2023-01-31" in why
    before = api.ctx.ledger.state()
    assert state.nonces[tx.sender] == before.next_nonce(tx.sender) + 1
    assert state.size == before.size + 1  # its leaf is in the chain's log
    assert state.periods == before.periods  # nothing recorded
    # The embedded ledger orders its own entries: it refuses the same transaction.
    assert "already recorded" in str(by_submit(api, tx))
    bobs = check_tx(signed(api, api.users["bob"], [january], [BLOB]))
    with pytest.raises(CarbonLedgerError, match="channel"):
        apply_followed(before, bobs.body, bobs.decoded(), now=utc_now(), blobs={BLOB_ID})
