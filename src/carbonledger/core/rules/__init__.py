"""Rules of every ledger transaction type, one module per area.

Each rule is ``rule(state, body, items) -> None``: it raises a
:class:`~carbonledger.errors.CarbonLedgerError` if the transaction does not hold
and otherwise advances ``state`` (replacing nested values, never mutating them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from carbonledger.core.rules import devices, governance, tokens
from carbonledger.core.rules.channels import (
    channel_grant,
    channel_read,
    channel_revoke,
    channel_rotate,
)
from carbonledger.core.rules.common import require_active_signer
from carbonledger.core.rules.disclosures import disclose
from carbonledger.core.rules.identity import enroll, register_identity, revoke_identity
from carbonledger.core.rules.records import audit_report, record_emissions
from carbonledger.core.rules.registry import genesis, register_org, register_site
from carbonledger.core.state import LedgerState

__all__ = ["RULES", "require_active_signer"]

Rule = Callable[[LedgerState, dict[str, Any], Sequence[dict[str, Any]]], None]

RULES: dict[str, Rule] = {
    "genesis": genesis,
    "register_org": register_org,
    "register_site": register_site,
    "register_identity": register_identity,
    "enroll": enroll,
    "revoke_identity": revoke_identity,
    "channel_grant": channel_grant,
    "channel_revoke": channel_revoke,
    "channel_read": channel_read,
    "channel_rotate": channel_rotate,
    "record_emissions": record_emissions,
    "audit_report": audit_report,
    "disclose": disclose,
    **tokens.RULES,
    **devices.RULES,
    **governance.RULES,
}
