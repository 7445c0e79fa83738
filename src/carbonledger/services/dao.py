"""DAO services: set up, distribute, propose, vote, queue, execute; what a proposal shows.

Every writing function builds the ledger items, signs them with the acting key
and submits them; the rules in :mod:`carbonledger.core.dao.rules` decide,
at the ledger time of the entry. Governance tokens are whole units; votes are
shown to 7 decimal places (:mod:`carbonledger.core.dao.quadratic`). Holders and
recipients are addresses (``0x...``), ``ORG/NAME`` of enrolled users, or
``treasury``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from carbonledger.core import builders
from carbonledger.core.dao.balances import distribution, supply
from carbonledger.core.dao.model import (
    PARAMS,
    STATES,
    TREASURY,
    ballot_key,
    dao_params,
    get_proposal,
    holder,
    proposal_key,
    proposal_status,
)
from carbonledger.core.dao.quadratic import format_votes, parse_votes, votes_for
from carbonledger.core.item_parts import ProjectRef, ProposalPart
from carbonledger.core.state import LedgerState
from carbonledger.core.tokens.offsets import OffsetDirectory
from carbonledger.core.tx import utc_now
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import InvalidInput, NotFound
from carbonledger.ports.ledger import LedgerPort, Receipt
from carbonledger.services.channels import submit_one
from carbonledger.services.tokens import offset_item, rec_item, resolve_holder

__all__ = [
    "Part",
    "cancel",
    "execute",
    "fund_action",
    "holders",
    "issue_tokens",
    "list_proposals",
    "offset_action",
    "param_action",
    "params_view",
    "parse_param",
    "parts_from_spec",
    "preview_votes",
    "project_ref",
    "proposal_view",
    "propose",
    "queue",
    "rec_action",
    "release",
    "settle",
    "setup",
    "transfer_tokens",
    "vote",
    "withdraw_vote",
]


@dataclass(frozen=True, slots=True)
class Part:
    """One separately voted part of a proposal: a title and its actions."""

    title: str
    actions: list[dict[str, Any]] = field(default_factory=list)

    def item(self) -> ProposalPart:
        return {"title": self.title, "actions": list(self.actions)}


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def _who(state: LedgerState, value: str) -> str:
    return "treasury" if value in ("treasury", TREASURY) else resolve_holder(state, value)


# -- token ----------------------------------------------------------------------
def setup(
    ledger: LedgerPort,
    admin: PrivateKey,
    *,
    name: str = "carbonledger DAO",
    symbol: str = "dCL",
    params: Mapping[str, Any] | None = None,
) -> Receipt:
    """Set the DAO up (network admin, once): the token, and parameters over the defaults."""
    item = builders.dao_setup(name=name, symbol=symbol, params=params or {})
    return submit_one(ledger, admin, "dao_setup", [item])


def issue_tokens(ledger: LedgerPort, admin: PrivateKey, allocations: Mapping[str, int]) -> Receipt:
    """Issue governance tokens (network admin): ``{holder or "treasury": tokens}``."""
    state = ledger.state()
    items = [
        builders.dao_issue(issue_id=_id("dao-issue"), to=_who(state, who), amount=amount)
        for who, amount in allocations.items()
    ]
    return submit_one(ledger, admin, "dao_issue", items)


def transfer_tokens(ledger: LedgerPort, holder: PrivateKey, *, to: str, amount: int) -> Receipt:
    item = builders.dao_transfer(
        transfer_id=_id("dao-xfer"), to=_who(ledger.state(), to), amount=amount
    )
    return submit_one(ledger, holder, "dao_transfer", [item])


# -- actions ------------------------------------------------------------------------
def project_ref(directory: OffsetDirectory, project: str) -> ProjectRef:
    """A project of ``directory`` as a proposal names it (with its inclusion proof)."""
    return {
        "directory": directory.id,
        "project": directory.get(project).summary(),
        "project_proof": directory.proof(project),
    }


def offset_action(state: LedgerState, directory: OffsetDirectory, **fields: Any) -> dict[str, Any]:
    """Issue offsets of a directory project on behalf of the DAO (``fields`` as
    :func:`carbonledger.services.tokens.offset_item` takes)."""
    return {"type": "issue_offset", "token": offset_item(state, directory, **fields)}


def rec_action(state: LedgerState, **fields: Any) -> dict[str, Any]:
    """Issue RECs on behalf of the DAO (``fields`` as
    :func:`carbonledger.services.tokens.rec_item` takes)."""
    return {"type": "issue_rec", "token": rec_item(state, **fields)}


def fund_action(
    state: LedgerState, *, to: str, amount: int, project: str | None = None
) -> dict[str, Any]:
    """Pay ``amount`` governance tokens from the treasury to ``to`` (for ``project``)."""
    return {"type": "fund", "to": resolve_holder(state, to), "amount": amount, "project": project}


def param_action(name: str, value: Any) -> dict[str, Any]:
    """Change a governance parameter (durations in ms, quorum in vote units)."""
    return {"type": "set_param", "name": name, "value": value}


_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_param(name: str, text: str) -> Any:
    """A parameter value from text: durations ``1500``/``1500ms``/``2s``/``3d`` (stored in ms),
    ``quorum`` in votes (``632`` or ``447.2135955``), booleans ``true``/``false``, the
    guardian an address or ``null``; the rules check the range."""
    spec = PARAMS.get(name)
    if spec is None:
        raise InvalidInput(f"unknown parameter {name!r} (one of {', '.join(PARAMS)})")
    kind, value = spec[0], text.strip()
    if kind == "bool":
        if value.lower() not in ("true", "false"):
            raise InvalidInput(f"{name}: give true or false, got {text!r}")
        return value.lower() == "true"
    if kind == "address":
        return None if value.lower() in ("null", "none", "") else value
    if name == "quorum":
        return parse_votes(value)
    number, unit = value, "ms"
    if kind == "ms":
        for suffix in sorted(_UNITS_MS, key=len, reverse=True):
            if value.endswith(suffix):
                number, unit = value[: -len(suffix)], suffix
                break
    try:
        return int(number) * _UNITS_MS[unit]
    except ValueError as exc:
        raise InvalidInput(f"{name}: {text!r} is not a whole number") from exc


def parts_from_spec(
    state: LedgerState, directory: OffsetDirectory, spec: Sequence[Mapping[str, Any]]
) -> list[Part]:
    """Parts from a plain description (a proposal file): each part ``{title, actions}``
    with actions ``{type: issue_offset, project, tonnes, vintage, to, serial_prefix,
    serial_start[, token_id]}``, ``{type: issue_rec, to, mwh, facility, grid_region,
    generation: [start, end], registry, serial_prefix, serial_start[, ...]}``,
    ``{type: fund, to, amount[, project]}`` or ``{type: set_param, name, value}``."""
    parts = []
    for n, part in enumerate(spec):
        actions = []
        for m, raw in enumerate(part.get("actions") or []):
            action = dict(raw)
            kind = action.pop("type", None)
            try:
                if kind == "issue_offset":
                    actions.append(offset_action(state, directory, **action))
                elif kind == "issue_rec":
                    start, end = action.pop("generation")
                    generation = (date.fromisoformat(start), date.fromisoformat(end))
                    actions.append(rec_action(state, generation=generation, **action))
                elif kind == "fund":
                    actions.append(fund_action(state, **action))
                elif kind == "set_param":
                    value = action["value"]
                    if isinstance(value, str) and PARAMS.get(action["name"], ("",))[0] != "address":
                        value = parse_param(action["name"], value)
                    actions.append(param_action(action["name"], value))
                else:
                    raise InvalidInput(f"unknown action type {kind!r}")
            except (TypeError, KeyError, ValueError) as exc:
                if isinstance(exc, InvalidInput):
                    raise InvalidInput(f"part {n + 1} action {m + 1}: {exc}") from exc
                raise InvalidInput(
                    f"part {n + 1} action {m + 1} ({kind}): {exc.__class__.__name__}: {exc}"
                ) from exc
        parts.append(Part(str(part.get("title") or f"part {n + 1}"), actions))
    return parts


# -- proposals ------------------------------------------------------------------
def propose(
    ledger: LedgerPort,
    proposer: PrivateKey,
    *,
    title: str,
    description: str,
    parts: Sequence[Part],
    projects: Sequence[ProjectRef] = (),
    proposal_id: str | None = None,
) -> str:
    """Make a proposal (staking the proposal threshold); its id.

    ``projects`` are :func:`project_ref` values the proposal names beside those of
    its ``issue_offset`` actions.
    """
    pid = proposal_id or _id("prop")
    item = builders.proposal(
        proposal_id=pid,
        title=title,
        description=description,
        parts=[p.item() for p in parts],
        projects=projects,
    )
    submit_one(ledger, proposer, "dao_propose", [item])
    return pid


def vote(
    ledger: LedgerPort,
    voter: PrivateKey,
    proposal: str,
    *,
    choice: str | Sequence[str],
    amount: int | None = None,
) -> Receipt:
    """Lock ``amount`` tokens (default: all available) for sqrt(amount) votes.

    ``choice``: one of for/against/abstain for every part, or one per part.
    """
    state = ledger.state()
    parts = len(get_proposal(state, proposal, "vote")["parts"])
    if amount is None:
        amount = holder(state, voter.address)["available"]
        if not amount:
            raise InvalidInput(f"vote on {proposal!r}: {voter.address} has no available tokens")
    choices = [choice] * parts if isinstance(choice, str) else list(choice)
    item = builders.vote(proposal_id=proposal, amount=amount, choices=choices)
    return submit_one(ledger, voter, "dao_vote", [item])


def _send(ledger: LedgerPort, key: PrivateKey, tx_type: str, kind: str, pid: str) -> Receipt:
    return submit_one(ledger, key, tx_type, [builders.dao_act(kind, pid)])


def withdraw_vote(ledger: LedgerPort, key: PrivateKey, proposal: str) -> Receipt:
    """Withdraw one's ballot within its cancel window (its tokens are released)."""
    return _send(ledger, key, "dao_withdraw", "dao_vote_withdrawal", proposal)


