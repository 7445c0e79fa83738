"""What a proposal may do, checked when it is proposed and performed when it is executed.

===============  ==================================================================
``issue_offset`` issue an OFFSET token (a project of a registered offsets directory
                 edition, with its inclusion proof) to an identity, on behalf of the DAO
``issue_rec``    issue a REC token to an identity, on behalf of the DAO
``fund``         pay governance tokens from the treasury to an identity (optionally
                 for one of the proposal's projects)
``set_param``    change a governance parameter (see :data:`~.model.PARAMS`)
===============  ==================================================================

Issuing on behalf of the DAO is :func:`carbonledger.core.tokens.issuance.issue_by_dao`:
the same checks of the token a dealer's issue passes (serials never issued twice,
the project proven in the directory, an active recipient), with the DAO
(:data:`~.model.DAO_ISSUER`) as issuer and the proposal as the authority. At
proposal time it runs on a working copy (a dry run whose result is discarded); at
execution it runs again against the state of that moment (a serial or token id
taken meanwhile refuses the execution, naming why).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from carbonledger.core.dao.balances import pay
from carbonledger.core.dao.model import check_param
from carbonledger.core.identities import require_active
from carbonledger.core.state import LedgerState
from carbonledger.core.tokens.directory import DIRECTORY_PREFIX, offset_project
from carbonledger.core.tokens.issuance import issue_by_dao
from carbonledger.core.tokens.model import OFFSET, REC, check_amount, check_text
from carbonledger.errors import CarbonLedgerError, InvalidInput, NotFound

__all__ = [
    "ACTION_TYPES",
    "MAX_ACTIONS",
    "MAX_PARTS",
    "check_actions",
    "check_project",
    "perform",
]

ACTION_TYPES = ("issue_offset", "issue_rec", "fund", "set_param")
_TOKEN_TYPE = {"issue_offset": OFFSET, "issue_rec": REC}
MAX_PARTS = 10
MAX_ACTIONS = 10  # per part, as the original Governor's proposalMaxOperations


def _identity(state: LedgerState, address: object, what: str) -> str:
    return require_active(state.identities, address, what)


def check_project(state: LedgerState, ref: object, what: str) -> dict[str, Any]:
    """A project of a registered directory edition: ``{directory, project, project_proof}``.

    Returns what the proposal shows: the project's directory fields and edition.
    """
    if not isinstance(ref, dict):
        raise InvalidInput(f"{what}: a project is {{directory, project, project_proof}}")
    fields = offset_project(state, ref, what)
    return {"directory": state.tokens[DIRECTORY_PREFIX + str(ref["directory"])]["id"], **fields}


def _issue_as_dao(state: LedgerState, item: dict[str, Any], what: str) -> dict[str, Any]:
    """Issue ``item`` on behalf of the DAO; the new token."""
    try:
        return dict(issue_by_dao(state, item))
    except CarbonLedgerError as exc:
        raise type(exc)(f"{what}: {exc}") from exc


def _check_action(
    state: LedgerState, action: object, projects: list[dict[str, Any]], what: str
) -> dict[str, Any]:
    if not isinstance(action, dict) or action.get("type") not in ACTION_TYPES:
        raise InvalidInput(f"{what}: an action has a type, one of {', '.join(ACTION_TYPES)}")
    kind = action["type"]
    if kind in _TOKEN_TYPE:
        item = action.get("token")
        if not isinstance(item, dict):
            raise InvalidInput(f"{what}: {kind} carries the token to issue (an issue_token item)")
        if item.get("type") != _TOKEN_TYPE[kind]:
            raise InvalidInput(f"{what}: {kind} issues a token of type {_TOKEN_TYPE[kind]}")
        _identity(state, item.get("to"), f"{what}: to")
        token = _issue_as_dao(state, dict(item), what)  # on a copy: a dry run
        if kind == "issue_offset":
            project = {"directory": token["meta"]["directory"], **token["meta"]["project"]}
            if all(p["id"] != project["id"] for p in projects):
                projects.append(project)
        return {"type": kind, "token": dict(item)}
    if kind == "fund":
        to = _identity(state, action.get("to"), f"{what}: to")
        amount = check_amount(action.get("amount"), f"{what}: fund")
        named = action.get("project")
        if named is not None and all(p["id"] != named for p in projects):
            raise NotFound(f"{what}: fund names project {named!r}, not one of the proposal's")
        return {"type": kind, "to": to, "amount": amount, "project": named}
    name = action.get("name")
    return {
        "type": kind,
        "name": name,
        "value": check_param(state, name, action.get("value"), what),
    }


def check_actions(
    state: LedgerState, parts: object, projects: list[dict[str, Any]], what: str
) -> list[dict[str, Any]]:
    """The proposal's parts as stored: ``[{title, actions, tally}]``; dry-runs every action.

    ``projects`` (the proposal's checked projects) gains the project of each
    ``issue_offset``. The dry run uses a working copy, so ``state`` is unchanged.
    """
    if not isinstance(parts, list) or not 1 <= len(parts) <= MAX_PARTS:
        raise InvalidInput(f"{what}: parts must be a list of 1 to {MAX_PARTS} parts")
    dry = state.copy()
    out = []
    for n, part in enumerate(parts):
        where = f"{what} part {n + 1}"
        if not isinstance(part, dict):
            raise InvalidInput(f"{where}: a part is {{title, actions}}")
        actions = part.get("actions")
        if not isinstance(actions, list) or not 1 <= len(actions) <= MAX_ACTIONS:
            raise InvalidInput(f"{where}: actions must be a list of 1 to {MAX_ACTIONS} actions")
        out.append(
            {
                "title": check_text(part.get("title"), f"{where}: title"),
                "actions": [
                    _check_action(dry, a, projects, f"{where} action {m + 1}")
                    for m, a in enumerate(actions)
                ],
                "tally": {"for": 0, "against": 0, "abstain": 0},
            }
        )
    return out


def perform(state: LedgerState, parts: Sequence[dict[str, Any]], what: str) -> list[str]:
    """Execute every action of every part, in order; the ids of the tokens issued."""
    issued = []
    for n, part in enumerate(parts):
        for m, action in enumerate(part["actions"]):
            where = f"{what} part {n + 1} action {m + 1}"
            kind = action["type"]
            if kind in _TOKEN_TYPE:
                _identity(state, action["token"]["to"], f"{where}: to")
                issued.append(_issue_as_dao(state, dict(action["token"]), where)["id"])
            elif kind == "fund":
                pay(state, _identity(state, action["to"], f"{where}: to"), action["amount"], where)
            else:
                value = check_param(state, action["name"], action["value"], where)
                state.dao["params"] = {**state.dao["params"], action["name"]: value}
    return issued
