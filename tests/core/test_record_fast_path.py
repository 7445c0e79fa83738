"""The one-pass check of emissions records refuses exactly what the named checks refuse.

The record rule checks thousands of records an entry with one pass over exact types
(``_well_formed``), and runs the named checks one at a time only when that pass does
not vouch for a record. An attacker edits a good record (a field removed, retyped,
replaced by a near miss: capital hex, a trailing newline, an impossible date, a
``str`` subclass, another period with or without its id recomputed) and the same
entry is judged twice: as the rule runs, and with the one-pass check switched off so
every record takes the named checks. Both must accept the same records into the same
state, or refuse with the same error class and message.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonledger.core.canonical import canonical
from carbonledger.core.compact_record import is_compact
from carbonledger.core.domain import account_ref, record_id
from carbonledger.core.rules import records
from carbonledger.core.rules.records import compact_shape
from carbonledger.core.state import LedgerState
from carbonledger.core.typed import pack_items
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import InvalidInput
from tests.ledger_helpers import BASIS_ID, BLOB_ID, new_ledger, record

KEY = PrivateKey.generate()
_GONE = object()  # the field is removed


class _Text(str):
    """Text that is not exactly ``str`` (the one-pass check leaves it to the named ones)."""


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerState]:
    ledger = new_ledger(Path(tmp_path_factory.mktemp("fast")) / "l.db", KEY, sites=2)
    yield ledger.state()
    ledger.close()


_HEX = BLOB_ID
_NEAR_HEX = [_HEX.upper(), _HEX + "\n", _HEX[:-1], _HEX + "0", _HEX[:-1] + "g", "ab" * 32]
_DATES = ["2023-02-30", "2023-1-01", "2023-01-01\n", "2022-12-01", "2023-03-05", "2024-02-29"]
_ODD = [None, 0, 1, True, 0.0, "", [], {}, ["x"], {"a": 1}, "x" * 70]
_NEAR: dict[str, list[Any]] = {
    "kind": ["emissions_record ", "calculation_basis", "site"],
    "id": ["00000000-0000-5000-8000-000000000000"],
    "org": ["other", "ACME"],
    "site": ["s1", "nope"],
    "account": [*_NEAR_HEX, account_ref("s0", "E2")],
    "activity": ["heat", "electricity!", "a" * 65, "e" * 64, "é"],
    "period": [{"start": "2023-01-01"}, {"start": "2023-01-01", "end": "2023-01-30", "x": 1}],
    "period.start": _DATES,
    "period.end": _DATES,
    "trace": [{"schema": "test", "basis": BASIS_ID}],
    "trace.schema": [5, "", "carbonledger.calculation/1"],
    "trace.basis": ["00" * 32, BASIS_ID.upper()],
    "trace.scope": ["2-market", "3-1", "3-16", "3-0", "4", "2-location\n", "1"],
    "trace.amount": ["5"],
    "detail": [{"channel": "acme", "epoch": 0, "blob": _HEX}],
    "detail.channel": ["other"],
    "detail.epoch": [1, -1, "0", 2**64],
    "detail.blob": _NEAR_HEX,
    "detail.commitment": _NEAR_HEX,
    "detail.extra": [_HEX],
    "amount": ["5", 5],
    "result": [{"kg": "1"}],
}


@st.composite
def changes(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """One to three edits of a record: (dotted field, new value or _GONE)."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(sorted(_NEAR)))
        value = draw(
            st.one_of(
                st.sampled_from(_NEAR[where]),
                st.sampled_from(_ODD),
                st.just(_GONE),
                st.text(max_size=4),
                st.sampled_from(["acme", "s0", "electricity", _HEX]).map(_Text),
            )
        )
        out.append((where, value))
    return out


def _edit(item: dict[str, Any], where: str, value: Any) -> None:
    *parents, name = where.split(".")
    target: Any = item
    for part in parents:
        target = target.get(part) if isinstance(target, dict) else None
    if not isinstance(target, dict):
        return  # the parent was removed or retyped by an earlier edit
    if value is _GONE:
        target.pop(name, None)
    else:
        target[name] = copy.deepcopy(value)


def _fix_id(item: dict[str, Any]) -> None:
    """The id an honest writer would give the edited record, where it has one."""
    period = item.get("period")
    site, account = item.get("site"), item.get("account")
    if isinstance(period, dict) and all(isinstance(v, str) for v in (site, account)):
        start, end = period.get("start"), period.get("end")
        if isinstance(start, str) and isinstance(end, str):
            item["id"] = record_id(str(site), str(account), start, end)


def _entry(edits: list[tuple[str, Any]], fix_id: bool, position: int) -> list[dict[str, Any]]:
    """Good records of other months (sharing the edited one's blob) and the edited one."""
    good = [record("s0", 1), record("s0", 2)]
    bad = record("s0", 5)
    for where, value in edits:
        _edit(bad, where, value)
    if fix_id:
        _fix_id(bad)
    return [*good[:position], bad, *good[position:]]


