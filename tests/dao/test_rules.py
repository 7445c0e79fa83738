"""The governance rules, every state and transition, at exact ledger-time ticks."""

from __future__ import annotations

import pytest

from carbonledger.core.dao.balances import supply
from carbonledger.core.dao.model import (
    DAO_ISSUER,
    DEFAULT_PARAMS,
    require_dao_issuance,
)
from carbonledger.core.dao.quadratic import votes_for
from carbonledger.errors import (
    Conflict,
    DuplicateEntity,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from tests.dao.dao_helpers import ADDR, ADMIN, PARAMS, Chain, param


@pytest.fixture
def chain() -> Chain:
    return Chain().setup()


def _succeed(chain: Chain, pid: str = "p1") -> None:
    """Vote ``pid`` through (alice and bob for) and move past the voting period."""
    p = chain.proposal(pid)
    chain.at(p["vote_start"])
    chain.vote("alice", pid, 200_000)
    chain.vote("bob", pid, 100_000)
    chain.at(p["vote_end"])


# -- setup, issue, transfer -----------------------------------------------------------
def test_setup_is_the_admins_once_with_checked_parameters() -> None:
    chain = Chain()
    with pytest.raises(PermissionDenied, match="not the network admin"):
        chain.send("alice", "dao_setup", [{"kind": "dao_setup", "name": "X", "symbol": "X"}])
    with pytest.raises(InvalidInput, match=r"voting_period_ms must be an integer in 1\.\."):
        chain.setup(voting_period_ms=0)
    with pytest.raises(InvalidInput, match="unknown parameter 'speed'"):
        chain.setup(speed=1)
    chain.setup()
    assert chain.state.dao["params"]["guardian"] == ADMIN
    with pytest.raises(DuplicateEntity, match="already set up"):
        chain.setup()


def test_nothing_works_before_setup() -> None:
    chain = Chain()
    with pytest.raises(NotFound, match="not set up"):
        chain.propose()


def test_issue_is_the_admins_and_the_distribution_adds_up(chain: Chain) -> None:
    assert chain.balance("alice") == {"available": 200_000, "locked": 0}
    assert chain.treasury() == 50_000
    assert supply(chain.state) == {"issued": 374_801, "burned": 0, "outstanding": 374_801}
    with pytest.raises(PermissionDenied):
        chain.send("alice", "dao_issue", [{"kind": "dao_issue", "id": "i", "to": ADMIN,
                                           "amount": 1}])  # fmt: skip
    with pytest.raises(NotFound, match="not an enrolled identity"):
        chain.issue({"0xnobody": 5})
    chain.check_invariants()


def test_transfer_only_available_tokens_to_active_identities(chain: Chain) -> None:
    chain.transfer("alice", "frank", 1_000)
    assert chain.balance("frank")["available"] == 1_000
    with pytest.raises(Conflict, match="has 199000 available"):
        chain.transfer("alice", "frank", 199_001)
    with pytest.raises(InvalidInput, match="sender itself"):
        chain.transfer("alice", "alice", 1)
    chain.state.identities[ADDR["frank"]] = {
        **chain.state.identities[ADDR["frank"]],
        "status": "revoked",
    }
    with pytest.raises(PermissionDenied, match="revoked"):
        chain.transfer("alice", "frank", 1)
    chain.transfer("alice", "treasury", 10)
    assert chain.treasury() == 50_010
    chain.check_invariants()


def test_transfers_can_be_turned_off_except_for_the_admin() -> None:
    chain = Chain().setup(transferable=False)
    with pytest.raises(PermissionDenied, match="not transferable"):
        chain.transfer("alice", "bob", 1)
    chain.issue({ADMIN: 10})
    chain.transfer(ADMIN, "bob", 10)
    assert chain.balance("bob")["available"] == 100_010


# -- proposing ----------------------------------------------------------------------
def test_a_proposal_stakes_the_threshold_and_is_pending(chain: Chain) -> None:
    chain.propose()
    p = chain.proposal("p1")
    assert chain.status("p1") == "Pending"
    assert p["stake"] == 1_000
    assert chain.balance("erin") == {"available": 4_000, "locked": 1_000}
    assert p["vote_start"] == chain.at(chain.t, 1_000).now
    assert p["rules"]["quorum"] == PARAMS["quorum"]
    with pytest.raises(DuplicateEntity):
        chain.propose()
    chain.check_invariants()


def test_proposing_needs_the_threshold_available(chain: Chain) -> None:
    with pytest.raises(Conflict, match=r"1000 tokens asked, 0x0606.* has 0 available"):
        chain.propose("frank")


FUND_CAR1 = {"type": "fund", "to": ADDR["bob"], "amount": 5, "project": "CAR1"}


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([], "1 to 10 parts"),
        ([{"title": "t", "actions": []}], "1 to 10 actions"),
        ([{"title": "t", "actions": [{"type": "mint_everything"}]}], "an action has a type"),
        ([{"title": "t", "actions": [param("quorum", 0)]}], "quorum must be an integer"),
        ([{"title": "t", "actions": [param("guardian", "0xnobody")]}], "not an active identity"),
        ([{"title": "", "actions": [param("quorum", 5)]}], "title is required"),
        (
            [{"title": "t", "actions": [{"type": "fund", "to": ADDR["bob"], "amount": 0}]}],
            "amount must be between 1",
        ),
        (
            [{"title": "t", "actions": [FUND_CAR1]}],
            "not one of the proposal's",
        ),
        (
            [{"title": "t", "actions": [{"type": "issue_offset", "token": {"type": "REC"}}]}],
            "issues a token of type OFFSET",
        ),
    ],
)
def test_bad_proposals_are_refused_naming_why(chain: Chain, parts: list, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInput if "not one" not in message else NotFound, match=message):
        chain.propose(parts=parts)
    assert chain.balance("erin")["locked"] == 0  # nothing staked


