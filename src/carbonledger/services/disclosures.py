"""Publishing a period total: the organisation's explicit act that makes a result public.

Records show no results publicly. An organisation admin opens its records of a
period (with its channel key), sums their results for the chosen scopes, and
signs a ``disclose`` transaction with the total, the number of records and a
commitment to their ids, which a member or auditor can check against the
sealed records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from carbonledger.core.rules.common import check_id, is_org_admin
from carbonledger.core.rules.disclosures import SCOPE_PATTERN, SCOPES, records_commitment
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import InvalidInput, NotFound, PermissionDenied
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import ItemQuery, LedgerPort, Receipt
from carbonledger.services.channels import submit_one
from carbonledger.services.records import RecordReader

__all__ = ["Disclosure", "disclose_total"]


@dataclass(frozen=True, slots=True)
class Disclosure:
    """A published total and where it landed."""

    item: dict[str, Any]
    receipt: Receipt


def disclose_total(
    ledger: LedgerPort,
    store: ChannelStore,
    admin: PrivateKey,
    *,
    org: str,
    start: date,
    end: date,
    scopes: tuple[str, ...] = (),
    disclosure_id: str | None = None,
) -> Disclosure:
    """Publish ``org``'s total kg CO2e of the records of ``scopes`` (default: every scope)
    whose period lies in [start, end]; signed by ``admin`` (an admin of ``org``)."""
    if end < start:
        raise InvalidInput(f"period: end {end} is before start {start}")
    unknown = sorted(s for s in scopes if not SCOPE_PATTERN.match(s))
    if unknown:
        raise InvalidInput(f"scopes: {unknown}; use {', '.join(SCOPES)} or 3-N")
    if not is_org_admin(ledger.state(), admin.address, org):
        raise PermissionDenied(f"disclosure: {admin.address} is not an admin of {org!r}")
    reader = RecordReader.for_member(ledger, store, admin)
    total, ids, covered = Decimal(0), [], set()
    query = ItemQuery(
        kind="emissions_record", org=org, since=start.isoformat(), until=end.isoformat()
    )
    for stored in ledger.items(query):
        rec = stored.item
        inside = start.isoformat() <= rec["period"]["start"] <= rec["period"]["end"]
        if not inside or rec["period"]["end"] > end.isoformat():
            continue  # only records wholly in the period
        if scopes and rec["trace"]["scope"] not in scopes:
            continue
        total += Decimal(reader.full(rec)["kg_co2e"])
        ids.append(rec["id"])
        covered.add(str(rec["trace"]["scope"]))
    if not ids:
        raise NotFound(f"no records of {org!r} of scopes {list(scopes) or 'any'} in {start}..{end}")
    did = check_id("disclosure", disclosure_id or f"{org}-{start}-{end}")
    item = {
        "kind": "disclosure",
        "id": did,
        "org": org,
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "scopes": sorted(covered),
        "kg_co2e": str(total),
        "records": len(ids),
        "records_root": records_commitment(ids),
    }
    return Disclosure(item, submit_one(ledger, admin, "disclose", [item]))
