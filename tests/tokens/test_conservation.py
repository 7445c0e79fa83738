"""Token totals are conserved: on the state machine alone, and by two processes spending
the same units of one embedded ledger file. Scope 2 and net reports read back from the
ledger are in the conformance suite (``tests/conformance/suite_tokens.py``)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonledger.core.authority import apply
from carbonledger.core.state import LedgerState
from carbonledger.core.tokens.holdings import token_ids
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError
from carbonledger.services.home import Home
from carbonledger.services.tokens import issue_rec, retire, transfer
from tests.tokens.tokens_helpers import World, build_template, copy_world


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = build_template(tmp_path_factory.mktemp("tokens-ledger") / "home")
    yield world
    world.ledger.close()


@pytest.fixture
def w(template: World, tmp_path: Path) -> Iterator[World]:
    world = copy_world(template, tmp_path / "home")
    yield world
    world.ledger.close()


def camx_rec(w: World, mwh: int, *, token_id: str = "rec-camx") -> str:
    return issue_rec(
        w.ledger,
        w.rec_dealer,
        to="acme/alice",
        mwh=mwh,
        facility="Altamont Pass Wind Farm",
        grid_region="CAMX",
        generation=(date(2023, 1, 1), date(2023, 12, 31)),
        registry="WREGIS",
        serial_prefix="WREGIS-56789-",
        serial_start=1,
        token_id=token_id,
    ).token


# -- conservation, straight on the state machine (no I/O) -------------------
def _body(state: LedgerState, sender: str, tx_type: str) -> dict[str, Any]:
    return {
        "type": tx_type,
        "ledger": state.ledger_id,
        "sender": sender,
        "nonce": state.next_nonce(sender),
    }


def _check_conservation(state: LedgerState) -> None:
    for tid in token_ids(state):
        tok = state.tokens[tid]
        held = [b for k, b in state.balances.items() if k.endswith("/" + tid)]
        assert all(b["available"] >= 0 and b["retired"] >= 0 for b in held)
        assert sum(b["available"] + b["retired"] for b in held) == tok["issued"]
        assert sum(b["retired"] for b in held) == tok["retired"]


ops = st.lists(
    st.tuples(
        st.sampled_from(["transfer", "retire"]),
        st.integers(0, 2),
        st.integers(0, 2),
        st.integers(1, 80),
    ),
    max_size=25,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=ops)
def test_transfers_and_retirements_conserve_totals(template: World, ops: list[Any]) -> None:
    state = template.ledger.state()
    holders: list[PrivateKey] = [template.alice, template.bob, template.rec_dealer]
    tid = "rec-prop"
    items = [
        {
            "kind": "token",
            "id": tid,
            "type": "REC",
            "amount": 100,
            "to": holders[0].address,
            "facility": {"name": "F"},
            "grid_region": "CAMX",
            "generation": {"start": "2023-01-01", "end": "2023-12-31"},
            "registry": "PROP",
            "serial": {"prefix": "P-", "start": 1, "end": 100},
        }
    ]
    apply(
        state,
        _body(state, template.rec_dealer.address, "issue_token"),
        items,
        now="2024-01-01T00:00:00.000Z",
    )
    for n, (op, a, b, amount) in enumerate(ops):
        sender = holders[a].address
        trial = state.copy()
        if op == "transfer":
            item = {
                "kind": "token_transfer",
                "id": f"t{n}",
                "token": tid,
                "to": holders[b].address,
                "amount": amount,
            }
        else:
            tok = state.tokens[tid]
            start = 1 + tok["retired"]
            item = {
                "kind": "token_retirement",
                "id": f"r{n}",
                "token": tid,
                "amount": amount,
                "serial": {"prefix": "P-", "start": start, "end": start + amount - 1},
                "beneficiary": "B",
                "reason": "R",
            }
        before = state.to_json()
        try:
            apply(
                trial, _body(trial, sender, f"{op}_token"), [item], now="2024-01-01T00:00:00.000Z"
            )
        except CarbonLedgerError:
            assert state.to_json() == before  # a refused operation changes nothing
            continue
        state = trial
        _check_conservation(state)
    _check_conservation(state)


# -- two processes spending the same units ----------------------------------
def _spend(
    home: str, admin_hex: str, holder_hex: str, token: str, to: str, op: str, barrier: Any, out: Any
) -> None:
    admin, holder = PrivateKey.from_hex(admin_hex), PrivateKey.from_hex(holder_hex)
    ledger = Home(Path(home)).ledger(admin)  # each process loads its own view of the state
    barrier.wait()
    try:
        if op == "retire":
            retire(ledger, holder, token, amount=10, beneficiary="Acme", reason="race")
        else:
            transfer(ledger, holder, token, to=to, amount=10)
        out.put((op, "ok"))
    except CarbonLedgerError as exc:
        out.put((op, f"refused: {exc}"))
    finally:
        ledger.close()


def test_concurrent_retire_and_transfer_never_double_spend(w: World) -> None:
    tid = camx_rec(w, 10)
    w.ledger.close()
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    args = (
        str(w.home.path),
        w.admin.to_bytes().hex(),
        w.alice.to_bytes().hex(),
        tid,
        w.bob.address,
    )
    procs = [
        ctx.Process(target=_spend, args=(*args, op, barrier, out)) for op in ("retire", "transfer")
    ]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    ok = [op for op, r in results.items() if r == "ok"]
    assert len(ok) == 1, results  # the other was refused: its view of the ledger was stale
    ledger = w.reopen()
    state = ledger.state()
    _check_conservation(state)
    alice = state.balances[f"{w.alice.address}/{tid}"]
    bob = state.balances.get(f"{w.bob.address}/{tid}", {"available": 0, "retired": 0})
    assert alice["available"] + alice["retired"] + bob["available"] == 10
    assert alice["retired"] + bob["available"] == 10 * len(ok)
    assert ledger.verify().ok