# -- voting -------------------------------------------------------------------------
def test_voting_window_is_half_open_in_ledger_time(chain: Chain) -> None:
    chain.propose()
    p = chain.proposal("p1")
    chain.at(p["vote_start"], -1)
    assert chain.status("p1") == "Pending"
    with pytest.raises(Conflict, match="voting opens at"):
        chain.vote("alice", "p1", 100)
    chain.at(p["vote_start"])
    assert chain.status("p1") == "Active"
    chain.vote("alice", "p1", 100)
    chain.at(p["vote_end"], -1)
    chain.vote("bob", "p1", 100)  # the last tick of the period
    chain.at(p["vote_end"])
    with pytest.raises(Conflict, match="voting is closed"):
        chain.vote("carol", "p1", 100)
    chain.at(p["vote_end"], 1)  # one tick after the period ends
    with pytest.raises(Conflict, match="voting is closed"):
        chain.vote("carol", "p1", 100)
    assert chain.proposal("p1")["voters"] == 2


def test_quadratic_votes_are_recorded_exactly(chain: Chain) -> None:
    chain.propose()
    chain.at(chain.proposal("p1")["vote_start"])
    chain.vote("alice", "p1", 200_000, "for")
    chain.vote("bob", "p1", 100_000, "against")
    assert chain.ballot("alice", "p1")["votes"] == 4_472_135_955
    assert chain.ballot("bob", "p1")["votes"] == 3_162_277_660
    tally = chain.proposal("p1")["parts"][0]["tally"]
    assert tally == {"for": 4_472_135_955, "against": 3_162_277_660, "abstain": 0}
    chain.check_invariants()


def test_no_double_voting(chain: Chain) -> None:
    chain.propose()
    chain.at(chain.proposal("p1")["vote_start"])
    chain.vote("alice", "p1", 100)
    with pytest.raises(DuplicateEntity, match="already voted"):
        chain.vote("alice", "p1", 100)


@pytest.mark.parametrize("choices", [["for", "for"], ["yes"], []])
def test_one_choice_per_part(chain: Chain, choices: list[str]) -> None:
    chain.propose()
    chain.at(chain.proposal("p1")["vote_start"])
    item = {"kind": "vote", "proposal": "p1", "amount": 5, "choices": choices}
    with pytest.raises(InvalidInput, match="for each of the 1 parts"):
        chain.send("alice", "dao_vote", [item])


