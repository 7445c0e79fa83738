"""Net emissions of an organisation for a period. Pure.

::

    net_kg_co2e = sum(audited emissions tokens of the organisation for the period, kg)
                - sum(offsets retired for the organisation for the period, t x 1000)

REC displacement (location-based minus market-based Scope 2) is shown beside it
and never subtracted: the audited Scope 2 figure is location-based, and
certificates already change the market-based figure, so subtracting them again
would count them twice.

What counts, so that nothing is counted twice or silently dropped:

* an audited-emissions token counts when its period lies within the reporting
  period; one that straddles it is listed under ``excluded`` with the reason;
* an offset retirement counts when it was made for the organisation and names a
  period within the reporting period; others are listed under ``excluded``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

__all__ = ["AuditedInput", "NetEmissions", "OffsetInput", "net_emissions"]

FORMULA = (
    "net_kg_co2e = sum(audited_kg_co2e) - sum(offset_t_co2e x 1000); rec_displacement_kg_co2e ="
    " location_kg_co2e - market_kg_co2e (shown separately, not subtracted)"
)


@dataclass(frozen=True, slots=True)
class AuditedInput:
    token: str
    scope: str
    start: date
    end: date
    kg: Decimal
    auditor: str
    manifest_root: str
    records: int


@dataclass(frozen=True, slots=True)
class OffsetInput:
    retirement: str
    token: str
    project: str
    vintage: int
    serial: str
    tonnes: int
    period: tuple[date, date] | None
    beneficiary: str


@dataclass
class NetEmissions:
    org: str
    start: date
    end: date
    audited_kg: Decimal
    offsets_kg: Decimal
    net_kg: Decimal
    rec_displacement_kg: Decimal | None
    counted: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    excluded: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "formula": FORMULA,
            "audited_kg_co2e": str(self.audited_kg),
            "offsets_kg_co2e": str(self.offsets_kg),
            "net_kg_co2e": str(self.net_kg),
            "rec_displacement_kg_co2e": None
            if self.rec_displacement_kg is None
            else str(self.rec_displacement_kg),
            "inputs": self.counted,
            "excluded": self.excluded,
        }


def _within(start: date, end: date, lo: date, hi: date) -> bool:
    return lo <= start and end <= hi


def net_emissions(
    org: str,
    start: date,
    end: date,
    audited: Sequence[AuditedInput],
    offsets: Sequence[OffsetInput],
    *,
    rec_displacement_kg: Decimal | None = None,
) -> NetEmissions:
    counted: dict[str, list[dict[str, Any]]] = {"audited": [], "offsets": []}
    excluded: list[dict[str, str]] = []
    audited_kg = Decimal(0)
    for a in audited:
        if not _within(a.start, a.end, start, end):
            excluded.append(
                {
                    "token": a.token,
                    "reason": f"period {a.start}..{a.end} is not within {start}..{end}",
                }
            )
            continue
        audited_kg += a.kg
        counted["audited"].append(
            {
                "token": a.token,
                "scope": a.scope,
                "period": f"{a.start}..{a.end}",
                "kg_co2e": str(a.kg),
                "auditor": a.auditor,
                "manifest_root": a.manifest_root,
                "records": a.records,
            }
        )
    offsets_kg = Decimal(0)
    for o in offsets:
        if o.period is None:
            excluded.append({"retirement": o.retirement, "reason": "names no period"})
            continue
        if not _within(o.period[0], o.period[1], start, end):
            excluded.append(
                {
                    "retirement": o.retirement,
                    "reason": f"retired for"
                    f" {o.period[0]}..{o.period[1]}, not within {start}..{end}",
                }
            )
            continue
        kg = Decimal(o.tonnes) * 1000
        offsets_kg += kg
        counted["offsets"].append(
            {
                "retirement": o.retirement,
                "token": o.token,
                "project": o.project,
                "vintage": o.vintage,
                "serial": o.serial,
                "t_co2e": o.tonnes,
                "kg_co2e": str(kg),
                "beneficiary": o.beneficiary,
            }
        )
    return NetEmissions(
        org,
        start,
        end,
        audited_kg,
        offsets_kg,
        audited_kg - offsets_kg,
        rec_displacement_kg,
        counted,
        excluded,
    )