def cancel(ledger: LedgerPort, key: PrivateKey, proposal: str) -> Receipt:
    """Cancel a proposal (its proposer within the window, or the guardian)."""
    return _send(ledger, key, "dao_cancel", "dao_cancel", proposal)


def queue(ledger: LedgerPort, key: PrivateKey, proposal: str) -> Receipt:
    """Queue a Succeeded proposal: executable once the timelock has run."""
    return _send(ledger, key, "dao_queue", "dao_queue", proposal)


def execute(ledger: LedgerPort, key: PrivateKey, proposal: str) -> Receipt:
    """Execute a Queued proposal whose timelock has run out."""
    return _send(ledger, key, "dao_execute", "dao_execute", proposal)


def settle(ledger: LedgerPort, key: PrivateKey, proposal: str) -> Receipt:
    """Settle the stake of a QuorumFailed, Defeated or Expired proposal."""
    return _send(ledger, key, "dao_settle", "dao_settle", proposal)


def release(ledger: LedgerPort, key: PrivateKey, proposal: str) -> Receipt:
    """Release one's tokens locked in a proposal whose voting has ended."""
    return _send(ledger, key, "dao_release", "dao_release", proposal)


# -- reading ----------------------------------------------------------------------
def holders(state: LedgerState) -> dict[str, Any]:
    """The token's supply and distribution: each holder's available, locked and share."""
    total = supply(state)
    rows = []
    for row in distribution(state):
        held = row["available"] + row["locked"]
        share = f"{100 * held / total['outstanding']:.2f}%" if total["outstanding"] else "-"
        name = state.identities.get(row["holder"], {}).get("name")
        org = state.identities.get(row["holder"], {}).get("org")
        label = "treasury" if row["holder"] == TREASURY else f"{org}/{name}" if name else ""
        rows.append({**row, "name": label, "share": share})
    token = state.dao.get("token") or {}
    return {
        "token": {k: token.get(k) for k in ("name", "symbol")},
        **total,
        "holders": rows,
    }


