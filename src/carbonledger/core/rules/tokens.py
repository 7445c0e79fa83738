"""Token network rules: certificates, offsets, audited emissions (issue, mint, transfer, retire).

State (JSON-able, integers only; units in :mod:`carbonledger.core.tokens.model`):

* ``state.tokens[token_id]``: ``{id, type, unit, issuer, issued_at, issued, retired,
  transferable, registry, serial, meta, org}``; ``issued`` and ``retired`` are the
  token's totals in base units. Offset directory editions registered by the
  network admin live beside them under ``"@directory:<id>"`` (a key no token id
  can take; :func:`token_ids` skips them).
* ``state.balances["<holder>/<token_id>"]``: ``{available, retired}`` where the
  holder is an identity's address, or ``org:<id>`` for audited emissions.

Invariant kept by every rule (and checked by property tests): for each token,
the holders' ``available + retired`` sum to ``issued``, and their ``retired``
sum to ``retired``; no balance is ever negative.

Transaction types and who may send them:

==============================  ===============================================================
``register_offset_directory``   network admin: an edition of the offsets directory (SHA-256
                                of the file, RFC 6962 root over its projects)
``issue_token``                 REC: ``rec_dealer``; OFFSET: ``offset_dealer`` (project proven
                                in a registered directory); AUDITED_EMISSIONS: an ``auditor``
                                with current access to the organisation's channel, minted
                                retired to the organisation and never transferable
``mint_token``                  the token's issuer, still a dealer: more units of a REC or
                                OFFSET token, continuing its serial range (never audited)
``transfer_token``              the holder, to another active identity
``retire_token``                the holder: the next serials of the token, with beneficiary
                                and reason, optionally for an organisation, site and period
==============================  ===============================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from carbonledger.core.canonical import canonical
from carbonledger.core.dao.model import require_dao_issuance
from carbonledger.core.merkle import leaf_hash, root_from_leaf_hashes, verify_inclusion
from carbonledger.core.rules.channels import channel_access
from carbonledger.core.rules.common import check_id, expect_kind, require_network_admin
from carbonledger.core.state import LedgerState
from carbonledger.core.tokens.model import (
    AUDITED,
    BASE_UNITS,
    OFFSET,
    REC,
    TOKEN_TYPES,
    SerialRange,
    balance_key,
    check_amount,
    check_date,
    check_grid_region,
    check_text,
    is_token_id,
    org_holder,
)
from carbonledger.errors import Conflict, DuplicateEntity, InvalidInput, NotFound, PermissionDenied

__all__ = [
    "DEALER_ROLE",
    "DIRECTORY_PREFIX",
    "RULES",
    "SCOPES",
    "get_token",
    "next_serials",
    "project_leaf",
    "token_exists",
    "token_ids",
]

DIRECTORY_PREFIX = "@directory:"
#: The role that may issue each type.
DEALER_ROLE = {REC: "rec_dealer", OFFSET: "offset_dealer", AUDITED: "auditor"}
#: Scopes an audited-emissions token may attest.
SCOPES = ("1", "2", "2-location", "2-market", "3", "1+2", "1+2+3")
#: Fields of a directory project that an offset token carries (and the leaf commits to).
PROJECT_FIELDS = ("id", "name", "registry", "status", "type", "country")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


# -- reading the state ------------------------------------------------------
def token_ids(state: LedgerState) -> Iterator[str]:
    """Ids of every token (directory editions excluded)."""
    return (k for k in state.tokens if not k.startswith("@"))


def token_exists(state: LedgerState, token_id: object) -> bool:
    """True only for an issued token: id ``"0"`` (or ``""``) never exists."""
    return is_token_id(token_id) and str(token_id) in state.tokens


def get_token(state: LedgerState, token_id: object, what: str) -> dict[str, Any]:
    if not token_exists(state, token_id):
        raise NotFound(f"{what}: token {token_id!r} does not exist")
    return state.tokens[str(token_id)]


def next_serials(token: dict[str, Any], amount: int) -> SerialRange | None:
    """The serials the next retirement of ``amount`` units consumes (None: no serials)."""
    serial = token.get("serial")
    if serial is None:
        return None
    start = serial["start"] + token["retired"]
    return SerialRange(serial["prefix"], start, start + amount - 1)


def project_leaf(project: dict[str, Any]) -> bytes:
    """The directory leaf of a project: canonical JSON of its :data:`PROJECT_FIELDS`."""
    return canonical({k: project.get(k) for k in PROJECT_FIELDS})


def _balance(state: LedgerState, holder: str, token: str) -> dict[str, Any]:
    return state.balances.get(balance_key(holder, token), {"available": 0, "retired": 0})


def _credit(state: LedgerState, holder: str, token: str, available: int, retired: int) -> None:
    old = _balance(state, holder, token)
    new = {"available": old["available"] + available, "retired": old["retired"] + retired}
    if new["available"] < 0 or new["retired"] < 0:  # unreachable: callers check first
        raise Conflict(f"balance of {holder} in token {token} would go negative")
    state.balances[balance_key(holder, token)] = new


def _require_role(state: LedgerState, sender: str, role: str, what: str) -> dict[str, Any]:
    ident = state.identities.get(sender, {})
    if role not in ident.get("roles", ()):
        raise PermissionDenied(f"{what}: signer {sender} does not hold the {role} role")
    return ident


def _active(state: LedgerState, address: object, what: str) -> str:
    ident = state.identities.get(str(address))
    if ident is None:
        raise NotFound(f"{what}: {address!r} is not an enrolled identity")
    if ident.get("status") != "active":
        raise PermissionDenied(f"{what}: {address} ({ident.get('name')}) is revoked")
    return str(address)


def _period(value: object, what: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be an object {{start, end}} of dates")
    start = check_date(value.get("start"), f"{what}.start")
    end = check_date(value.get("end"), f"{what}.end")
    if end < start:
        raise InvalidInput(f"{what}: end {end} is before start {start}")
    return {"start": start.isoformat(), "end": end.isoformat()}


def _check_serial_free(state: LedgerState, registry: str, serial: SerialRange, what: str) -> None:
    """No serial of a registry is issued twice (a scan of that registry's tokens)."""
    for tid in token_ids(state):
        other = state.tokens[tid]
        if other.get("registry") != registry or other.get("serial") is None:
            continue
        if serial.overlaps(SerialRange(**other["serial"])):
            raise DuplicateEntity(
                f"{what}: serials {serial} of {registry} overlap token {tid}"
                f" ({SerialRange(**other['serial'])})"
            )


# -- offsets directory ------------------------------------------------------
def register_offset_directory(
    state: LedgerState, body: dict[str, Any], items: Sequence[dict[str, Any]]
) -> None:
    require_network_admin(state, body["sender"], "register_offset_directory")
    expect_kind(items, "offset_directory")
    for item in items:
        did = check_id("offset directory", item.get("id"))
        key = DIRECTORY_PREFIX + did
        if key in state.tokens:
            raise DuplicateEntity(f"offset directory {did!r} is already registered")
        for field in ("sha256", "root"):
            if not isinstance(item.get(field), str) or not _HEX64.match(item[field]):
                raise InvalidInput(f"offset directory {did!r}: {field} must be a SHA-256 (hex)")
        projects = check_amount(item.get("projects"), f"offset directory {did!r}: projects")
        state.tokens[key] = {
            "id": did,
            "sha256": item["sha256"],
            "root": item["root"],
            "projects": projects,
            "source": check_text(item.get("source"), f"offset directory {did!r}: source"),
            "registered_at": state.now,
        }


def _offset_project(state: LedgerState, item: dict[str, Any], what: str) -> dict[str, Any]:
    """The project must be a leaf of a registered directory edition (proof checked)."""
    directory = state.tokens.get(DIRECTORY_PREFIX + str(item.get("directory")))
    if directory is None:
        raise NotFound(f"{what}: offset directory {item.get('directory')!r} is not registered")
    project = item.get("project")
    if not isinstance(project, dict) or not isinstance(project.get("id"), str):
        raise InvalidInput(f"{what}: project must be a directory entry with an id")
    proof = item.get("project_proof")
    if not isinstance(proof, dict):
        raise InvalidInput(f"{what}: project_proof {{index, path}} is required")
    index, path = proof.get("index"), proof.get("path")
    if (
        not isinstance(index, int)
        or not isinstance(path, list)
        or not all(isinstance(h, str) and _HEX64.match(h) for h in path)
    ):
        raise InvalidInput(f"{what}: project_proof must be {{index: int, path: [sha256 hex]}}")
    ok = 0 <= index < directory["projects"] and verify_inclusion(
        leaf_hash(project_leaf(project)),
        index,
        directory["projects"],
        [bytes.fromhex(h) for h in path],
        bytes.fromhex(directory["root"]),
    )
    if not ok:
        raise NotFound(
            f"{what}: project {project['id']!r} is not in offset directory {directory['id']!r}"
        )
    return {k: project.get(k) for k in PROJECT_FIELDS}


# -- issue ------------------------------------------------------------------
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
        "generation": _period(item.get("generation"), f"{what}: generation"),
        "technology": None,
    }
    if item.get("technology") is not None:
        meta["technology"] = check_text(item["technology"], f"{what}: technology", limit=64)
    return meta