def test_tokens_locked_in_one_proposal_cannot_vote_in_another(chain: Chain) -> None:
    chain.propose(pid="p1")
    chain.propose(pid="p2")
    chain.at(chain.proposal("p1")["vote_start"])
    chain.vote("carol", "p1", 10_000)
    with pytest.raises(Conflict, match=r"has 0 available \(10000 locked in proposals"):
        chain.vote("carol", "p2", 1)
    chain.check_invariants()


def test_voting_with_transferred_tokens(chain: Chain) -> None:
    """Tokens moved after locking cannot vote twice; tokens moved before locking vote once."""
    chain.propose(pid="p1")
    chain.propose(pid="p2")
    chain.at(chain.proposal("p1")["vote_start"])
    chain.vote("alice", "p1", 150_000)
    with pytest.raises(Conflict, match="locked in proposals cannot move"):
        chain.transfer("alice", "frank", 50_001)  # the locked part cannot be handed on
    chain.transfer("alice", "frank", 50_000)  # the unlocked rest can
    chain.vote("frank", "p1", 50_000)  # and votes once, in frank's hands
    with pytest.raises(DuplicateEntity):
        chain.vote("alice", "p1", 1)
    with pytest.raises(Conflict, match="has 0 available"):
        chain.vote("alice", "p2", 1)
    with pytest.raises(Conflict, match="has 0 available"):
        chain.vote("frank", "p2", 1)
    p = chain.proposal("p1")
    assert p["locked"] == 200_000
    assert p["votes"] == votes_for(150_000) + votes_for(50_000)
    chain.at(p["vote_end"])
    chain.act("alice", "dao_release", "p1")
    chain.at(chain.proposal("p2")["vote_end"], -1)
    chain.vote("alice", "p2", 150_000)  # released tokens vote again, elsewhere
    chain.check_invariants()


def test_vote_cancel_window(chain: Chain) -> None:
    chain.propose()
    start = chain.proposal("p1")["vote_start"]
    chain.at(start)
    chain.vote("alice", "p1", 200_000)
    chain.vote("bob", "p1", 100_000)
    chain.at(start, PARAMS["vote_cancel_ms"] - 1)
    chain.act("alice", "dao_withdraw", "p1")  # last tick of alice's window
    assert chain.balance("alice") == {"available": 200_000, "locked": 0}
    assert chain.proposal("p1")["votes"] == votes_for(100_000)
    assert chain.ballot("alice", "p1")["withdrawn_at"] == chain.now
    with pytest.raises(DuplicateEntity, match="already voted"):
        chain.vote("alice", "p1", 1)  # a withdrawn ballot is not replaced
    with pytest.raises(NotFound, match="no ballot"):
        chain.act("alice", "dao_withdraw", "p1")
    chain.at(start, PARAMS["vote_cancel_ms"])
    with pytest.raises(Conflict, match="vote cancel window closed"):
        chain.act("bob", "dao_withdraw", "p1")
    chain.check_invariants()


def test_released_only_after_voting_and_once(chain: Chain) -> None:
    chain.propose()
    p = chain.proposal("p1")
    chain.at(p["vote_start"])
    chain.vote("alice", "p1", 1_000)
    with pytest.raises(Conflict, match="tokens stay locked"):
        chain.act("alice", "dao_release", "p1")
    with pytest.raises(NotFound, match="no ballot"):
        chain.act("bob", "dao_release", "p1")
    chain.at(p["vote_end"])
    chain.act("alice", "dao_release", "p1")
    assert chain.balance("alice")["locked"] == 0
    with pytest.raises(Conflict, match="already released"):
        chain.act("alice", "dao_release", "p1")
    chain.check_invariants()


# -- outcomes -----------------------------------------------------------------------
def test_quorum_missed_by_one_vote_fails(chain: Chain) -> None:
    chain.propose()
    p = chain.proposal("p1")
    chain.at(p["vote_start"])
    chain.vote("dave", "p1", 9_801)  # exactly 99 votes; quorum 100
    chain.at(p["vote_end"])
    assert chain.status("p1") == "QuorumFailed"
    with pytest.raises(Conflict, match="only a Succeeded proposal is queued; it is QuorumFailed"):
        chain.act("alice", "dao_queue", "p1")


