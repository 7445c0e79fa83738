"""Disclosures: an organisation publishes a period total, by an explicit signed act.

Records show no results publicly (they are sealed in the organisation's
channel). An organisation admin may publish the total of a period: the
organisation, the period, the scopes it covers, the total in kg CO2e, how many
records it sums, and a commitment to their ids (:func:`records_commitment`), so
a member or auditor can check the total against the sealed records.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from carbonledger.core.canonical import canonical
from carbonledger.core.intervals import check_period, check_quantity
from carbonledger.core.item_parts import TxBody
from carbonledger.core.rules.common import check_id, expect_kind, is_org_admin
from carbonledger.core.state import LedgerState
from carbonledger.errors import DuplicateEntity, InvalidInput, NotFound, PermissionDenied

__all__ = ["DISCLOSURE_FIELDS", "SCOPES", "SCOPE_PATTERN", "disclose", "records_commitment"]

#: The scopes a record or a disclosure names, as the calculator labels them: 1,
#: 2-location, 2-market, 3 or a Scope 3 category (3-4 transport, 3-6 business travel).
SCOPES = ("1", "2-location", "2-market", "3")
SCOPE_PATTERN = re.compile(r"^(1|2-location|2-market|3|3-[1-9][0-9]?)\Z")
DISCLOSURE_FIELDS = frozenset(
    {"kind", "id", "org", "period", "scopes", "kg_co2e", "records", "records_root"}
)
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")


def records_commitment(record_ids: Iterable[str]) -> str:
    """SHA-256 (hex) of the canonical JSON of the sorted record ids a total covers."""
    return hashlib.sha256(canonical(sorted(record_ids))).hexdigest()


def disclose(state: LedgerState, body: TxBody, items: Sequence[dict[str, Any]]) -> None:
    """Period totals, each signed by an admin of the organisation it discloses."""
    expect_kind(items, "disclosure")
    sender = body["sender"]
    for item in items:
        did = check_id("disclosure", item.get("id"))
        what = f"disclosure {did!r}"
        if set(item) != DISCLOSURE_FIELDS:
            raise InvalidInput(f"{what}: fields must be {sorted(DISCLOSURE_FIELDS)}")
        org = str(item.get("org"))
        if org not in state.orgs:
            raise NotFound(f"{what}: organisation {org!r} is not registered")
        if not is_org_admin(state, sender, org):
            raise PermissionDenied(f"{what}: signer {sender} is not an admin of {org!r}")
        if did in state.disclosures:
            raise DuplicateEntity(f"{what}: already recorded")
        period = item.get("period")
        if not isinstance(period, dict) or set(period) != {"start", "end"}:
            raise InvalidInput(f"{what}: period must be {{start, end}}")
        check_period(period.get("start"), period.get("end"), what)
        scopes = item.get("scopes")
        if (
            not isinstance(scopes, list)
            or not scopes
            or not all(isinstance(s, str) and SCOPE_PATTERN.match(s) for s in scopes)
            or scopes != sorted(set(scopes))
        ):
            raise InvalidInput(
                f"{what}: scopes must be a sorted, non-empty list of scopes ({', '.join(SCOPES)}"
                " or a Scope 3 category such as 3-6)"
            )
        check_quantity(item.get("kg_co2e"), f"{what}: kg_co2e")
        count = item.get("records")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count < 2**53:
            raise InvalidInput(f"{what}: records must be a count (an integer >= 0)")
        root = item.get("records_root")
        if not isinstance(root, str) or not _SHA256.match(root):
            raise InvalidInput(f"{what}: records_root must be a SHA-256 (hex)")
        state.disclosures[did] = {"org": org, "period": period}