def _offset_meta(state: LedgerState, item: dict[str, Any], what: str) -> dict[str, Any]:
    project = _offset_project(state, item, what)
    vintage = item.get("vintage")
    if not isinstance(vintage, int) or isinstance(vintage, bool) or not 1990 <= vintage <= 2100:
        raise InvalidInput(f"{what}: vintage must be a year (1990-2100), got {vintage!r}")
    if item.get("registry") != project["registry"]:
        raise InvalidInput(
            f"{what}: registry {item.get('registry')!r} is not the project's registry"
            f" {project['registry']!r}"
        )
    return {"project": project, "directory": str(item["directory"]), "vintage": vintage}


def _audited_meta(state: LedgerState, sender: str, item: dict[str, Any], what: str) -> str:
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
        if not isinstance(rid, str) or not isinstance(leaf, str) or not _HEX64.match(leaf):
            raise InvalidInput(f"{what}: manifest entry {n} must be {{record, leaf: sha256}}")
        if rid in seen:
            raise InvalidInput(f"{what}: manifest lists record {rid} twice")
        seen.add(rid)
        hashes.append(bytes.fromhex(leaf))
    if value.get("root") != root_from_leaf_hashes(hashes).hex():
        raise InvalidInput(f"{what}: manifest root is not the Merkle root of its entries")
    return {"records": len(entries), "root": value["root"]}