def test_quorum_met_exactly_succeeds(chain: Chain) -> None:
    chain.propose()
    p = chain.proposal("p1")
    chain.at(p["vote_start"])
    chain.vote("carol", "p1", 10_000)  # exactly 100 votes
    chain.at(p["vote_end"])
    assert chain.status("p1") == "Succeeded"


def test_quorum_missed_by_one_unit_fails() -> None:
    chain = Chain().setup(quorum=votes_for(10_000) + 1)
    chain.propose()
    p = chain.proposal("p1")
    chain.at(p["vote_start"])
    chain.vote("carol", "p1", 10_000)
    chain.at(p["vote_end"])
    assert chain.status("p1") == "QuorumFailed"


def test_abstentions_count_toward_quorum_only(chain: Chain) -> None:
    chain.propose()
    p = chain.proposal("p1")
    chain.at(p["vote_start"])
    chain.vote("dave", "p1", 9_801, "abstain")
    chain.vote("erin", "p1", 1, "for")
    chain.at(p["vote_end"])
    assert chain.status("p1") == "Succeeded"


def test_a_tie_defeats(chain: Chain) -> None:
    chain.propose()
    p = chain.proposal("p1")
    chain.at(p["vote_start"])
    chain.vote("carol", "p1", 10_000, "for")
    chain.transfer("alice", "frank", 10_000)
    chain.vote("frank", "p1", 10_000, "against")
    chain.at(p["vote_end"])
    assert chain.status("p1") == "Defeated"


def test_multi_part_proposals_fail_if_any_part_fails(chain: Chain) -> None:
    parts = [
        {"title": "A", "actions": [param("quorum", 150 * 10**7)]},
        {"title": "B", "actions": [param("burn_bps", 100)]},
    ]
    chain.propose(parts=parts)
    p = chain.proposal("p1")
    chain.at(p["vote_start"])
    chain.vote("alice", "p1", 200_000, "for", "against")
    chain.vote("bob", "p1", 100_000, "for", "for")
    tallies = [part["tally"] for part in chain.proposal("p1")["parts"]]
    assert tallies[0]["for"] == votes_for(200_000) + votes_for(100_000)
    assert tallies[1] == {"for": votes_for(100_000), "against": votes_for(200_000), "abstain": 0}
    chain.at(p["vote_end"])
    assert chain.status("p1") == "Defeated"
    chain.check_invariants()


# -- timelock and execution ---------------------------------------------------------
def test_succeeded_queued_executed_with_timelock(chain: Chain) -> None:
    chain.propose()
    _succeed(chain)
    assert chain.status("p1") == "Succeeded"
    with pytest.raises(Conflict, match="only a Queued proposal is executed; it is Succeeded"):
        chain.act("bob", "dao_execute", "p1")
    chain.act("bob", "dao_queue", "p1")
    p = chain.proposal("p1")
    assert chain.status("p1") == "Queued"
    assert p["eta"] == chain.at(chain.t, PARAMS["timelock_ms"]).now
    chain.at(p["eta"], -1)  # before the timelock expires
    with pytest.raises(Conflict, match="the timelock runs until"):
        chain.act("bob", "dao_execute", "p1")
    with pytest.raises(Conflict, match="it is Queued"):
        chain.act("bob", "dao_queue", "p1")
    chain.at(p["eta"])
    chain.act("bob", "dao_execute", "p1")
    assert chain.status("p1") == "Executed"
    assert chain.state.dao["params"]["quorum"] == 200 * 10**7
    with pytest.raises(Conflict, match="already executed at"):  # executing twice
        chain.act("bob", "dao_execute", "p1")
    chain.check_invariants()


def test_execution_refunds_the_stake_with_a_reward(chain: Chain) -> None:
    chain.propose()
    _succeed(chain)
    chain.act("bob", "dao_queue", "p1")
    chain.at(chain.proposal("p1")["eta"])
    chain.act("bob", "dao_execute", "p1")
    assert chain.balance("erin") == {"available": 5_500, "locked": 0}  # 1,000 + 50%
    assert chain.treasury() == 49_500
    assert chain.proposal("p1")["settled"]["reward"] == 500
    chain.check_invariants()


