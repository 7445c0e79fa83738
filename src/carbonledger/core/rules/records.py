"""Emissions records with their calculation bases, disclosures, and auditors' reports.

Whatever the importer checks about a record, these rules check too, so a record
signed by anyone and sent by any path (``submit``, ``POST /api/v1/transactions``)
cannot leave the ledger holding something the importer would refuse:

* the id is the record id of its site, account reference and period (so ids are
  unique because periods are);
* the period is two ISO dates, start on or before end, and overlaps no period
  already recorded for the same account anywhere on the ledger (an exact repeat
  is an overlap);
* the details are sealed in the organisation's channel under its current epoch,
  by a signer who may read the channel;
* the public item carries only public fields: no result, amount or split (they are
  sealed), so no arithmetic on public data recovers them.

Of these, what does not depend on the ledger's state can also be checked on a
record's compact form (:func:`compact_shape`), which ``verify`` holds anyway for
every record of a typed entry: its worker process checks them there, and the
replay applies such an entry with ``shaped=True``, leaving the rule the checks that
depend on the state (site, writer, epoch, calculation basis, periods).
"""

from __future__ import annotations

import re
from binascii import hexlify
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from carbonledger.core.calculator import basis_id
from carbonledger.core.domain import record_id, record_id_bytes
from carbonledger.core.intervals import add_period, check_period, is_iso_date, overlapping
from carbonledger.core.item_parts import TxBody
from carbonledger.core.rules.channels import channel_access, sealing_epoch
from carbonledger.core.rules.common import (
    check_id,
    check_sealed,
    expect_kind,
    require_org_writer,
)
from carbonledger.core.rules.disclosures import SCOPE_PATTERN, SCOPES
from carbonledger.core.state import ID_PATTERN, LedgerState
from carbonledger.errors import (
    Conflict,
    DuplicateEntity,
    InvalidInput,
    NotFound,
    OverlappingPeriod,
    PermissionDenied,
)

__all__ = ["RECORD_FIELDS", "audit_report", "compact_shape", "period_taken", "record_emissions"]

_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
#: Every field a record's public item may carry, and the fields of its trace.
RECORD_FIELDS = frozenset(
    {"kind", "id", "org", "site", "account", "activity", "period", "trace", "detail"}
)
_TRACE_FIELDS = frozenset({"schema", "basis", "scope"})
_DETAIL_FIELDS = frozenset({"channel", "epoch", "blob", "commitment"})
_PERIOD_FIELDS = frozenset({"start", "end"})
_N_RECORD_FIELDS = len(RECORD_FIELDS)
_COMPACT_TEXTS = 169  # where a compact record's texts begin (after its fixed fields)


# Cached: a ledger has a few thousand accounts, a few activities and scopes, each
# checked again for every record (a regular expression costs more than the lookup).
@lru_cache(maxsize=65536)
def _is_account_ref(value: str) -> bool:
    return _SHA256.match(value) is not None


@lru_cache(maxsize=1024)
def _is_activity(value: str) -> bool:
    return ID_PATTERN.match(value) is not None


@lru_cache(maxsize=64)
def _is_scope(value: str) -> bool:
    return SCOPE_PATTERN.match(value) is not None


def _basis(state: LedgerState, n: int, item: dict[str, Any]) -> None:
    bid = item.get("id")
    if not isinstance(item.get("basis"), dict) or bid != basis_id(item["basis"]):
        raise InvalidInput(f"item {n}: calculation basis id is not the hash of its basis")
    # A basis is named by the hash of its content, so the same one again says nothing
    # new: two writers that each found it missing (two nodes of one chain importing at
    # once) both record it, and every node must still follow both entries.
    state.bases.add(str(bid))


def _writer(state: LedgerState, sender: str, org: str, what: str) -> int:
    """Check once per organisation and entry that ``sender`` may write sealed records.

    Returns the channel's current epoch.
    """
    require_org_writer(state, sender, org, what)
    channel = state.channels.get(org)
    if channel is None:
        raise NotFound(f"{what}: organisation {org!r} has no channel to seal details in")
    member = channel_access(state, org, sender)
    if member["role"] == "auditor":
        raise PermissionDenied(f"{what}: auditors do not write records")
    return sealing_epoch(state, org)


