"""Issuing a token: every check a new token passes, whoever issues it (pure).

:func:`issue` is what the ``issue_token`` rule does for a dealer or an auditor who
signs the transaction; :func:`issue_by_dao` is what a DAO proposal's execution
does (the proposal, voted and timelocked, is the authority: no dealer role is
asked, the issuer is :data:`~carbonledger.core.dao.model.DAO_ISSUER`). Both run
the same checks of the token itself: serials never issued twice, the project
proven in a registered directory, an active recipient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from carbonledger.core.dao.model import DAO_ISSUER, require_dao_issuance
from carbonledger.core.identities import require_active
from carbonledger.core.merkle import root_from_leaf_hashes
from carbonledger.core.rules.channels import channel_access
from carbonledger.core.rules.common import check_id
from carbonledger.core.state import LedgerState
from carbonledger.core.tokens.directory import HEX64, offset_project
from carbonledger.core.tokens.holdings import check_serial_free, credit
from carbonledger.core.tokens.model import (
    AUDITED,
    BASE_UNITS,
    OFFSET,
    REC,
    TOKEN_TYPES,
    SerialRange,
    check_amount,
    check_date,
    check_grid_region,
    check_text,
    is_token_id,
    org_holder,
)
from carbonledger.errors import DuplicateEntity, InvalidInput, NotFound, PermissionDenied

__all__ = ["DEALER_ROLE", "SCOPES", "check_period", "issue", "issue_by_dao", "require_role"]

#: The role that may issue each type.
DEALER_ROLE = {REC: "rec_dealer", OFFSET: "offset_dealer", AUDITED: "auditor"}
#: Scopes an audited-emissions token may attest.
SCOPES = ("1", "2", "2-location", "2-market", "3", "1+2", "1+2+3")


def require_role(state: LedgerState, sender: str, role: str, what: str) -> dict[str, Any]:
    ident = state.identities.get(sender, {})
    if role not in ident.get("roles", ()):
        raise PermissionDenied(f"{what}: signer {sender} does not hold the {role} role")
    return ident


def check_period(value: object, what: str) -> dict[str, str]:
    """``{start, end}`` dates, end not before start."""
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be an object {{start, end}} of dates")
    start = check_date(value.get("start"), f"{what}.start")
    end = check_date(value.get("end"), f"{what}.end")
    if end < start:
        raise InvalidInput(f"{what}: end {end} is before start {start}")
    return {"start": start.isoformat(), "end": end.isoformat()}


def issue(state: LedgerState, sender: str, item: dict[str, Any]) -> dict[str, Any]:
    """Issue the token ``item`` describes, signed by ``sender``: a dealer of its type
    (REC, OFFSET; only through the DAO in limited mode) or an auditor (AUDITED_EMISSIONS)."""

    def authorise(ttype: str, what: str) -> None:
        if ttype != AUDITED:
            # In limited mode, offsets and RECs are issued only through the DAO.
            require_dao_issuance(state, sender, what)
        require_role(state, sender, DEALER_ROLE[ttype], what)

    return _issue(state, sender, item, authorise)


def issue_by_dao(state: LedgerState, item: dict[str, Any]) -> dict[str, Any]:
    """Issue a REC or OFFSET token on behalf of the DAO (a proposal's execution)."""

    def authorise(ttype: str, what: str) -> None:
        if ttype == AUDITED:
            raise PermissionDenied(f"{what}: the DAO does not issue audited emissions")

    return _issue(state, DAO_ISSUER, item, authorise)


def _issue(
    state: LedgerState,
    issuer: str,
    item: dict[str, Any],
    authorise: Callable[[str, str], None],
) -> dict[str, Any]:
    tid = check_id("token", item.get("id"))
    what = f"issue token {tid!r}"
    if not is_token_id(tid):
        raise InvalidInput(f"{what}: token id 0 is reserved (it never names a token)")
    if tid in state.tokens:
        raise DuplicateEntity(f"{what}: token {tid!r} already exists")
    ttype = item.get("type")
    if ttype not in TOKEN_TYPES:
        raise InvalidInput(f"{what}: type must be one of {', '.join(TOKEN_TYPES)}")
    authorise(ttype, what)
    amount = check_amount(item.get("amount"), what)
    token: dict[str, Any] = {
        "id": tid,
        "type": ttype,
        "unit": BASE_UNITS[ttype],
        "issuer": issuer,
        "issued_at": state.now,
        "issued": amount,
        "retired": 0,
        "transferable": ttype != AUDITED,
        "registry": None,
        "serial": None,
        "org": None,
    }
    if ttype == AUDITED:
        org = _audited_org(state, issuer, item, what)
        meta = {
            "org": org,
            "scope": _scope(item.get("scope"), what),
            "period": check_period(item.get("period"), f"{what}: period"),
            "manifest": _manifest(item.get("manifest"), what),
            "auditor": issuer,
            "report": None if item.get("report") is None else str(item["report"]),
        }
        state.tokens[tid] = {**token, "retired": amount, "org": org, "meta": meta}
        credit(state, org_holder(org), tid, 0, amount)
        return state.tokens[tid]
    registry = check_text(item.get("registry"), f"{what}: registry", limit=64)
    serial = SerialRange.parse(item.get("serial"), what)
    if serial.count != amount:
        raise InvalidInput(
            f"{what}: serial range {serial} holds {serial.count} serials for {amount} units"
        )
    meta = _rec_meta(item, what) if ttype == REC else _offset_meta(state, item, what)
    to = require_active(state.identities, item.get("to"), f"{what}: to")
    check_serial_free(state, registry, serial, what)
    state.tokens[tid] = {**token, "registry": registry, "serial": serial.to_json(), "meta": meta}
    credit(state, to, tid, amount, 0)
    return state.tokens[tid]


def _rec_meta(item: dict[str, Any], what: str) -> dict[str, Any]:
    facility = item.get("facility")
    if not isinstance(facility, dict):
        raise InvalidInput(f"{what}: facility {{name, id?}} is required")
    meta = {
        "facility": {
            "name": check_text(facility.get("name"), f"{what}: facility.name"),
            "id": None if facility.get("id") is None else str(facility["id"]),
        },
        "grid_region": check_grid_region(item.get("grid_region"), f"{what}: grid_region"),
        "generation": check_period(item.get("generation"), f"{what}: generation"),
        "technology": None,
    }
    if item.get("technology") is not None:
        meta["technology"] = check_text(item["technology"], f"{what}: technology", limit=64)
    return meta


def _offset_meta(state: LedgerState, item: dict[str, Any], what: str) -> dict[str, Any]:
    project = offset_project(state, item, what)
    vintage = item.get("vintage")
    if not isinstance(vintage, int) or isinstance(vintage, bool) or not 1990 <= vintage <= 2100:
        raise InvalidInput(f"{what}: vintage must be a year (1990-2100), got {vintage!r}")
    if item.get("registry") != project["registry"]:
        raise InvalidInput(
            f"{what}: registry {item.get('registry')!r} is not the project's registry"
            f" {project['registry']!r}"
        )
    return {"project": project, "directory": str(item["directory"]), "vintage": vintage}


def _audited_org(state: LedgerState, sender: str, item: dict[str, Any], what: str) -> str:
    org = str(item.get("org"))
    if org not in state.orgs:
        raise NotFound(f"{what}: organisation {org!r} is not registered")
    channel_access(state, org, sender)  # the auditor can read what it attests
    for field in ("to", "transferable", "registry", "serial"):
        if item.get(field) is not None:
            raise InvalidInput(
                f"{what}: audited emissions are minted retired to the organisation; {field}"
                " must not be given"
            )
    return org


def _scope(value: object, what: str) -> str:
    if value not in SCOPES:
        raise InvalidInput(f"{what}: scope must be one of {', '.join(SCOPES)}, got {value!r}")
    return str(value)


def _manifest(value: object, what: str) -> dict[str, Any]:
    """Records attested: ``{entries: [{record, leaf}], root}``; root recomputed here."""
    if not isinstance(value, dict) or not isinstance(value.get("entries"), list):
        raise InvalidInput(f"{what}: manifest {{entries: [{{record, leaf}}], root}} is required")
    entries = value["entries"]
    if not entries:
        raise InvalidInput(f"{what}: manifest lists no records")
    seen: set[str] = set()
    hashes: list[bytes] = []
    for n, entry in enumerate(entries):
        rid, leaf = (entry.get("record"), entry.get("leaf")) if isinstance(entry, dict) else (0, 0)
        if not isinstance(rid, str) or not isinstance(leaf, str) or not HEX64.match(leaf):
            raise InvalidInput(f"{what}: manifest entry {n} must be {{record, leaf: sha256}}")
        if rid in seen:
            raise InvalidInput(f"{what}: manifest lists record {rid} twice")
        seen.add(rid)
        hashes.append(bytes.fromhex(leaf))
    if value.get("root") != root_from_leaf_hashes(hashes).hex():
        raise InvalidInput(f"{what}: manifest root is not the Merkle root of its entries")
    return {"records": len(entries), "root": value["root"]}