def test_the_reward_is_what_the_treasury_holds(chain: Chain) -> None:
    parts = [{"title": "fund", "actions": [{"type": "fund", "to": ADDR["frank"],
                                            "amount": 49_800}]}]  # fmt: skip
    chain.propose(parts=parts)
    _succeed(chain)
    chain.act("bob", "dao_queue", "p1")
    chain.at(chain.proposal("p1")["eta"])
    chain.act("bob", "dao_execute", "p1")
    assert chain.balance("frank")["available"] == 49_800
    assert chain.proposal("p1")["settled"]["reward"] == 200
    assert chain.treasury() == 0
    chain.check_invariants()


def test_an_action_that_cannot_be_done_refuses_the_execution(chain: Chain) -> None:
    parts = [{"title": "fund", "actions": [{"type": "fund", "to": ADDR["frank"],
                                            "amount": 60_000}]}]  # fmt: skip
    chain.propose(parts=parts)
    _succeed(chain)
    chain.act("bob", "dao_queue", "p1")
    chain.at(chain.proposal("p1")["eta"])
    before = chain.state
    with pytest.raises(Conflict, match="treasury holds 50000 tokens, 60000 asked"):
        chain.act("bob", "dao_execute", "p1")
    assert chain.state is before
    assert chain.status("p1") == "Queued"


def test_queued_proposals_expire_after_the_grace_period(chain: Chain) -> None:
    chain.propose()
    _succeed(chain)
    chain.act("bob", "dao_queue", "p1")
    eta = chain.proposal("p1")["eta"]
    chain.at(eta, PARAMS["grace_ms"] - 1)
    assert chain.status("p1") == "Queued"
    chain.at(eta, PARAMS["grace_ms"])
    assert chain.status("p1") == "Expired"
    with pytest.raises(Conflict, match="it is Expired"):
        chain.act("bob", "dao_execute", "p1")
    chain.act("bob", "dao_settle", "p1")
    assert chain.balance("erin") == {"available": 5_000, "locked": 0}  # refunded in full


def test_succeeded_proposals_not_queued_in_time_expire(chain: Chain) -> None:
    chain.propose()
    _succeed(chain)
    chain.at(chain.proposal("p1")["vote_end"], PARAMS["grace_ms"])
    assert chain.status("p1") == "Expired"
    with pytest.raises(Conflict, match="it is Expired"):
        chain.act("bob", "dao_queue", "p1")


def test_parameter_changes_do_not_alter_existing_proposals(chain: Chain) -> None:
    chain.propose(
        pid="p1", parts=[{"title": "slow", "actions": [param("voting_period_ms", 99_000)]}]
    )
    chain.at(chain.proposal("p1")["vote_start"])
    chain.propose(pid="p2")  # made under the old parameters
    _succeed(chain, "p1")
    chain.act("bob", "dao_queue", "p1")
    chain.at(chain.proposal("p1")["eta"])
    chain.act("bob", "dao_execute", "p1")
    chain.propose(pid="p3")
    assert chain.proposal("p2")["rules"]["voting_period_ms"] == PARAMS["voting_period_ms"]
    assert chain.proposal("p3")["rules"]["voting_period_ms"] == 99_000


# -- stakes of failed proposals -------------------------------------------------------
@pytest.mark.parametrize("outcome", ["QuorumFailed", "Defeated"])
def test_a_failed_stake_is_partly_burned(chain: Chain, outcome: str) -> None:
    chain.propose()
    p = chain.proposal("p1")
    chain.at(p["vote_start"])
    chain.vote("dave", "p1", 9_801 if outcome == "QuorumFailed" else 9_000, "for")
    if outcome == "Defeated":
        chain.vote("carol", "p1", 10_000, "against")
    with pytest.raises(Conflict, match="it is Active"):
        chain.act("bob", "dao_settle", "p1")
    chain.at(p["vote_end"])
    assert chain.status("p1") == outcome
    chain.act("bob", "dao_settle", "p1")
    assert chain.balance("erin") == {"available": 4_750, "locked": 0}  # 25% of 1,000 burned
    assert supply(chain.state)["burned"] == 250
    with pytest.raises(Conflict, match="was settled at"):
        chain.act("bob", "dao_settle", "p1")
    chain.check_invariants()


