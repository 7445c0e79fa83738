"""Token network services: issue, transfer, retire; balances, totals and history.

Every function builds the ledger items, signs them with the acting key and
submits them; the rules in :mod:`carbonledger.core.rules.tokens` decide. Amounts
are integers of each type's base unit (REC: MWh; OFFSET: t CO2e;
AUDITED_EMISSIONS: mg CO2e).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from carbonledger.core.builders import (
    audited_token,
    offset_token,
    rec_token,
    token_mint,
    token_retirement,
    token_transfer,
)
from carbonledger.core.builders import period as period_of
from carbonledger.core.builders import serial as serial_of
from carbonledger.core.item_parts import ManifestEntry
from carbonledger.core.items import TokenItem
from carbonledger.core.merkle import leaf_hash, root_from_leaf_hashes
from carbonledger.core.state import LedgerState
from carbonledger.core.tokens.holdings import get_token, next_serials, token_ids
from carbonledger.core.tokens.offsets import OffsetDirectory
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import Conflict, InvalidInput, NotFound
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import ItemQuery, LedgerPort, Receipt
from carbonledger.services.channels import submit_one

__all__ = [
    "TOKEN_KINDS",
    "Balance",
    "Issued",
    "balances",
    "issue_audited",
    "issue_audited_emissions",
    "issue_offset",
    "issue_rec",
    "list_tokens",
    "mint",
    "offset_item",
    "rec_item",
    "resolve_holder",
    "retire",
    "retirements",
    "token_history",
    "transfer",
]

#: Ledger item kinds of the token network, as stored.
TOKEN_KINDS = ("token", "token_mint", "token_transfer", "token_retirement")
_MG_PER_KG = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Issued:
    token: str
    receipt: Receipt


@dataclass(frozen=True, slots=True)
class Balance:
    holder: str
    token: str
    type: str
    unit: str
    available: int
    retired: int


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def resolve_holder(state: LedgerState, holder: str) -> str:
    """An address (``0x...``), ``org/name`` of an enrolled user, or ``org:<id>``."""
    if holder.startswith(("0x", "org:")):
        return holder
    org, sep, name = holder.partition("/")
    reg = state.registrations.get(holder) if sep and org and name else None
    if reg is None or reg.get("address") is None:
        raise NotFound(f"holder {holder!r} is not an address or an enrolled ORG/NAME")
    return str(reg["address"])


def rec_item(
    state: LedgerState,
    *,
    to: str,
    mwh: int,
    facility: str,
    grid_region: str,
    generation: tuple[date, date],
    registry: str,
    serial_prefix: str,
    serial_start: int,
    facility_id: str | None = None,
    technology: str | None = None,
    token_id: str | None = None,
) -> TokenItem:
    """The item of ``mwh`` certificates (one per MWh and serial) to ``to``, by a dealer or
    the DAO (``to`` an address or ORG/NAME)."""
    return rec_token(
        token_id=token_id or _new_id("rec"),
        to=resolve_holder(state, to),
        mwh=mwh,
        facility=facility,
        facility_id=facility_id,
        grid_region=grid_region,
        generation=period_of(*generation),
        technology=technology,
        registry=registry,
        serials=serial_of(serial_prefix, serial_start, mwh),
    )


def offset_item(
    state: LedgerState,
    directory: OffsetDirectory,
    *,
    project: str,
    to: str,
    tonnes: int,
    vintage: int,
    serial_prefix: str,
    serial_start: int,
    token_id: str | None = None,
) -> TokenItem:
    """The item of ``tonnes`` credits of a directory project, by a dealer or the DAO."""
    found = directory.get(project)
    if vintage not in found.vintages and found.vintages:
        known = ", ".join(str(v) for v in sorted(found.vintages))
        raise InvalidInput(f"vintage {vintage}: project {project} has issuance for {known} only")
    return offset_token(
        token_id=token_id or _new_id("offset"),
        to=resolve_holder(state, to),
        tonnes=tonnes,
        directory=directory.id,
        project=found.summary(),
        project_proof=directory.proof(project),
        vintage=vintage,
        registry=found.registry,
        serials=serial_of(serial_prefix, serial_start, tonnes),
    )


def issue_rec(ledger: LedgerPort, dealer: PrivateKey, **fields: Any) -> Issued:
    """Issue certificates (a ``rec_dealer`` signs); ``fields`` as :func:`rec_item` takes."""
    item = rec_item(ledger.state(), **fields)
    return Issued(item["id"], submit_one(ledger, dealer, "issue_token", [item]))


def issue_offset(
    ledger: LedgerPort, dealer: PrivateKey, directory: OffsetDirectory, **fields: Any
) -> Issued:
    """Issue credits of a directory project (an ``offset_dealer`` signs); ``fields`` as
    :func:`offset_item` takes.

    The directory edition must be registered on the ledger (see
    :func:`carbonledger.services.offsets.register_directory`).
    """
    item = offset_item(ledger.state(), directory, **fields)
    return Issued(item["id"], submit_one(ledger, dealer, "issue_token", [item]))


def issue_audited(
    ledger: LedgerPort,
    auditor: PrivateKey,
    *,
    store: ChannelStore,
    org: str,
    scope: str,
    start: date,
    end: date,
    report: str | None = None,
    exclude: frozenset[str] = frozenset(),
    token_id: str | None = None,
) -> Issued:
    """Mint the audited emissions of ``org``'s records of ``scope`` in [start, end], retired.

    The manifest lists each record with its ledger leaf hash; the amount is the
    sum of their ``kg_co2e`` in mg (exact: records are rounded to 0.000001 kg).
    ``scope`` ``"2"`` takes location-based Scope 2 records. ``exclude`` drops
    records (e.g. those an audit found wanting).
    """
    from carbonledger.services.records import RecordReader

    want = "2-location" if scope == "2" else scope
    # Results are sealed: the auditor opens each record with its channel key.
    reader = RecordReader.for_member(ledger, store, auditor)
    entries: list[ManifestEntry] = []
    total = Decimal(0)
    query = ItemQuery(
        kind="emissions_record", org=org, since=start.isoformat(), until=end.isoformat()
    )
    for stored in ledger.items(query):
        rec = stored.item
        if rec["id"] in exclude or str(rec["trace"].get("scope")) not in _scopes(want):
            continue
        entries.append({"record": rec["id"], "leaf": leaf_hash(stored.data).hex()})
        total += Decimal(reader.full(rec)["kg_co2e"])
    if not entries:
        raise NotFound(f"no scope {scope} records of {org!r} between {start} and {end}")
    mg = total * _MG_PER_KG
    if mg != mg.to_integral_value():
        raise InvalidInput(f"audited total {total} kg is not a whole number of mg")
    root = root_from_leaf_hashes([bytes.fromhex(e["leaf"]) for e in entries]).hex()
    tid = token_id or _new_id("audited")
    item = audited_token(
        token_id=tid,
        mg_co2e=int(mg),
        org=org,
        scope=scope,
        audited=period_of(start, end),
        manifest={"entries": entries, "root": root},
        report=report,
    )
    return Issued(tid, submit_one(ledger, auditor, "issue_token", [item]))


def issue_audited_emissions(
    ledger: LedgerPort,
    store: ChannelStore,
    auditor: PrivateKey,
    *,
    record_ids: Sequence[str],
    token_id: str | None = None,
) -> dict[str, Any]:
    """Mint audited emissions for the listed records (the opentaps API's call); the token.

    Each record is opened with the auditor's channel key and recomputed from its
    trace first; one that does not recompute is refused, naming it. The scope is
    that of the records (``1``, ``2`` or ``1+2``), the period their span, the
    organisation theirs (all records must be of one organisation).
    """
    from carbonledger.services.records import RecordReader, find_item

    if not record_ids or len(set(record_ids)) != len(record_ids):
        raise InvalidInput("record_ids: give each record once, at least one")
    reader = RecordReader.for_member(ledger, store, auditor)
    records = [find_item(ledger, rid) for rid in record_ids]
    orgs, scopes = set(), set()
    kgs: list[Decimal] = []
    for stored in records:
        rec = stored.item
        if rec.get("kind") != "emissions_record":
            raise InvalidInput(f"record_ids: {rec.get('id')} is not an emissions record")
        again = reader.recompute(rec)
        sealed = reader.full(rec)["kg_co2e"]
        kgs.append(Decimal(sealed))
        if str(again["kg_co2e"]) != sealed:
            raise InvalidInput(f"record {rec['id']}: kg_co2e does not recompute")
        orgs.add(rec["org"])
        scopes.add(str(rec["trace"].get("scope")))
    if len(orgs) != 1:
        raise InvalidInput(
            f"record_ids: the records belong to {sorted(orgs)}, not one organisation"
        )
    scope = {("1",): "1", ("2-location",): "2", ("1", "2-location"): "1+2"}.get(
        tuple(sorted(scopes))
    )
    if scope is None:
        raise InvalidInput(
            f"record_ids: records of scopes {sorted(scopes)} cannot be attested together"
        )
    entries: list[ManifestEntry] = [
        {"record": s.item["id"], "leaf": leaf_hash(s.data).hex()} for s in records
    ]
    total = sum(kgs, Decimal(0))
    start = min(s.item["period"]["start"] for s in records)
    end = max(s.item["period"]["end"] for s in records)
    tid = token_id or _new_id("audited")
    item = audited_token(
        token_id=tid,
        mg_co2e=int(total * _MG_PER_KG),
        org=orgs.pop(),
        scope=scope,
        audited=period_of(start, end),
        manifest={
            "entries": entries,
            "root": root_from_leaf_hashes([bytes.fromhex(e["leaf"]) for e in entries]).hex(),
        },
    )
    submit_one(ledger, auditor, "issue_token", [item])
    token: dict[str, Any] = ledger.state().tokens[tid]
    return token


def _scopes(scope: str) -> tuple[str, ...]:
    parts = {"1": ("1",), "2-location": ("2-location",), "2-market": ("2-market",), "3": ("3",)}
    if scope in parts:
        return parts[scope]
    return tuple(
        s for p in scope.split("+") for s in parts.get(p if p != "2" else "2-location", ())
    )


def mint(ledger: LedgerPort, dealer: PrivateKey, token: str, *, to: str, amount: int) -> Receipt:
    """More units of ``token`` by its issuer, continuing its serial range."""
    state = ledger.state()
    tok = get_token(state, token, "mint")
    serial = tok.get("serial") or {"prefix": "", "end": -1}
    item = token_mint(
        mint_id=_new_id("mint"),
        token=token,
        amount=amount,
        to=resolve_holder(state, to),
        serials=serial_of(serial["prefix"], serial["end"] + 1, amount),
    )
    return submit_one(ledger, dealer, "mint_token", [item])


def transfer(
    ledger: LedgerPort, holder: PrivateKey, token: str, *, to: str, amount: int
) -> Receipt:
    item = token_transfer(
        transfer_id=_new_id("xfer"),
        token=token,
        sender=holder.address,
        to=resolve_holder(ledger.state(), to),
        amount=amount,
    )
    return submit_one(ledger, holder, "transfer_token", [item])


def retire(
    ledger: LedgerPort,
    holder: PrivateKey,
    token: str,
    *,
    amount: int,
    beneficiary: str,
    reason: str,
    org: str | None = None,
    site: str | None = None,
    period: tuple[date, date] | None = None,
) -> Receipt:
    """Retire ``amount`` units: the next serials of the token, for ``beneficiary``.

    ``org`` (and ``site``, ``period``) say whose consumption or emissions the
    retirement counts for in reports. Retried once if another retirement of the
    same token took the serials first.
    """
    for attempt in (1, 2):
        state = ledger.state()
        serials = next_serials(get_token(state, token, "retire"), amount)
        item = token_retirement(
            retirement_id=_new_id("ret"),
            token=token,
            holder=holder.address,
            amount=amount,
            serials=None if serials is None else serial_of(serials.prefix, serials.start, amount),
            beneficiary=beneficiary,
            reason=reason,
            org=org,
            site=site,
            claimed=None if period is None else period_of(*period),
        )
        try:
            return submit_one(ledger, holder, "retire_token", [item])
        except Conflict as exc:
            if attempt == 2 or "the next" not in str(exc):
                raise
    raise Conflict("retire: unreachable")  # pragma: no cover


# -- reading ----------------------------------------------------------------
def list_tokens(state: LedgerState, token_type: str | None = None) -> list[dict[str, Any]]:
    return [
        state.tokens[t]
        for t in token_ids(state)
        if token_type is None or state.tokens[t]["type"] == token_type
    ]


def balances(
    state: LedgerState, *, holder: str | None = None, token: str | None = None
) -> list[Balance]:
    out = []
    for key, bal in state.balances.items():
        who, _, tid = key.rpartition("/")
        if (holder is not None and who != holder) or (token is not None and tid != token):
            continue
        tok = state.tokens.get(tid)
        if tok is None:
            continue
        out.append(Balance(who, tid, tok["type"], tok["unit"], bal["available"], bal["retired"]))
    return sorted(out, key=lambda b: (b.token, b.holder))


def token_history(ledger: LedgerPort, token: str) -> list[dict[str, Any]]:
    """Issue, mints, transfers and retirements of ``token``, in ledger order, with entry seq."""
    out: list[dict[str, Any]] = []
    for kind in TOKEN_KINDS:
        for stored in ledger.items(ItemQuery(kind=kind, id=token if kind == "token" else None)):
            item = stored.item
            if (kind == "token" and item["id"] == token) or item.get("token") == token:
                out.append({**item, "seq": stored.seq, "leaf": stored.leaf_index})
    if not out:
        raise NotFound(f"token {token!r} has no history on this ledger")
    return sorted(out, key=lambda i: i["leaf"])


def retirements(
    ledger: LedgerPort, state: LedgerState, *, org: str | None = None, token_type: str | None = None
) -> Iterator[dict[str, Any]]:
    """Retirement items (with the token's type, unit and metadata joined in)."""
    for stored in ledger.items(ItemQuery(kind="token_retirement", org=org)):
        item = stored.item
        tok = state.tokens.get(item["token"])
        if tok is None or (token_type is not None and tok["type"] != token_type):
            continue
        yield {
            **item,
            "type": tok["type"],
            "unit": tok["unit"],
            "meta": tok["meta"],
            "seq": stored.seq,
        }
