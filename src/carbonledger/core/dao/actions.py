"""What a proposal may do, checked when it is proposed and performed when it is executed.

===============  ==================================================================
``issue_offset`` issue an OFFSET token (a project of a registered offsets directory
                 edition, with its inclusion proof) to an identity, on behalf of the DAO
``issue_rec``    issue a REC token to an identity, on behalf of the DAO
``fund``         pay governance tokens from the treasury to an identity (optionally
                 for one of the proposal's projects)
``set_param``    change a governance parameter (see :data:`~.model.PARAMS`)
===============  ==================================================================

Issuing on behalf of the DAO runs the token network's own ``issue_token`` rule,
unchanged, with the DAO (:data:`~.model.DAO_ISSUER`) as the dealer, on a working
copy of the state; only the token network's values (tokens, balances) are
taken back. So a DAO-issued token passes every check a dealer's does (serials
never issued twice, the project proven in the directory, an active recipient)
and its issuer is ``"dao"``. At proposal time the same run is a dry run whose
result is discarded; at execution it is done again against the state of that
moment (a serial or token id taken meanwhile refuses the execution, naming why).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from carbonledger.core.dao.balances import pay
from carbonledger.core.dao.model import DAO_ISSUER, check_param
from carbonledger.core.state import LedgerState
from carbonledger.core.tokens.model import OFFSET, REC, check_amount, check_text
from carbonledger.errors import CarbonLedgerError, InvalidInput, NotFound, PermissionDenied

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


def _tokens_module() -> Any:
    # core.rules imports the governance rules, which import this module: the
    # token rules are looked up when a proposal is checked, not at import.
    from carbonledger.core.rules import tokens

    return tokens


def _identity(state: LedgerState, address: object, what: str) -> str:
    ident = state.identities.get(str(address))
    if ident is None or address == DAO_ISSUER:
        raise NotFound(f"{what}: {address!r} is not an enrolled identity")
    if ident.get("status") != "active":
        raise PermissionDenied(f"{what}: {address} ({ident.get('name')}) is revoked")
    return str(address)


def check_project(state: LedgerState, ref: object, what: str) -> dict[str, Any]:
    """A project of a registered directory edition: ``{directory, project, project_proof}``.

    Returns what the proposal shows: the project's directory fields and edition.
    """
    from carbonledger.core.merkle import leaf_hash, verify_inclusion

    tokens = _tokens_module()
    if not isinstance(ref, dict):
        raise InvalidInput(f"{what}: a project is {{directory, project, project_proof}}")
    directory = state.tokens.get(tokens.DIRECTORY_PREFIX + str(ref.get("directory")))
    if directory is None:
        raise NotFound(f"{what}: offset directory {ref.get('directory')!r} is not registered")
    project, proof = ref.get("project"), ref.get("project_proof")
    if not isinstance(project, dict) or not isinstance(project.get("id"), str):
        raise InvalidInput(f"{what}: project must be a directory entry with an id")
    try:
        index, path = proof["index"], [bytes.fromhex(h) for h in proof["path"]]  # type: ignore[index]
        ok = (
            isinstance(index, int)
            and 0 <= index < directory["projects"]
            and verify_inclusion(
                leaf_hash(tokens.project_leaf(project)),
                index,
                directory["projects"],
                path,
                bytes.fromhex(directory["root"]),
            )
        )
    except (TypeError, KeyError, ValueError) as exc:
        raise InvalidInput(f"{what}: project_proof must be {{index, path: [sha256 hex]}}") from exc
    if not ok:
        raise NotFound(
            f"{what}: project {project['id']!r} is not in offset directory {directory['id']!r}"
        )
    fields = {k: project.get(k) for k in tokens.PROJECT_FIELDS}
    return {"directory": directory["id"], **fields}


def _issue_as_dao(state: LedgerState, item: dict[str, Any], what: str) -> dict[str, Any]:
    """Run the token network's ``issue_token`` with the DAO as the dealer; the new token."""
    tokens = _tokens_module()
    shadow = state.copy()
    shadow.identities[DAO_ISSUER] = {
        "name": "DAO",
        "status": "active",
        "roles": ["offset_dealer", "rec_dealer"],
    }
    try:
        tokens.RULES["issue_token"](shadow, {"type": "issue_token", "sender": DAO_ISSUER}, [item])
    except CarbonLedgerError as exc:
        raise type(exc)(f"{what}: {exc}") from exc
    state.tokens, state.balances = shadow.tokens, shadow.balances
    return dict(shadow.tokens[item["id"]])


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