# -- cancellation windows ------------------------------------------------------------
def test_proposer_cancels_while_pending_with_a_full_refund(chain: Chain) -> None:
    chain.propose()
    chain.at(chain.proposal("p1")["vote_start"], -1)
    chain.act("erin", "dao_cancel", "p1")
    assert chain.status("p1") == "Canceled"
    assert chain.balance("erin") == {"available": 5_000, "locked": 0}
    with pytest.raises(Conflict, match="already Canceled"):
        chain.act("erin", "dao_cancel", "p1")


def test_proposer_cancels_early_in_voting_at_a_burn(chain: Chain) -> None:
    chain.propose()
    start = chain.proposal("p1")["vote_start"]
    chain.at(start)
    chain.vote("alice", "p1", 1_000)
    chain.at(start, PARAMS["proposal_cancel_ms"] - 1)
    chain.act("erin", "dao_cancel", "p1")
    assert chain.balance("erin") == {"available": 4_750, "locked": 0}
    chain.act("alice", "dao_release", "p1")  # voters get their tokens back
    assert chain.balance("alice") == {"available": 200_000, "locked": 0}
    chain.check_invariants()


def test_proposer_window_closes(chain: Chain) -> None:
    chain.propose()
    chain.at(chain.proposal("p1")["vote_start"], PARAMS["proposal_cancel_ms"])
    with pytest.raises(Conflict, match="cancellation window closed"):
        chain.act("erin", "dao_cancel", "p1")


def test_guardian_vetoes_until_execution_others_may_not(chain: Chain) -> None:
    chain.propose()
    _succeed(chain)
    with pytest.raises(PermissionDenied, match="only its proposer or the guardian"):
        chain.act("bob", "dao_cancel", "p1")
    chain.act("bob", "dao_queue", "p1")
    chain.at(chain.proposal("p1")["eta"], -1)
    chain.act(ADMIN, "dao_cancel", "p1")  # veto during the timelock
    assert chain.status("p1") == "Canceled"
    assert chain.balance("erin") == {"available": 5_000, "locked": 0}
    with pytest.raises(Conflict, match="it is Canceled"):
        chain.act("bob", "dao_execute", "p1")


def test_guardian_cannot_cancel_failed_proposals_and_can_be_removed(chain: Chain) -> None:
    chain.propose()
    p = chain.proposal("p1")
    chain.at(p["vote_end"])
    with pytest.raises(Conflict, match="settle it instead"):
        chain.act(ADMIN, "dao_cancel", "p1")
    chain.propose(pid="p2", parts=[{"title": "no guardian", "actions": [param("guardian", None)]}])
    _succeed(chain, "p2")
    chain.act("bob", "dao_queue", "p2")
    chain.at(chain.proposal("p2")["eta"])
    chain.act("bob", "dao_execute", "p2")
    chain.propose(pid="p3")
    with pytest.raises(PermissionDenied):
        chain.act(ADMIN, "dao_cancel", "p3")


# -- limited mode ------------------------------------------------------------------------
def test_limited_mode_hook(chain: Chain) -> None:
    require_dao_issuance(chain.state, ADDR["alice"], "issue")  # off: anyone the tokens allow
    chain.propose(parts=[{"title": "limited", "actions": [param("limited_mode", True)]}])
    _succeed(chain)
    chain.act("bob", "dao_queue", "p1")
    chain.at(chain.proposal("p1")["eta"])
    chain.act("bob", "dao_execute", "p1")
    with pytest.raises(PermissionDenied, match="limited mode"):
        require_dao_issuance(chain.state, ADDR["alice"], "issue")
    require_dao_issuance(chain.state, DAO_ISSUER, "issue")


def test_defaults_are_documented_values() -> None:
    assert DEFAULT_PARAMS["voting_period_ms"] == 3 * 86_400_000
    assert DEFAULT_PARAMS["quorum"] == 632 * 10**7