def issue_token(state: LedgerState, body: dict[str, Any], items: Sequence[dict[str, Any]]) -> None:
    expect_kind(items, "token")
    sender = body["sender"]
    for item in items:
        tid = check_id("token", item.get("id"))
        what = f"issue token {tid!r}"
        if not is_token_id(tid):
            raise InvalidInput(f"{what}: token id 0 is reserved (it never names a token)")
        if tid in state.tokens:
            raise DuplicateEntity(f"{what}: token {tid!r} already exists")
        ttype = item.get("type")
        if ttype not in TOKEN_TYPES:
            raise InvalidInput(f"{what}: type must be one of {', '.join(TOKEN_TYPES)}")
        if ttype != AUDITED:
            # In limited mode, offsets and RECs are issued only through the DAO.
            require_dao_issuance(state, sender, what)
        _require_role(state, sender, DEALER_ROLE[ttype], what)
        amount = check_amount(item.get("amount"), what)
        token: dict[str, Any] = {
            "id": tid,
            "type": ttype,
            "unit": BASE_UNITS[ttype],
            "issuer": sender,
            "issued_at": state.now,
            "issued": amount,
            "retired": 0,
            "transferable": ttype != AUDITED,
            "registry": None,
            "serial": None,
            "org": None,
        }
        if ttype == AUDITED:
            org = _audited_meta(state, sender, item, what)
            meta = {
                "org": org,
                "scope": _scope(item.get("scope"), what),
                "period": _period(item.get("period"), f"{what}: period"),
                "manifest": _manifest(item.get("manifest"), what),
                "auditor": sender,
                "report": None if item.get("report") is None else str(item["report"]),
            }
            state.tokens[tid] = {**token, "retired": amount, "org": org, "meta": meta}
            _credit(state, org_holder(org), tid, 0, amount)
            continue
        registry = check_text(item.get("registry"), f"{what}: registry", limit=64)
        serial = SerialRange.parse(item.get("serial"), what)
        if serial.count != amount:
            raise InvalidInput(
                f"{what}: serial range {serial} holds {serial.count} serials for {amount} units"
            )
        meta = _rec_meta(item, what) if ttype == REC else _offset_meta(state, item, what)
        to = _active(state, item.get("to"), f"{what}: to")
        _check_serial_free(state, registry, serial, what)
        state.tokens[tid] = {
            **token,
            "registry": registry,
            "serial": serial.to_json(),
            "meta": meta,
        }
        _credit(state, to, tid, amount, 0)


def _scope(value: object, what: str) -> str:
    if value not in SCOPES:
        raise InvalidInput(f"{what}: scope must be one of {', '.join(SCOPES)}, got {value!r}")
    return str(value)


def mint_token(state: LedgerState, body: dict[str, Any], items: Sequence[dict[str, Any]]) -> None:
    """More units of an existing REC/OFFSET token; updates its total issued."""
    expect_kind(items, "token_mint")
    sender = body["sender"]
    for item in items:
        check_id("mint", item.get("id"))
        token = get_token(state, item.get("token"), "mint")
        what = f"mint token {token['id']!r}"
        require_dao_issuance(state, sender, what)
        if token["type"] == AUDITED or not token["transferable"]:
            raise PermissionDenied(
                f"{what}: audited emissions are minted once, retired, by the auditor; they are"
                " never minted again and never become transferable"
            )
        if sender != token["issuer"]:
            raise PermissionDenied(f"{what}: only its issuer {token['issuer']} may mint more")
        _require_role(state, sender, DEALER_ROLE[token["type"]], what)
        amount = check_amount(item.get("amount"), what)
        serial = SerialRange.parse(item.get("serial"), what)
        old = SerialRange(**token["serial"])
        if serial.prefix != old.prefix or serial.start != old.end + 1 or serial.count != amount:
            raise InvalidInput(
                f"{what}: serials must continue the token's range: {amount} serials from"
                f" {old.prefix}{old.end + 1}"
            )
        to = _active(state, item.get("to"), f"{what}: to")
        _check_serial_free(state, str(token["registry"]), serial, what)
        state.tokens[token["id"]] = {
            **token,
            "issued": check_amount(token["issued"] + amount, f"{what}: total issued"),
            "serial": {**token["serial"], "end": serial.end},
        }
        _credit(state, to, token["id"], amount, 0)