def _what(item: dict[str, Any]) -> str:
    # Built only for an error message: records are checked by the thousand.
    return f"record {item.get('id')!r}"


def _detail(item: dict[str, Any], epoch: int, blobs: set[str]) -> None:
    """Private details are sealed in the organisation's channel under its current key.

    ``blobs``: blob ids this entry already found well formed (its records share one).
    """
    detail = item.get("detail")
    if not isinstance(detail, dict):
        raise InvalidInput(f"{_what(item)}: sealed details are required (detail is missing)")
    if detail.keys() != _DETAIL_FIELDS or detail.get("channel") != item["org"]:
        raise InvalidInput(
            f"{_what(item)}: detail must be {{channel, epoch, blob, commitment}} in channel"
            f" {item['org']!r}"
        )
    if detail.get("epoch") != epoch:
        raise Conflict(
            f"{_what(item)}: sealed under epoch {detail.get('epoch')}, the channel is at"
            f" epoch {epoch}"
        )
    blob = detail.get("blob")
    if not (type(blob) is str and blob in blobs):  # a list or dict is not hashable
        if not isinstance(blob, str) or not _SHA256.match(blob):
            raise InvalidInput(f"{_what(item)}: detail.blob must be a SHA-256 (hex)")
        blobs.add(blob)
    value = detail.get("commitment")
    if not isinstance(value, str) or not _SHA256.match(value):
        raise InvalidInput(f"{_what(item)}: detail.commitment must be a SHA-256 (hex)")


def _shape(item: dict[str, Any]) -> tuple[str, str]:
    """Public fields only, each well formed; returns the period (start, end)."""
    if not item.keys() <= RECORD_FIELDS:
        raise InvalidInput(
            f"{_what(item)}: field(s) {sorted(set(item) - RECORD_FIELDS)} may not be public"
            " (results, amounts and splits are sealed in the channel; publish totals with a"
            " disclosure)"
        )
    account = item.get("account")
    if not isinstance(account, str) or not _is_account_ref(account):
        raise InvalidInput(
            f"{_what(item)}: account must be the account's reference (a SHA-256, hex)"
        )
    activity = item.get("activity")
    if not isinstance(activity, str) or not _is_activity(activity):
        check_id(f"{_what(item)}: activity", activity)  # raises, naming the record
    trace = item.get("trace")
    if not isinstance(trace, dict) or trace.keys() != _TRACE_FIELDS:
        raise InvalidInput(
            f"{_what(item)}: trace must be {{schema, basis, scope}} (results are sealed in"
            " the channel)"
        )
    scope = trace.get("scope")
    if not isinstance(scope, str) or not _is_scope(scope):
        raise InvalidInput(
            f"{_what(item)}: scope {scope!r} is not a scope (one of {SCOPES} or 3-N)"
        )
    if not isinstance(trace.get("schema"), str):
        raise InvalidInput(f"{_what(item)}: trace.schema must be text")
    period = item.get("period")
    if not isinstance(period, dict) or period.keys() != _PERIOD_FIELDS:
        raise InvalidInput(f"{_what(item)}: period must be {{start, end}}")
    try:
        start, end = check_period(period.get("start"), period.get("end"), "")
    except InvalidInput:  # again, to name the record (its name is built only on failure)
        start, end = check_period(period.get("start"), period.get("end"), _what(item))
    rid = record_id(str(item.get("site")), account, start, end)
    if item.get("id") != rid:
        raise InvalidInput(
            f"{_what(item)}: id must be the record id of its site, account and period ({rid})"
        )
    return start, end


