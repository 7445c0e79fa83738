"""Tokens (certificates, offsets, audited emissions) and the DAO: pages over
:mod:`carbonledger.services.tokens` and :mod:`carbonledger.services.dao`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response

from carbonledger.errors import CarbonLedgerError, InvalidInput
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services import dao, tokens
from carbonledger.services.offsets import package_directory
from carbonledger.web.render import WebRoute, check_csrf, context, render, require_user, write
from carbonledger.web.session import WebUser, current_user

__all__ = ["router"]

FormStr = Annotated[str, Form()]
router = APIRouter(route_class=WebRoute, include_in_schema=False)
DAO_KINDS = ("vote", "dao_project", "project")


def _items(request: Request, kind: str, limit: int = 200) -> list[dict[str, Any]]:
    ledger = context(request).ledger
    return [s.item for s in ledger.items(ItemQuery(kind=kind, limit=limit))]


def _tokens_page(request: Request, user: WebUser | None, **values: Any) -> Response:
    ctx = context(request)
    state = ctx.ledger.state()
    listed = tokens.list_tokens(state)
    balances = tokens.balances(state)
    held = []
    if user is not None:
        held = [b for b in balances if b.holder == user.address and b.available > 0]
    names = {a: f"{i.get('org') or ''}/{i.get('name')}" for a, i in state.identities.items()}
    return render(
        request,
        "tokens.html",
        title="Tokens",
        user=user,
        tokens=listed,
        balances=balances,
        held=held,
        names=names,
        retirements=list(reversed(_items(request, "token_retirement"))),
        can_write=bool(user is not None and user.key is not None),
        **{"done": "", "errors": {}, **values},
    )


@router.get("/tokens")
def tokens_view(request: Request) -> Response:
    return _tokens_page(request, current_user(context(request), request))


def _amount(value: str) -> int:
    try:
        amount = int(value)
    except ValueError as exc:
        raise InvalidInput("amount: a whole number of the token's units") from exc
    if amount <= 0:
        raise InvalidInput("amount: must be more than 0")
    return amount


def _token_action(
    request: Request,
    csrf_token: str,
    *,
    action: str,
    fields: dict[str, tuple[str, str]],
    amount: str,
    run: Callable[[Any, WebUser, Any, int], str],
) -> Response:
    """One token form: ``fields`` maps each required field to (value, what it should be);
    ``run(ctx, user, key, units)`` writes and returns what the page says was done. A refused
    write shows the form again with the error beside the field it names."""
    user = require_user(request)
    check_csrf(request, csrf_token)
    ctx = context(request)
    try:
        if user.key is None:
            raise InvalidInput(f"token: sign in with your keystore to {action}")
        for name, (value, wanted) in fields.items():
            if not value.strip():
                raise InvalidInput(f"{name}: {wanted}")
        units = _amount(amount)
        key = user.key
        done = write(ctx, lambda: run(ctx, user, key, units))
    except CarbonLedgerError as exc:
        field, _, why = str(exc).partition(": ")
        known = field == "amount" or field in fields
        name = f"{action}_{field if known else 'token'}"
        return _tokens_page(request, user, status=400, errors={name: why or str(exc)})
    return _tokens_page(request, user, done=done)


@router.post("/tokens/retire")
def tokens_retire(
    request: Request,
    *,
    token: FormStr = "",
    amount: FormStr = "",
    beneficiary: FormStr = "",
    reason: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    def run(ctx: Any, user: WebUser, key: Any, units: int) -> str:
        receipt = tokens.retire(
            ctx.ledger,
            key,
            token,
            amount=units,
            beneficiary=beneficiary.strip(),
            reason=reason.strip() or "retired from the web UI",
            org=user.org,
        )
        return f"Retired {units} of {token} (entry {receipt.seq})."

    fields = {"beneficiary": (beneficiary, "whom the retirement is for")}
    return _token_action(
        request, csrf_token, action="retire", fields=fields, amount=amount, run=run
    )


@router.post("/tokens/transfer")
def tokens_transfer(
    request: Request,
    *,
    token: FormStr = "",
    to: FormStr = "",
    amount: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    def run(ctx: Any, user: WebUser, key: Any, units: int) -> str:
        receipt = tokens.transfer(ctx.ledger, key, token, to=to.strip(), amount=units)
        return f"Transferred {units} of {token} to {to} (entry {receipt.seq})."

    fields = {"to": (to, "an address or ORG/NAME")}
    return _token_action(
        request, csrf_token, action="transfer", fields=fields, amount=amount, run=run
    )


def _proposals(request: Request) -> list[dict[str, Any]]:
    """Proposals with status, tallies and project registry data (from the DAO service)."""
    state = context(request).ledger.state()
    directory = package_directory()
    return [
        dao.proposal_view(state, p["id"], directory=directory) for p in dao.list_proposals(state)
    ]


def _projects(
    recorded: list[dict[str, Any]], proposals: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Projects on the ledger and those the proposals name (from the offsets directory), once."""
    seen: dict[str, dict[str, Any]] = {}
    for project in [*recorded, *(pr for p in proposals for pr in p.get("projects") or [])]:
        seen.setdefault(str(project.get("id")), project)
    return list(seen.values())


def _dao_page(request: Request, user: WebUser | None, **values: Any) -> Response:
    items = {kind: _items(request, kind) for kind in DAO_KINDS}
    proposals = _proposals(request)
    return render(
        request,
        "dao.html",
        title="DAO",
        user=user,
        proposals=proposals,
        votes=items["vote"],
        projects=_projects(items["dao_project"] + items["project"], proposals),
        can_vote=bool(user is not None and user.key is not None),
        **{"done": "", "errors": {}, **values},
    )


@router.get("/dao")
def dao_view(request: Request) -> Response:
    return _dao_page(request, current_user(context(request), request))


@router.post("/dao/vote")
def dao_vote(
    request: Request,
    *,
    proposal: FormStr = "",
    choice: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    user = require_user(request)
    check_csrf(request, csrf_token)
    ctx = context(request)
    if user.key is None:
        why = "sign in with your keystore to vote"
        return _dao_page(request, user, status=400, errors={"vote": why})
    if choice not in ("for", "against", "abstain") or not proposal:
        return _dao_page(
            request,
            user,
            status=400,
            errors={"vote": "choose a proposal and for, against or abstain"},
        )
    try:
        key = user.key
        receipt = write(ctx, lambda: dao.vote(ctx.ledger, key, proposal, choice=choice))
    except CarbonLedgerError as exc:
        return _dao_page(request, user, status=400, errors={"vote": str(exc)})
    return _dao_page(request, user, done=f"Voted {choice} on {proposal} (entry {receipt.seq}).")