def _project_rows(proposal: dict[str, Any], directory: OffsetDirectory | None) -> list[Any]:
    rows = []
    for project in proposal["projects"]:
        registry: dict[str, Any] | None = None
        if directory is not None and directory.id == project["directory"]:
            try:
                registry = directory.get(project["id"]).to_dict()
            except NotFound:
                registry = None
        rows.append({**project, "registry_data": registry})
    return rows


def proposal_view(
    state: LedgerState,
    pid: str,
    *,
    directory: OffsetDirectory | None = None,
    now: str | None = None,
) -> dict[str, Any]:
    """A proposal as people read it: status at ``now`` (default: the next entry's time),
    votes per part (7 decimals), ballots, and each project's registry data from
    ``directory`` (the edition it was proven in)."""
    proposal = get_proposal(state, pid, "show")
    at = now or utc_now()
    ballots = [
        {**b, "votes_text": format_votes(b["votes"])}
        for k, b in state.dao.items()
        if k.startswith(ballot_key(pid, ""))
    ]
    parts = [
        {**p, "votes": {c: format_votes(n) for c, n in p["tally"].items()}}
        for p in proposal["parts"]
    ]
    return {
        **proposal,
        "status": proposal_status(proposal, at),
        "as_of": at,
        "parts": parts,
        "votes_text": format_votes(proposal["votes"]),
        "quorum_text": format_votes(proposal["rules"]["quorum"]),
        "ballots": sorted(ballots, key=lambda b: b["cast_at"]),
        "projects": _project_rows(proposal, directory),
    }


def list_proposals(
    state: LedgerState, *, status: str | None = None, now: str | None = None
) -> list[dict[str, Any]]:
    """Every proposal (oldest first) with its status at ``now``."""
    if status is not None and status not in STATES:
        raise InvalidInput(f"status {status!r}: one of {', '.join(STATES)}")
    at = now or utc_now()
    out = []
    for key, proposal in state.dao.items():
        if not key.startswith(proposal_key("")):
            continue
        current = proposal_status(proposal, at)
        if status is None or current == status:
            out.append(
                {
                    "id": proposal["id"],
                    "title": proposal["title"],
                    "status": current,
                    "parts": len(proposal["parts"]),
                    "votes": format_votes(proposal["votes"]),
                    "quorum": format_votes(proposal["rules"]["quorum"]),
                    "voters": proposal["voters"],
                    "vote_start": proposal["vote_start"],
                    "vote_end": proposal["vote_end"],
                    "eta": proposal["eta"],
                    "created_at": proposal["created_at"],
                }
            )
    return sorted(out, key=lambda p: (p["created_at"], p["id"]))


def params_view(state: LedgerState) -> dict[str, Any]:
    """The current parameters, with the quorum also in votes."""
    params = dao_params(state)
    return {**params, "quorum_votes": format_votes(params["quorum"])}


def preview_votes(tokens: int) -> str:
    """The votes ``tokens`` would give, as shown (7 decimals)."""
    return format_votes(votes_for(tokens))
