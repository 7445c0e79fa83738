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

from collections.abc import Sequence
from typing import Any

from carbonledger.core.dao.model import require_dao_issuance
from carbonledger.core.identities import require_active
from carbonledger.core.item_parts import TxBody
from carbonledger.core.rules.common import Rule, check_id, expect_kind, require_network_admin
from carbonledger.core.state import LedgerState
from carbonledger.core.tokens.directory import DIRECTORY_PREFIX, HEX64
from carbonledger.core.tokens.holdings import (
    balance,
    check_serial_free,
    credit,
    get_token,
    next_serials,
)
from carbonledger.core.tokens.issuance import (
    DEALER_ROLE,
    check_period,
    issue,
    require_role,
)
from carbonledger.core.tokens.model import AUDITED, SerialRange, check_amount, check_text
from carbonledger.errors import Conflict, DuplicateEntity, InvalidInput, NotFound, PermissionDenied

__all__ = ["RULES", "audited_only"]


# -- offsets directory ------------------------------------------------------
def register_offset_directory(
    state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]
) -> None:
    require_network_admin(state, body["sender"], "register_offset_directory")
    expect_kind(items, "offset_directory")
    for item in items:
        did = check_id("offset directory", item.get("id"))
        key = DIRECTORY_PREFIX + did
        if key in state.tokens:
            raise DuplicateEntity(f"offset directory {did!r} is already registered")
        for field in ("sha256", "root"):
            if not isinstance(item.get(field), str) or not HEX64.match(item[field]):
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


# -- issue ------------------------------------------------------------------
def issue_token(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    expect_kind(items, "token")
    for item in items:
        issue(state, body["sender"], item)


def audited_only(items: Sequence[object]) -> bool:
    """Whether ``items`` (an ``issue_token`` entry's) are all audited-emissions tokens.

    Of such an entry a contract keeps nothing that a later entry on chain can use: the
    token holds no balance, is never transferable nor minted again, and its id, kept as
    taken, only makes a later issuance of that id revert. The rest of its rule (the
    auditor's current channel access, the scope, the period, the manifest's root) needs
    state a contract does not keep, so on a chain one that breaks the rule is void on
    every node (:func:`~carbonledger.core.authority.apply_followed`), as an entry the
    contract keeps only the nonce of, rather than stop them all.
    """
    return bool(items) and all(
        isinstance(item, dict) and item.get("type") == AUDITED for item in items
    )


def mint_token(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
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
        require_role(state, sender, DEALER_ROLE[token["type"]], what)
        amount = check_amount(item.get("amount"), what)
        serial = SerialRange.parse(item.get("serial"), what)
        old = SerialRange(**token["serial"])
        if serial.prefix != old.prefix or serial.start != old.end + 1 or serial.count != amount:
            raise InvalidInput(
                f"{what}: serials must continue the token's range: {amount} serials from"
                f" {old.prefix}{old.end + 1}"
            )
        to = require_active(state.identities, item.get("to"), f"{what}: to")
        check_serial_free(state, str(token["registry"]), serial, what)
        state.tokens[token["id"]] = {
            **token,
            "issued": check_amount(token["issued"] + amount, f"{what}: total issued"),
            "serial": {**token["serial"], "end": serial.end},
        }
        credit(state, to, token["id"], amount, 0)


# -- transfer and retire ----------------------------------------------------
def _take(state: LedgerState, holder: str, token: dict[str, Any], amount: int, what: str) -> None:
    available = balance(state, holder, token["id"])["available"]
    if amount > available:
        raise Conflict(
            f"{what}: amount {amount} exceeds the available balance {available}"
            f" {token['unit']} of {holder}"
        )


def transfer_token(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
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
        to = require_active(state.identities, item.get("to"), f"{what}: to")
        if to == sender:
            raise InvalidInput(f"{what}: to is the sender itself")
        amount = check_amount(item.get("amount"), what)
        _take(state, sender, token, amount, what)
        credit(state, sender, token["id"], -amount, 0)
        credit(state, to, token["id"], amount, 0)


def retire_token(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
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
        credit(state, sender, token["id"], -amount, amount)


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
        check_period(item["period"], f"{what}: period")


RULES: dict[str, Rule] = {
    "register_offset_directory": register_offset_directory,
    "issue_token": issue_token,
    "mint_token": mint_token,
    "transfer_token": transfer_token,
    "retire_token": retire_token,
}