def _well_formed(
    item: dict[str, Any], org: str, epoch: int, blobs: set[str]
) -> tuple[str, str] | None:
    """The period (start, end) of a record that passes every check of :func:`_detail` and
    :func:`_shape`, else None (the caller then runs those, which name what is wrong).

    The same checks in one pass over exact types, for the thousands of records an
    import appends: anything unusual (a missing field, a ``str`` subclass) is left
    to the named checks, so this accepts nothing they would refuse.
    """
    # Exact key sets without building sets: as many keys as the check's set, each
    # of them present (kind, site and org were read by the caller).
    if len(item) != _N_RECORD_FIELDS:
        return None
    try:
        detail, account, activity = item["detail"], item["account"], item["activity"]
        trace, period, rid = item["trace"], item["period"], item["id"]
        if (
            type(detail) is not dict
            or len(detail) != 4
            or type(trace) is not dict
            or len(trace) != 3
            or type(period) is not dict
            or len(period) != 2
        ):
            return None
        channel, blob, commitment = detail["channel"], detail["blob"], detail["commitment"]
        scope, schema, start, end = trace["scope"], trace["schema"], period["start"], period["end"]
        if detail["epoch"] != epoch or trace["basis"] is None:
            return None
    except KeyError:
        return None
    if (
        channel != org
        or type(blob) is not str
        or (blob not in blobs and _SHA256.match(blob) is None)
        or type(commitment) is not str
        or _SHA256.match(commitment) is None
        or type(account) is not str
        or not _is_account_ref(account)
        or type(activity) is not str
        or not _is_activity(activity)
        or type(scope) is not str
        or not _is_scope(scope)
        or type(schema) is not str
        or type(start) is not str
        or type(end) is not str
        or not is_iso_date(start)
        or not is_iso_date(end)
        or end < start
        or rid != record_id(str(item["site"]), account, start, end)
    ):
        return None
    blobs.add(blob)
    return start, end


def compact_shape(packed: bytes) -> bool:
    """Whether a record in its compact form (:mod:`carbonledger.core.compact_record`,
    checked to expand to the record's bytes) passes every check of this rule that does
    not depend on the ledger's state.

    The compact form fixes most of them: it expands to the record's canonical JSON with
    the public fields and no other, the account, blob, commitment and basis as SHA-256
    (lowercase hex), the channel equal to the organisation and the epoch a number. Left
    to check: activity and scope, the period (two ISO dates, start on or before end)
    and the id (the record id of site, account and period).
    """
    # Its five texts (activity, org, site, schema, scope) each follow a length byte.
    try:
        at = _COMPACT_TEXTS
        n = packed[at]
        activity, at = packed[at + 1 : at + 1 + n], at + 1 + n
        at += 1 + packed[at]  # the org (the rule checks it against the site)
        n = packed[at]
        site, at = packed[at + 1 : at + 1 + n], at + 1 + n
        at += 1 + packed[at]  # the schema (any text)
        n = packed[at]
        scope, at = packed[at + 1 : at + 1 + n], at + 1 + n
    except IndexError:
        return False
    if at != len(packed):
        return False
    start, end = packed[149:159], packed[159:169]
    return (
        _compact_texts_ok(activity, scope, start, end)
        and record_id_bytes(site, hexlify(packed[1:33]), start, end) == packed[129:145]
    )


# A ledger repeats its activities, scopes and period dates: one lookup a record.
@lru_cache(maxsize=65536)
def _compact_texts_ok(activity: bytes, scope: bytes, start: bytes, end: bytes) -> bool:
    try:
        texts = activity.decode(), scope.decode(), start.decode(), end.decode()
    except UnicodeDecodeError:
        return False
    return (
        _is_activity(texts[0])
        and _is_scope(texts[1])
        and is_iso_date(texts[2])
        and is_iso_date(texts[3])
        and texts[3] >= texts[2]
    )


