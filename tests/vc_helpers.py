"""Credentials the suite tests and the ACA-Py interoperability tests build alike."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any

from carbonledger.credentials import meter_readings_credential, utility_bill_credential

NOW = datetime(2024, 6, 1, tzinfo=UTC)
V1 = "https://www.w3.org/2018/credentials/v1"


def bill(issuer: str, amount: str = "1000") -> dict[str, Any]:
    """An unsigned January 2024 bill for site hq, account E1."""
    return utility_bill_credential(
        issuer=issuer, account="E1", site_id="hq", period_start=date(2024, 1, 1),
        period_end=date(2024, 1, 31), amount=amount, unit="kWh", cost="120.50",
        currency="USD", valid_from=datetime(2024, 2, 1, tzinfo=UTC),
    )  # fmt: skip


def hourly(issuer: str, hours: int, first_wh: int = 1000, step_wh: int = 0) -> dict[str, Any]:
    """Unsigned meter readings from 2024-01-01, ``first_wh + h * step_wh`` Wh in hour h."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return meter_readings_credential(
        issuer=issuer, meter_id="E1", site_id="hq", interval_seconds=3600,
        readings=[(start + timedelta(hours=h), str(first_wh + h * step_wh)) for h in range(hours)],
        valid_from=start + timedelta(days=1),
    )  # fmt: skip


def v1(credential: dict[str, Any]) -> dict[str, Any]:
    """The VC 1.1 form of a credential, as Ed25519Signature2018 issuers write it."""
    out = copy.deepcopy(credential)
    out["@context"] = [V1, out["@context"][1]]
    out["issuanceDate"] = out.pop("validFrom")
    return out
