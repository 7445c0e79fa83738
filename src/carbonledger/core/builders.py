"""One builder per item kind that is built outside the core: the token network and the DAO.

Services, the CLI, the API and the demo build these items through the functions
here and nowhere else, so an item of a kind has one shape whoever sends it
(the shapes are in :mod:`carbonledger.core.items`). Builders only assemble: the
rules of the transaction that carries the item check it.

:func:`decode_item` reads an item received as bytes: canonical JSON
(:func:`~carbonledger.core.canonical.loads_canonical`), a known ``kind``, and the
fields its shape declares, no unknown one and none of the required ones missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, cast, get_args, get_type_hints

from carbonledger.core.canonical import loads_canonical
from carbonledger.core.item_parts import (
    DirectoryProject,
    Manifest,
    Period,
    ProjectProof,
    ProjectRef,
    ProposalPart,
    Serial,
)
from carbonledger.core.items import (
    ITEM_TYPES,
    DaoIssueItem,
    DaoProposalActItem,
    DaoSetupItem,
    DaoTransferItem,
    ProposalItem,
    TokenItem,
    TokenMintItem,
    TokenRetirementItem,
    TokenTransferItem,
    VoteItem,
)
from carbonledger.core.tokens.model import SerialRange
from carbonledger.errors import InvalidInput

__all__ = [
    "OMIT",
    "audited_token",
    "dao_act",
    "dao_issue",
    "dao_setup",
    "dao_transfer",
    "decode_item",
    "offset_token",
    "period",
    "proposal",
    "rec_token",
    "serial",
    "token_mint",
    "token_retirement",
    "token_transfer",
    "vote",
]


class _Omit:
    """The marker of a field left out of an item (``None`` writes ``null``)."""

    def __repr__(self) -> str:
        return "OMIT"


OMIT = _Omit()


def period(start: date | str, end: date | str) -> Period:
    """``{start, end}``: dates written ``YYYY-MM-DD``."""
    return {
        "start": start if isinstance(start, str) else start.isoformat(),
        "end": end if isinstance(end, str) else end.isoformat(),
    }


def serial(prefix: str, start: int, count: int) -> Serial:
    """``count`` registry serials from ``prefix+start``."""
    return cast(Serial, SerialRange(prefix, start, start + count - 1).to_json())


# -- tokens ---------------------------------------------------------------------
def rec_token(
    *,
    token_id: str,
    to: str,
    mwh: int,
    facility: str,
    facility_id: str | None,
    grid_region: str,
    generation: Period,
    technology: str | None,
    registry: str,
    serials: Serial,
) -> TokenItem:
    """A REC token (one serial per MWh), issued by a dealer or by the DAO."""
    return {
        "kind": "token",
        "id": token_id,
        "type": "REC",
        "amount": mwh,
        "to": to,
        "facility": {"name": facility, "id": facility_id},
        "grid_region": grid_region,
        "generation": generation,
        "technology": technology,
        "registry": registry,
        "serial": serials,
    }


def offset_token(
    *,
    token_id: str,
    to: str,
    tonnes: int,
    directory: str,
    project: DirectoryProject,
    project_proof: ProjectProof,
    vintage: int,
    registry: str,
    serials: Serial,
) -> TokenItem:
    """An OFFSET token of a directory project (one serial per tonne), by a dealer or the DAO."""
    return {
        "kind": "token",
        "id": token_id,
        "type": "OFFSET",
        "amount": tonnes,
        "to": to,
        "directory": directory,
        "project": project,
        "project_proof": project_proof,
        "vintage": vintage,
        "registry": registry,
        "serial": serials,
    }


def audited_token(
    *,
    token_id: str,
    mg_co2e: int,
    org: str,
    scope: str,
    audited: Period,
    manifest: Manifest,
    report: str | _Omit | None = OMIT,
) -> TokenItem:
    """Audited emissions of ``org`` (minted retired to it by an auditor)."""
    item: TokenItem = {
        "kind": "token",
        "id": token_id,
        "type": "AUDITED_EMISSIONS",
        "amount": mg_co2e,
        "org": org,
        "scope": scope,
        "period": audited,
        "manifest": manifest,
    }
    if not isinstance(report, _Omit):
        item["report"] = report
    return item


def token_mint(*, mint_id: str, token: str, to: str, amount: int, serials: Serial) -> TokenMintItem:
    return {
        "kind": "token_mint",
        "id": mint_id,
        "token": token,
        "amount": amount,
        "to": to,
        "serial": serials,
    }


def token_transfer(
    *, transfer_id: str, token: str, sender: str, to: str, amount: int
) -> TokenTransferItem:
    return {
        "kind": "token_transfer",
        "id": transfer_id,
        "token": token,
        "from": sender,
        "to": to,
        "amount": amount,
    }


def token_retirement(
    *,
    retirement_id: str,
    token: str,
    holder: str,
    amount: int,
    serials: Serial | None,
    beneficiary: str,
    reason: str,
    org: str | None = None,
    site: str | None = None,
    claimed: Period | None = None,
) -> TokenRetirementItem:
    """Retire ``amount`` units (the token's next ``serials``) for ``beneficiary``."""
    return {
        "kind": "token_retirement",
        "id": retirement_id,
        "token": token,
        "holder": holder,
        "amount": amount,
        "serial": serials,
        "beneficiary": beneficiary,
        "reason": reason,
        "org": org,
        "site": site,
        "period": claimed,
    }


# -- the DAO --------------------------------------------------------------------
def dao_setup(*, name: str, symbol: str, params: Mapping[str, Any]) -> DaoSetupItem:
    return {"kind": "dao_setup", "name": name, "symbol": symbol, "params": dict(params)}


def dao_issue(*, issue_id: str, to: str, amount: int) -> DaoIssueItem:
    return {"kind": "dao_issue", "id": issue_id, "to": to, "amount": amount}


def dao_transfer(*, transfer_id: str, to: str, amount: int) -> DaoTransferItem:
    return {"kind": "dao_transfer", "id": transfer_id, "to": to, "amount": amount}


def proposal(
    *,
    proposal_id: str,
    title: str,
    description: str,
    parts: Sequence[ProposalPart],
    projects: Sequence[ProjectRef],
) -> ProposalItem:
    return {
        "kind": "proposal",
        "id": proposal_id,
        "title": title,
        "description": description,
        "parts": list(parts),
        "projects": list(projects),
    }


def vote(*, proposal_id: str, amount: int, choices: Sequence[str]) -> VoteItem:
    """A ballot: ``amount`` tokens locked, one choice per part (the rule checks each)."""
    item = {"kind": "vote", "proposal": proposal_id, "amount": amount, "choices": list(choices)}
    return cast(VoteItem, item)


def dao_act(kind: str, proposal_id: str) -> DaoProposalActItem:
    """Queue, execute, cancel, settle, release or withdraw a vote on ``proposal_id``."""
    kinds = get_args(get_type_hints(DaoProposalActItem)["kind"])
    if kind not in kinds:
        raise InvalidInput(f"{kind!r} is not one of {', '.join(kinds)}")
    return cast(DaoProposalActItem, {"kind": kind, "proposal": proposal_id})


# -- reading ----------------------------------------------------------------------
def decode_item(data: bytes, what: str = "item") -> dict[str, Any]:
    """An item received as bytes, checked to be canonical and of its kind's shape."""
    item = loads_canonical(data, what)
    if not isinstance(item, dict):
        raise InvalidInput(f"{what} is not a JSON object")
    shape = ITEM_TYPES.get(str(item.get("kind")))
    if shape is None:
        raise InvalidInput(f"{what}: unknown kind {item.get('kind')!r}")
    declared = get_type_hints(shape).keys()
    unknown = sorted(set(item) - declared)
    missing = sorted(shape.__required_keys__ - set(item))  # type: ignore[attr-defined]
    if unknown or missing:
        raise InvalidInput(
            f"{what}: a {item['kind']} item"
            + (f" has no field {', '.join(unknown)}" if unknown else "")
            + (" and" if unknown and missing else "")
            + (f" lacks {', '.join(missing)}" if missing else "")
        )
    return item
