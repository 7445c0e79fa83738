"""Governance rules: the DAO's token, proposals, votes, timelock and execution.

State layout, parameters and proposal states: :mod:`carbonledger.core.dao.model`;
vote arithmetic: :mod:`carbonledger.core.dao.quadratic`; what a proposal may do:
:mod:`carbonledger.core.dao.actions`; balances: :mod:`carbonledger.core.dao.balances`.
Every time is ledger time (``state.now``).

================  =====================================================================
``dao_setup``     network admin, once: the governance token's name and symbol, and the
                  parameters (defaults in ``DEFAULT_PARAMS``; the guardian defaults to
                  the network admin)
``dao_issue``     network admin: new governance tokens to an identity or the treasury
``dao_transfer``  a holder: available (unlocked) tokens to an active identity or the
                  treasury, while ``transferable`` (the network admin always may)
``dao_propose``   a holder of at least ``proposal_threshold`` available tokens, which it
                  stakes: title, description, 1-10 parts of 1-10 actions, projects
``dao_vote``      a holder, while the proposal is Active, once: locks ``amount`` tokens
                  for round(sqrt(amount), 7 decimals) votes on every part, with a choice
                  (for, against, abstain) per part
``dao_withdraw``  the voter, while Active and within ``vote_cancel_ms`` of casting: the
                  ballot is taken out of the tally and its tokens released; no new ballot
``dao_cancel``    the proposer while Pending (stake refunded) or within
                  ``proposal_cancel_ms`` after voting starts (``burn_bps`` of the stake
                  burned); the guardian, on another's proposal, until it is executed
                  (stake refunded)
``dao_queue``     anyone, once Succeeded (within ``grace_ms`` after voting ends):
                  eta = now + ``timelock_ms``
``dao_execute``   anyone, once Queued, from eta until eta + ``grace_ms``: performs every
                  action of every part, atomically; the stake is refunded with a reward of
                  ``reward_bps`` of it from the treasury (as much as the treasury holds)
``dao_settle``    anyone, once QuorumFailed or Defeated (``burn_bps`` of the stake burned,
                  the rest refunded) or Expired (refunded in full)
``dao_release``   a voter, once voting has ended or the proposal was canceled: the
                  ballot's tokens become available again
================  =====================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from carbonledger.core.dao.actions import check_actions, check_project, perform
from carbonledger.core.dao.balances import burn_locked, credit, lock, pay, unlock
from carbonledger.core.dao.model import (
    ACTIVE,
    CANCELED,
    DEFAULT_PARAMS,
    EXECUTED,
    EXPIRED,
    PENDING,
    QUEUED,
    SNAPSHOT_PARAMS,
    SUCCEEDED,
    TREASURY,
    ballot_key,
    check_param,
    get_proposal,
    holder,
    iso_from_ms,
    ledger_ms,
    proposal_key,
    proposal_status,
    require_setup,
)
from carbonledger.core.dao.quadratic import votes_for
from carbonledger.core.identities import require_active
from carbonledger.core.item_parts import TxBody
from carbonledger.core.rules.common import Rule, check_id, expect_kind, require_network_admin
from carbonledger.core.state import LedgerState
from carbonledger.core.tokens.model import check_amount, check_text
from carbonledger.errors import Conflict, DuplicateEntity, InvalidInput, NotFound, PermissionDenied

__all__ = ["RULES"]

_CHOICES = ("for", "against", "abstain")
_BPS = 10_000


def _recipient(state: LedgerState, value: object, what: str) -> str:
    """An active identity's address, or ``"treasury"``."""
    if value in ("treasury", TREASURY):
        return TREASURY
    if str(value) not in state.identities:
        raise NotFound(f"{what}: {value!r} is not an enrolled identity (or 'treasury')")
    return require_active(state.identities, value, what)


def _save(state: LedgerState, proposal: dict[str, Any]) -> None:
    state.dao[proposal_key(proposal["id"])] = proposal


def _settle(state: LedgerState, proposal: dict[str, Any], burn: int, reward: int) -> None:
    """Unlock the stake to the proposer, minus ``burn``, plus ``reward`` from the treasury."""
    who, stake = proposal["proposer"], proposal["stake"]
    burn_locked(state, who, burn)
    unlock(state, who, stake - burn)
    reward = min(reward, holder(state, TREASURY)["available"])
    if reward:
        pay(state, who, reward, "reward")
    proposal["settled"] = {
        "at": state.now,
        "refunded": stake - burn,
        "burned": burn,
        "reward": reward,
    }