def record_emissions(
    state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]], *, shaped: bool = False
) -> None:
    """Emissions records, each preceded (here or in an earlier entry) by its calculation basis.

    ``shaped``: every emissions record of the entry passed :func:`compact_shape` (``verify``
    checks that in its worker); only the checks that depend on the state are made here.
    """
    sender = body["sender"]
    sites = state.sites
    epochs: dict[str, int] = {}
    blobs: set[str] = set()
    bases = state.bases
    periods = state.periods
    for n, item in enumerate(items):
        kind = item.get("kind")
        if kind != "emissions_record":
            if kind == "calculation_basis":
                _basis(state, n, item)
                continue
            raise InvalidInput(f"item {n}: expected an emissions_record, got {kind!r}")
        site = sites.get(item.get("site"))  # type: ignore[arg-type]
        if site is None:
            raise NotFound(f"{_what(item)}: site {item.get('site')!r} is not registered")
        org = item.get("org")
        if org != site["org"]:
            raise PermissionDenied(
                f"{_what(item)}: site {site['id']!r} belongs to {site['org']!r}, not {org!r}"
            )
        epoch = epochs.get(org)  # (org is the site's)
        if epoch is None:
            epoch = epochs[org] = _writer(state, sender, str(org), _what(item))
        # A record compact_shape vouched for (shaped): only its epoch depends on the state.
        if shaped and item["detail"]["epoch"] == epoch:
            period = item["period"]
            span: tuple[str, str] | None = period["start"], period["end"]
        else:
            span = None if shaped else _well_formed(item, org, epoch, blobs)
        if span is None:  # something is wrong: the checks again, one at a time, to name it
            _detail(item, epoch, blobs)
            span = _shape(item)
        start, end = span
        if item["trace"]["basis"] not in bases:
            raise NotFound(f"{_what(item)}: its calculation basis is not recorded")
        account = f"{site['id']}/{item['account']}"
        known = periods.get(account, ())
        # Overlaps nothing when it starts after the last period recorded (bills in order).
        other = None if not known or known[-1] < start else overlapping(known, start, end)
        if other == (start, end):
            raise DuplicateEntity(
                f"{_what(item)}: {start}..{end} is already recorded for the same account"
            )
        if other is not None:
            raise OverlappingPeriod(
                f"{_what(item)}: {start}..{end} overlaps {other[0]}..{other[1]}, already"
                " recorded for the same account"
            )
        periods[account] = add_period(known, start, end)


def period_taken(state: LedgerState, items: Sequence[object]) -> str | None:
    """Why an entry of emissions records loses to an earlier entry: the first of its
    records whose account already has an overlapping period on the ledger (the same
    period recorded twice included), naming the account and period; or None.

    Two writers on two nodes of one chain that record the same account and period at
    once both pass their own node's rules, and the chain cannot check periods within its
    gas (a storage slot per record costs twice a record's budget): the first in chain
    order wins (see :func:`carbonledger.core.authority.apply_followed`).
    """
    for item in items:
        if not isinstance(item, dict) or item.get("kind") != "emissions_record":
            continue
        site, period = state.sites.get(str(item.get("site"))), item.get("period")
        if site is None or not isinstance(period, dict):
            continue
        start, end = period.get("start"), period.get("end")
        if not (isinstance(start, str) and isinstance(end, str)):
            continue
        account = f"{site['id']}/{item.get('account')}"
        other = overlapping(state.periods.get(account, ()), start, end)
        if other is not None:
            return (
                f"{_what(item)}: account {account}, period {start}..{end}: an earlier entry"
                f" recorded {other[0]}..{other[1]} of the same account first"
            )
    return None


def audit_report(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    """An auditor with current access to the organisation's channel signs its report."""
    expect_kind(items, "audit_report")
    sender = body["sender"]
    ident = state.identities.get(sender, {})
    if "auditor" not in ident.get("roles", ()):
        raise PermissionDenied(f"audit report: signer {sender} does not hold the auditor role")
    for item in items:
        rid = check_id("audit report", item.get("id"))
        org = str(item.get("org"))
        if org not in state.orgs:
            raise NotFound(f"audit report: organisation {org!r} is not registered")
        channel_access(state, org, sender)
        if "totals" in item:
            raise InvalidInput(
                f"audit report {rid!r}: totals may not be public (seal them in the channel;"
                " the organisation publishes totals with a disclosure)"
            )
        if "sealed" in item:
            sealing_epoch(state, org)  # not keyless, not stale
            check_sealed(state, item, org, f"audit report {rid!r}")