def _judge(state: LedgerState, items: list[dict[str, Any]]) -> tuple[str, Any]:
    trial = state.copy()
    try:
        records.record_emissions(trial, {"sender": KEY.address}, items)  # type: ignore[typeddict-item]
    except Exception as exc:  # the class and message are what is compared
        return type(exc).__name__, str(exc)
    return "accepted", sorted(trial.periods.items())


def _both(
    state: LedgerState, items: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> tuple[tuple[str, Any], tuple[str, Any]]:
    fast = _judge(state, copy.deepcopy(items))
    with monkeypatch.context() as m:
        m.setattr(records, "_well_formed", lambda *args: None)
        slow = _judge(state, copy.deepcopy(items))
    return fast, slow


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=changes(), fix_id=st.booleans(), position=st.integers(0, 2))
def test_one_pass_check_and_named_checks_give_the_same_verdict(
    state: LedgerState,
    monkeypatch: pytest.MonkeyPatch,
    edits: list[tuple[str, Any]],
    fix_id: bool,
    position: int,
) -> None:
    # The edited record among good ones of other months (they share its blob), so the
    # entry's facts (the writer's epoch, blobs already seen) are in play as they are in
    # an import.
    items = _entry(edits, fix_id, position)
    fast, slow = _both(state, items, monkeypatch)
    assert fast == slow


def test_the_good_record_and_its_near_misses_are_judged_alike(
    state: LedgerState, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The comparison is not empty: a good entry is accepted by both, and each near miss
    # below is refused by both (the ledger's rules, per the module docstring of records).
    fast, slow = _both(state, [record("s0", 1), record("s0", 2)], monkeypatch)
    assert fast == slow
    # Months 1 and 2 of account s0/E1 as the helper writes them (start 31 days apart, 30
    # days each): 2023-01-01..2023-01-30 and 2023-02-01..2023-03-02, not contiguous.
    period = ("2023-01-01", "2023-01-30", "2023-02-01", "2023-03-02")
    assert fast == ("accepted", [(f"s0/{account_ref('s0', 'E1')}", period)])
    for where, value, error in [
        ("detail.commitment", _HEX.upper(), "InvalidInput"),
        ("account", _HEX + "0", "InvalidInput"),
        ("period.end", "2022-12-31", "InvalidInput"),
        ("trace.scope", "4", "InvalidInput"),
        ("detail.epoch", 1, "Conflict"),
        ("org", "other", "PermissionDenied"),
        ("trace.basis", "00" * 32, "NotFound"),
        ("amount", "5", "InvalidInput"),
    ]:
        bad = record("s0", 3)
        _edit(bad, where, value)
        fast, slow = _both(state, [record("s0", 1), bad], monkeypatch)
        assert fast == slow, where
        assert fast[0] == error, (where, fast)


def _judge_shaped(state: LedgerState, items: list[dict[str, Any]]) -> tuple[str, Any]:
    trial = state.copy()
    try:
        records.record_emissions(trial, {"sender": KEY.address}, items, shaped=True)  # type: ignore[typeddict-item]
    except Exception as exc:  # the class and message are what is compared
        return type(exc).__name__, str(exc)
    return "accepted", sorted(trial.periods.items())


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=changes(), fix_id=st.booleans(), position=st.integers(0, 2))
def test_the_compact_form_check_leaves_the_rule_the_same_verdict(
    state: LedgerState,
    edits: list[tuple[str, Any]],
    fix_id: bool,
    position: int,
) -> None:
    """``verify`` checks on a record's compact form what the rule checks that does not
    depend on the state, and applies the entry with ``shaped=True``: for an edited record
    that still packs, the compact check refuses only records the rule refuses, and where
    it accepts, the shaped rule gives the rule's verdict."""
    items = _entry(edits, fix_id, position)
    try:
        datas = [canonical(i) for i in items]
    except InvalidInput:
        return  # a float: no transaction can carry it
    packed = pack_items("record_emissions", KEY.address, datas)
    if packed is None:
        return  # not a typed entry: verify's worker does not check it, the rule does
    full = _judge(state, copy.deepcopy(items))
    if all(compact_shape(p) for p in packed if is_compact(p)):
        assert _judge_shaped(state, copy.deepcopy(items)) == full
    else:
        assert full[0] != "accepted"


def test_the_compact_form_check_refuses_each_near_miss_the_rule_refuses_for_its_shape(
    state: LedgerState,
) -> None:
    """Not an empty comparison: the good record passes, and a record whose activity,
    scope, period or id is wrong, packed compactly all the same, does not."""

    def packed(item: dict[str, Any]) -> bytes:
        (one,) = pack_items("record_emissions", KEY.address, [canonical(item)]) or [b""]
        assert is_compact(one)
        return one

    assert compact_shape(packed(record("s0", 1)))
    for where, value in [
        ("activity", "electricity!"),
        ("trace.scope", "4"),
        ("trace.scope", "3-0"),
        ("period.end", "2022-12-31"),  # before its start
        ("period.end", "2023-02-30"),
        ("id", "00000000-0000-5000-8000-000000000000"),
        ("site", "s1"),  # the id is of another site
    ]:
        bad = record("s0", 1)
        _edit(bad, where, value)
        assert not compact_shape(packed(bad)), where
        assert _judge(state, [bad])[0] == "InvalidInput", where