# -- transfer and retire ----------------------------------------------------
def _take(state: LedgerState, holder: str, token: dict[str, Any], amount: int, what: str) -> None:
    available = _balance(state, holder, token["id"])["available"]
    if amount > available:
        raise Conflict(
            f"{what}: amount {amount} exceeds the available balance {available}"
            f" {token['unit']} of {holder}"
        )


def transfer_token(
    state: LedgerState, body: dict[str, Any], items: Sequence[dict[str, Any]]
) -> None:
    expect_kind(items, "token_transfer")
    sender = body["sender"]
    for item in items:
        check_id("transfer", item.get("id"))
        token = get_token(state, item.get("token"), "transfer")
        what = f"transfer of token {token['id']!r}"
        if item.get("from") not in (None, sender):
            raise PermissionDenied(f"{what}: from {item.get('from')} is not the signer {sender}")
        if token["type"] == AUDITED or not token["transferable"]:
            raise PermissionDenied(f"{what}: audited emissions are not transferable")
        to = _active(state, item.get("to"), f"{what}: to")
        if to == sender:
            raise InvalidInput(f"{what}: to is the sender itself")
        amount = check_amount(item.get("amount"), what)
        _take(state, sender, token, amount, what)
        _credit(state, sender, token["id"], -amount, 0)
        _credit(state, to, token["id"], amount, 0)


def retire_token(state: LedgerState, body: dict[str, Any], items: Sequence[dict[str, Any]]) -> None:
    expect_kind(items, "token_retirement")
    sender = body["sender"]
    for item in items:
        check_id("retirement", item.get("id"))
        token = get_token(state, item.get("token"), "retire")
        what = f"retirement of token {token['id']!r}"
        if item.get("holder") not in (None, sender):
            raise PermissionDenied(
                f"{what}: holder {item.get('holder')} is not the signer {sender}"
            )
        if token["type"] == AUDITED:
            raise Conflict(f"{what}: audited emissions are retired when they are minted")
        amount = check_amount(item.get("amount"), what)
        _take(state, sender, token, amount, what)
        check_text(item.get("beneficiary"), f"{what}: beneficiary")
        check_text(item.get("reason"), f"{what}: reason", limit=500)
        _retirement_claim(state, sender, item, what)
        expected = next_serials(token, amount)
        given = SerialRange.parse(item.get("serial"), what)
        if given != expected:
            raise Conflict(
                f"{what}: the next {amount} serials are {expected}, the retirement names {given}"
                " (another retirement came first: rebuild it from the current state)"
            )
        state.tokens[token["id"]] = {**token, "retired": token["retired"] + amount}
        _credit(state, sender, token["id"], -amount, amount)


def _retirement_claim(state: LedgerState, sender: str, item: dict[str, Any], what: str) -> None:
    """``org`` (and ``site``, ``period``): whose consumption or emissions the retirement is for."""
    org, site = item.get("org"), item.get("site")
    if org is None:
        if site is not None:
            raise InvalidInput(f"{what}: site needs org")
        return
    if org not in state.orgs:
        raise NotFound(f"{what}: org {org!r} is not registered")
    ident = state.identities.get(sender, {})
    dealer = {"rec_dealer", "offset_dealer"} & set(ident.get("roles", ()))
    if ident.get("org") != org and not dealer:
        raise PermissionDenied(
            f"{what}: {ident.get('name')!r} of {ident.get('org')!r} may not retire for {org!r}"
            " (a member of it, or a dealer on its behalf, may)"
        )
    if site is not None:
        known = state.sites.get(str(site))
        if known is None or known["org"] != org:
            raise NotFound(f"{what}: site {site!r} is not a site of {org!r}")
    if item.get("period") is not None:
        _period(item["period"], f"{what}: period")


RULES: dict[str, Callable[[LedgerState, dict[str, Any], Sequence[dict[str, Any]]], None]] = {
    "register_offset_directory": register_offset_directory,
    "issue_token": issue_token,
    "mint_token": mint_token,
    "transfer_token": transfer_token,
    "retire_token": retire_token,
}
