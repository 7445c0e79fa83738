"""Any sequence of governance transactions keeps the totals: hypothesis drives the rules."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonledger.core.dao.quadratic import votes_for
from carbonledger.errors import CarbonLedgerError
from tests.dao.dao_helpers import ADDR, ADMIN, Chain, param

WHO = st.sampled_from(["alice", "bob", "carol", "dave", "erin", "frank"])
PID = st.sampled_from(["p1", "p2", "p3", "p4"])
CHOICE = st.sampled_from(["for", "for", "for", "against", "abstain"])
EARLY = st.one_of(
    st.tuples(st.just("vote"), WHO, PID, st.integers(1, 12_000), CHOICE),
    st.tuples(st.just("transfer"), WHO, WHO, st.integers(1, 60_000)),
    st.tuples(st.just("propose"), WHO, st.sampled_from(["p4", "p5"]), st.booleans()),
    st.tuples(st.sampled_from(["dao_withdraw", "dao_cancel"]), st.one_of(WHO, st.just(ADMIN)), PID),
    st.tuples(st.just("wait"), st.integers(0, 1_000)),
)
LATE = st.one_of(
    st.tuples(
        st.sampled_from(["dao_release", "dao_cancel", "dao_queue", "dao_execute", "dao_settle"]),
        st.one_of(WHO, st.just(ADMIN)),
        PID,
    ),
    st.tuples(st.just("transfer"), WHO, WHO, st.integers(1, 60_000)),
    st.tuples(st.just("wait"), st.integers(0, 1_500)),
)


def new_chain() -> Chain:
    """Voting opens at once, so short sequences reach every state."""
    chain = Chain().setup(
        voting_delay_ms=0, voting_period_ms=3_000, timelock_ms=1_000, quorum=10**7
    )
    for who, pid in (("erin", "p1"), ("alice", "p2"), ("bob", "p3")):
        chain.propose(who, pid, parts=[{"title": "t", "actions": [param("burn_bps", 1)]}])
    return chain


def _drain(chain: Chain) -> None:
    """Queue and execute what succeeded, settle what failed, release every ballot."""
    pids = [k.removeprefix("proposal:") for k in chain.state.dao if k.startswith("proposal:")]
    steps = [("dao_queue", p) for p in pids] + [("wait", "")]
    steps += [(t, p) for t in ("dao_execute", "dao_settle") for p in pids]
    steps += [("dao_release", p) for p in pids]
    for tx_type, pid in steps:
        if tx_type == "wait":
            chain.at(chain.t, 1_000)
            continue
        for who in ("bob",) if tx_type != "dao_release" else ADDR:
            with contextlib.suppress(CarbonLedgerError):
                chain.act(who, tx_type, pid)
            chain.check_invariants()
    # everything decided: nothing stays locked
    chain.at(chain.t, 1)


def _run(chain: Chain, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "wait":
        chain.at(chain.t, op[1])
    elif kind == "vote":
        chain.vote(op[1], op[2], op[3], op[4])
    elif kind == "transfer":
        chain.transfer(op[1], op[2], op[3])
    elif kind == "propose":
        fund = {"type": "fund", "to": "0x" + "01" * 20, "amount": 20_000}
        action = fund if op[3] else param("quorum", 50 * 10**7)
        chain.propose(op[1], op[2], parts=[{"title": "t", "actions": [action]}])
    else:
        chain.act(op[1], kind, op[2])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EARLY, max_size=30), st.lists(LATE, max_size=15), st.lists(LATE, max_size=15))
def test_totals_are_conserved_and_votes_are_square_roots(
    early: list[tuple[Any, ...]], late: list[tuple[Any, ...]], later: list[tuple[Any, ...]]
) -> None:
    """While voting runs, then after it ends, then after the timelock: invariants hold."""
    chain = new_chain()
    issued = chain.state.dao["token"]["issued"]
    for phase, ops in enumerate((early, late, later)):
        if phase:
            chain.at(chain.t, 3_000 if phase == 1 else 1_000)
        for op in ops:
            before = chain.state
            try:
                _run(chain, op)
            except CarbonLedgerError:
                assert chain.state is before  # a refused transaction changes nothing
            chain.check_invariants()
    _drain(chain)
    outstanding = chain.state.dao["token"]["issued"] - chain.state.dao["token"]["burned"]
    assert sum(chain.balance(w)["available"] for w in (*ADDR, "dao:treasury")) == outstanding
    assert chain.state.dao["token"]["issued"] == issued  # only the admin issues
    for key, ballot in chain.state.dao.items():
        if key.startswith("ballot:"):
            assert ballot["votes"] == votes_for(ballot["amount"])  # never more than sqrt
    for key, proposal in chain.state.dao.items():
        if key.startswith("proposal:"):
            live = [
                b
                for k, b in chain.state.dao.items()
                if k.startswith(f"ballot:{proposal['id']}/") and b["withdrawn_at"] is None
            ]
            assert proposal["locked"] == sum(b["amount"] for b in live)
            assert proposal["voters"] == len(live)