def _burn_of(proposal: dict[str, Any]) -> int:
    return int(proposal["stake"] * proposal["rules"]["burn_bps"] // _BPS)


# -- token --------------------------------------------------------------------
def dao_setup(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    require_network_admin(state, body["sender"], "dao_setup")
    expect_kind(items, "dao_setup")
    if len(items) != 1:
        raise InvalidInput("dao_setup: exactly one item")
    if "params" in state.dao:
        raise DuplicateEntity("dao_setup: the DAO is already set up on this ledger")
    item = items[0]
    given = item.get("params") or {}
    if not isinstance(given, dict):
        raise InvalidInput("dao_setup: params must be an object {name: value}")
    params = {**DEFAULT_PARAMS, "guardian": state.admin}
    for name, value in given.items():
        params[name] = check_param(state, name, value, "dao_setup")
    state.dao["params"] = params
    state.dao["token"] = {
        "name": check_text(item.get("name"), "dao_setup: name", limit=64),
        "symbol": check_text(item.get("symbol"), "dao_setup: symbol", limit=12),
        "issued": 0,
        "burned": 0,
        "setup_at": state.now,
        "setup_by": body["sender"],
    }


def dao_issue(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    require_network_admin(state, body["sender"], "dao_issue")
    require_setup(state, "dao_issue")
    expect_kind(items, "dao_issue")
    for item in items:
        what = f"dao_issue {check_id('issue', item.get('id'))}"
        to = _recipient(state, item.get("to"), f"{what}: to")
        amount = check_amount(item.get("amount"), what)
        token = state.dao["token"]
        issued = check_amount(token["issued"] + amount, f"{what}: total issued")
        state.dao["token"] = {**token, "issued": issued}
        credit(state, to, amount)


def dao_transfer(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    sender = body["sender"]
    params = require_setup(state, "dao_transfer")
    expect_kind(items, "dao_transfer")
    if not params["transferable"] and sender != state.admin:
        raise PermissionDenied(
            "dao_transfer: DAO tokens are not transferable on this ledger (parameter"
            " transferable is off; only the network admin distributes them)"
        )
    for item in items:
        what = f"dao_transfer {check_id('transfer', item.get('id'))}"
        to = _recipient(state, item.get("to"), f"{what}: to")
        if to == sender:
            raise InvalidInput(f"{what}: to is the sender itself")
        amount = check_amount(item.get("amount"), what)
        available = holder(state, sender)["available"]
        if amount > available:
            raise Conflict(
                f"{what}: {amount} tokens asked, {sender} has {available} available"
                f" ({holder(state, sender)['locked']} locked in proposals cannot move)"
            )
        credit(state, sender, -amount)
        credit(state, to, amount)


# -- proposals ----------------------------------------------------------------
def dao_propose(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    sender = body["sender"]
    params = require_setup(state, "dao_propose")
    expect_kind(items, "proposal")
    for item in items:
        pid = check_id("proposal", item.get("id"))
        what = f"proposal {pid!r}"
        if proposal_key(pid) in state.dao:
            raise DuplicateEntity(f"{what} already exists")
        refs = item.get("projects") or []
        if not isinstance(refs, list):
            raise InvalidInput(f"{what}: projects must be a list")
        projects = [check_project(state, r, f"{what} project {n + 1}") for n, r in enumerate(refs)]
        parts = check_actions(state, item.get("parts"), projects, what)
        stake = params["proposal_threshold"]
        lock(state, sender, stake, f"{what}: the proposal threshold (stake)")
        created = ledger_ms(state.now)
        start = created + params["voting_delay_ms"]
        _save(
            state,
            {
                "id": pid,
                "proposer": sender,
                "title": check_text(item.get("title"), f"{what}: title"),
                "description": check_text(
                    item.get("description"), f"{what}: description", limit=10_000
                ),
                "parts": parts,
                "projects": projects,
                "stake": stake,
                "rules": {k: params[k] for k in SNAPSHOT_PARAMS},
                "created_at": state.now,
                "vote_start": iso_from_ms(start),
                "vote_end": iso_from_ms(start + params["voting_period_ms"]),
                "votes": 0,
                "locked": 0,
                "voters": 0,
                "queued_at": None,
                "eta": None,
                "executed_at": None,
                "executed_by": None,
                "issued": [],
                "canceled_at": None,
                "canceled_by": None,
                "settled": None,
            },
        )


def _open(state: LedgerState, proposal: dict[str, Any], what: str) -> None:
    status = proposal_status(proposal, state.now)
    if status == PENDING:
        raise Conflict(f"{what}: voting opens at {proposal['vote_start']} (ledger time)")
    if status != ACTIVE:
        raise Conflict(
            f"{what}: voting is closed (the proposal is {status}; voting ran"
            f" {proposal['vote_start']} to {proposal['vote_end']}, ledger time)"
        )


def _tally(proposal: dict[str, Any], choices: list[str], votes: int, sign: int) -> None:
    parts = []
    for part, choice in zip(proposal["parts"], choices, strict=True):
        tally = {**part["tally"], choice: part["tally"][choice] + sign * votes}
        parts.append({**part, "tally": tally})
    proposal["parts"] = parts
    proposal["votes"] += sign * votes


def dao_vote(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    voter = body["sender"]
    require_setup(state, "dao_vote")
    expect_kind(items, "vote")
    for item in items:
        proposal = get_proposal(state, item.get("proposal"), "vote")
        what = f"vote on proposal {proposal['id']!r}"
        _open(state, proposal, what)
        key = ballot_key(proposal["id"], voter)
        if key in state.dao:
            raise DuplicateEntity(
                f"{what}: {voter} has already voted (at {state.dao[key]['cast_at']});"
                " one ballot per voter"
            )
        choices = item.get("choices")
        if (
            not isinstance(choices, list)
            or len(choices) != len(proposal["parts"])
            or any(c not in _CHOICES for c in choices)
        ):
            raise InvalidInput(
                f"{what}: choices must give one of {', '.join(_CHOICES)} for each of the"
                f" {len(proposal['parts'])} parts"
            )
        amount = check_amount(item.get("amount"), what)
        lock(state, voter, amount, what)
        votes = votes_for(amount)
        _tally(proposal, choices, votes, 1)
        proposal["locked"] += amount
        proposal["voters"] += 1
        _save(state, proposal)
        state.dao[key] = {
            "proposal": proposal["id"],
            "voter": voter,
            "amount": amount,
            "votes": votes,
            "choices": list(choices),
            "cast_at": state.now,
            "withdrawn_at": None,
            "released_at": None,
        }


def dao_withdraw(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    voter = body["sender"]
    expect_kind(items, "dao_vote_withdrawal")
    for item in items:
        proposal = get_proposal(state, item.get("proposal"), "withdraw vote")
        what = f"withdraw vote on proposal {proposal['id']!r}"
        ballot = state.dao.get(ballot_key(proposal["id"], voter))
        if ballot is None or ballot["withdrawn_at"] is not None:
            raise NotFound(f"{what}: {voter} has no ballot to withdraw")
        _open(state, proposal, what)
        closes = ledger_ms(ballot["cast_at"]) + proposal["rules"]["vote_cancel_ms"]
        if ledger_ms(state.now) >= closes:
            raise Conflict(
                f"{what}: the vote cancel window closed at {iso_from_ms(closes)} (ledger time)"
            )
        _tally(proposal, ballot["choices"], ballot["votes"], -1)
        proposal["locked"] -= ballot["amount"]
        proposal["voters"] -= 1
        _save(state, proposal)
        unlock(state, voter, ballot["amount"])
        state.dao[ballot_key(proposal["id"], voter)] = {**ballot, "withdrawn_at": state.now}


def dao_cancel(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    sender = body["sender"]
    params = require_setup(state, "dao_cancel")
    expect_kind(items, "dao_cancel")
    for item in items:
        proposal = get_proposal(state, item.get("proposal"), "cancel")
        what = f"cancel proposal {proposal['id']!r}"
        status = proposal_status(proposal, state.now)
        if status in (CANCELED, EXECUTED):
            raise Conflict(f"{what}: it is already {status}")
        if sender == proposal["proposer"]:
            closes = ledger_ms(proposal["vote_start"]) + proposal["rules"]["proposal_cancel_ms"]
            if status not in (PENDING, ACTIVE) or ledger_ms(state.now) >= closes:
                raise Conflict(
                    f"{what}: the proposer's cancellation window closed at"
                    f" {iso_from_ms(closes)} (ledger time); the proposal is {status}"
                )
            burn = 0 if status == PENDING else _burn_of(proposal)
        elif sender == params["guardian"]:
            if status not in (PENDING, ACTIVE, SUCCEEDED, QUEUED):
                raise Conflict(f"{what}: it is {status} (settle it instead)")
            burn = 0
        else:
            raise PermissionDenied(f"{what}: only its proposer or the guardian may cancel it")
        proposal["canceled_at"], proposal["canceled_by"] = state.now, sender
        _settle(state, proposal, burn, 0)
        _save(state, proposal)


# -- timelock and execution ---------------------------------------------------
def dao_queue(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    expect_kind(items, "dao_queue")
    for item in items:
        proposal = get_proposal(state, item.get("proposal"), "queue")
        status = proposal_status(proposal, state.now)
        if status != SUCCEEDED:
            raise Conflict(
                f"queue proposal {proposal['id']!r}: only a Succeeded proposal is queued;"
                f" it is {status}"
            )
        proposal["queued_at"] = state.now
        proposal["eta"] = iso_from_ms(ledger_ms(state.now) + proposal["rules"]["timelock_ms"])
        _save(state, proposal)


def dao_execute(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    expect_kind(items, "dao_execute")
    for item in items:
        proposal = get_proposal(state, item.get("proposal"), "execute")
        what = f"execute proposal {proposal['id']!r}"
        status = proposal_status(proposal, state.now)
        if status == EXECUTED:
            raise Conflict(f"{what}: it was already executed at {proposal['executed_at']}")
        if status != QUEUED:
            raise Conflict(f"{what}: only a Queued proposal is executed; it is {status}")
        if ledger_ms(state.now) < ledger_ms(proposal["eta"]):
            raise Conflict(
                f"{what}: the timelock runs until {proposal['eta']}; ledger time is {state.now}"
            )
        proposal["issued"] = perform(state, proposal["parts"], what)
        proposal["executed_at"], proposal["executed_by"] = state.now, body["sender"]
        reward = proposal["stake"] * proposal["rules"]["reward_bps"] // _BPS
        _settle(state, proposal, 0, reward)
        _save(state, proposal)


def dao_settle(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    expect_kind(items, "dao_settle")
    for item in items:
        proposal = get_proposal(state, item.get("proposal"), "settle")
        what = f"settle proposal {proposal['id']!r}"
        if proposal["settled"] is not None:
            raise Conflict(f"{what}: its stake was settled at {proposal['settled']['at']}")
        status = proposal_status(proposal, state.now)
        if status == EXPIRED:
            burn = 0
        elif status in ("QuorumFailed", "Defeated"):
            burn = _burn_of(proposal)
        else:
            raise Conflict(
                f"{what}: only a QuorumFailed, Defeated or Expired proposal is settled;"
                f" it is {status}"
            )
        _settle(state, proposal, burn, 0)
        _save(state, proposal)


def dao_release(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    voter = body["sender"]
    expect_kind(items, "dao_release")
    for item in items:
        proposal = get_proposal(state, item.get("proposal"), "release")
        what = f"release tokens of proposal {proposal['id']!r}"
        key = ballot_key(proposal["id"], voter)
        ballot = state.dao.get(key)
        if ballot is None or ballot["withdrawn_at"] is not None:
            raise NotFound(f"{what}: {voter} has no ballot locking tokens there")
        if ballot["released_at"] is not None:
            raise Conflict(f"{what}: already released at {ballot['released_at']}")
        status = proposal_status(proposal, state.now)
        if status in (PENDING, ACTIVE):
            raise Conflict(
                f"{what}: voting runs until {proposal['vote_end']} (ledger time); tokens stay"
                " locked until it ends (or withdraw the vote within its cancel window)"
            )
        unlock(state, voter, ballot["amount"])
        state.dao[key] = {**ballot, "released_at": state.now}


RULES: dict[str, Rule] = {
    "dao_setup": dao_setup,
    "dao_issue": dao_issue,
    "dao_transfer": dao_transfer,
    "dao_propose": dao_propose,
    "dao_vote": dao_vote,
    "dao_withdraw": dao_withdraw,
    "dao_cancel": dao_cancel,
    "dao_queue": dao_queue,
    "dao_execute": dao_execute,
    "dao_settle": dao_settle,
    "dao_release": dao_release,
}
