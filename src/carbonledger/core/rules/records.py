"""Emissions records with their calculation bases, and auditors' reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from carbonledger.core.calculator import basis_id
from carbonledger.core.rules.channels import channel_access, sealing_epoch
from carbonledger.core.rules.common import check_id, expect_kind, require_org_writer
from carbonledger.core.state import LedgerState
from carbonledger.errors import Conflict, DuplicateEntity, InvalidInput, NotFound, PermissionDenied

__all__ = ["audit_report", "record_emissions"]


def _basis(state: LedgerState, n: int, item: dict[str, Any]) -> None:
    bid = item.get("id")
    if bid in state.bases:
        raise DuplicateEntity(f"item {n}: calculation basis {bid} is already recorded")
    if not isinstance(item.get("basis"), dict) or bid != basis_id(item["basis"]):
        raise InvalidInput(f"item {n}: calculation basis id is not the hash of its basis")
    state.bases.add(str(bid))


def _writer(state: LedgerState, sender: str, org: str, what: str) -> int:
    """Check once per organisation and entry that ``sender`` may write.

    Returns the channel's epoch if ``sender`` may seal details in it, else -1.
    """
    require_org_writer(state, sender, org, what)
    channel = state.channels.get(org)
    if channel is None or sender not in channel["members"]:
        return -1
    member = channel_access(state, org, sender)
    if member["role"] == "auditor":
        raise PermissionDenied(f"{what}: auditors do not write records")
    return sealing_epoch(state, org)


def _detail(item: dict[str, Any], epoch: int) -> None:
    """Private details are sealed in the organisation's channel under its current key."""
    if epoch < 0:
        raise PermissionDenied(
            f"record {item.get('id')!r}: the signer is not a member of channel {item['org']!r}"
        )
    detail = item["detail"]
    if not isinstance(detail, dict) or detail.get("channel") != item["org"]:
        raise InvalidInput(f"record {item.get('id')!r}: detail must be in channel {item['org']!r}")
    if detail.get("epoch") != epoch:
        raise Conflict(
            f"record {item.get('id')!r}: sealed under epoch {detail.get('epoch')}, the channel"
            f" is at epoch {epoch}"
        )
    for field in ("blob", "commitment"):
        value = detail.get(field)
        if not isinstance(value, str) or len(value) != 64:
            raise InvalidInput(f"record {item.get('id')!r}: detail.{field} must be a SHA-256")


def record_emissions(
    state: LedgerState, body: dict[str, Any], items: Sequence[dict[str, Any]]
) -> None:
    """Emissions records, each preceded (here or in an earlier entry) by its calculation basis."""
    sender = body["sender"]
    sites = state.sites
    epochs: dict[str, int] = {}
    for n, item in enumerate(items):
        kind = item.get("kind")
        if kind == "calculation_basis":
            _basis(state, n, item)
            continue
        if kind != "emissions_record":
            raise InvalidInput(f"item {n}: expected an emissions_record, got {kind!r}")
        site = sites.get(item.get("site"))  # type: ignore[arg-type]
        if site is None:
            raise NotFound(
                f"record {item.get('id')!r}: site {item.get('site')!r} is not registered"
            )
        org = item.get("org")
        if org != site["org"]:
            raise PermissionDenied(
                f"record {item.get('id')!r}: site {site['id']!r} belongs to {site['org']!r},"
                f" not {org!r}"
            )
        epoch = epochs.get(str(org))
        if epoch is None:
            epoch = epochs[str(org)] = _writer(
                state, sender, str(org), f"record {item.get('id')!r}"
            )
        trace = item.get("trace")
        if not isinstance(trace, dict) or trace.get("basis") not in state.bases:
            raise NotFound(f"record {item.get('id')!r}: its calculation basis is not recorded")
        if "detail" in item:
            _detail(item, epoch)


def audit_report(state: LedgerState, body: dict[str, Any], items: Sequence[dict[str, Any]]) -> None:
    """An auditor with current access to the organisation's channel signs its report."""
    expect_kind(items, "audit_report")
    sender = body["sender"]
    ident = state.identities.get(sender, {})
    if "auditor" not in ident.get("roles", ()):
        raise PermissionDenied(f"audit report: signer {sender} does not hold the auditor role")
    for item in items:
        check_id("audit report", item.get("id"))
        org = str(item.get("org"))
        if org not in state.orgs:
            raise NotFound(f"audit report: organisation {org!r} is not registered")
        channel_access(state, org, sender)
