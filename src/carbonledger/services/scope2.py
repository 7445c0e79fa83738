"""Scope 2 reports: consumption from the ledger's records, certificates from its retirements.

Consumption (kWh) is sealed in the organisation's channel, so the report needs
a member's key (an org admin, a member, or an auditor with access). A record
is split across the months (and years) of its period by days
(:func:`carbonledger.core.periods.split_period`).

Residual mixes are loaded from a CSV with the columns
``region,kg_co2e_per_kwh,source`` (region: eGRID subregion or ISO-2 country;
e.g. Green-e residual mix or AIB European residual mix figures). None ship with
the package: without one, uncovered consumption takes the location-based factor
and every row's trace says so.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carbonledger.core.periods import split_amount, split_period
from carbonledger.core.tokens.model import AUDITED, OFFSET, REC, SerialRange, to_decimal
from carbonledger.core.tokens.net import AuditedInput, NetEmissions, OffsetInput, net_emissions
from carbonledger.core.tokens.scope2 import (
    Boundary,
    Certificate,
    Consumption,
    ResidualMix,
    Scope2Result,
    VintageRule,
    aggregate,
    allocate,
)
from carbonledger.core.units import factor_between, normalise_unit
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import InvalidInput, RowError
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import ItemQuery, LedgerPort
from carbonledger.services.records import RecordReader
from carbonledger.services.tokens import list_tokens, retirements
from carbonledger.services.totals import readable_results

if TYPE_CHECKING:
    from carbonledger.core.tokens.marginal import MoerSeries

__all__ = [
    "CSV_COLUMNS",
    "certificates_for",
    "consumption_for",
    "load_moer",
    "load_residual_mix",
    "net_report",
    "package_moer",
    "parse_residual_mix",
    "report_csv",
    "scope2_report",
]

CSV_COLUMNS = (
    "site",
    "month",
    "region",
    "kwh",
    "covered_kwh",
    "uncovered_kwh",
    "location_kg_co2e",
    "market_kg_co2e",
    "certificates",
    "residual",
)


def _kg_per_kwh(trace: dict[str, Any]) -> Decimal:
    """The location factor in kg CO2e per kWh, from the trace's factor and conversions."""
    factor = trace["factor"]
    c_mass = next(
        Decimal(c["constant"])
        for c in trace["conversions"]
        if c["for"] == "co2e" and c["quantity"] == "mass"
    )
    activity = next(
        c["to"] for c in trace["conversions"] if c["for"] == "co2e" and c["quantity"] == "activity"
    )
    return Decimal(factor["value"]) * c_mass * factor_between("kWh", activity)


def _region(trace: dict[str, Any]) -> str:
    factor = trace["factor"]
    if factor.get("region_level") == "subregion" and factor.get("dataset") == "eGRID":
        return str(factor["region_key"])
    return str(trace["resolution"]["location"].get("country") or factor["region_key"])


def consumption_for(
    ledger: LedgerPort, reader: RecordReader, org: str, year: int
) -> list[Consumption]:
    """Electricity of ``org`` in ``year``, per site and month, periods split by days."""
    rows: list[Consumption] = []
    query = ItemQuery(
        kind="emissions_record", org=org, since=f"{year}-01-01", until=f"{year}-12-31"
    )
    for result in readable_results(ledger, reader, query, traces=True, activity="electricity"):
        rec, trace, kg = result.item, result.trace or {}, result.kg_co2e or Decimal(0)
        kwh = Decimal(trace["inputs"]["amount"]) * factor_between(
            normalise_unit(trace["inputs"]["unit"]), "kWh"
        )
        f = trace["factor"]
        shares = split_period(
            date.fromisoformat(rec["period"]["start"]),
            date.fromisoformat(rec["period"]["end"]),
            "month",
        )
        parts = zip(
            shares,
            split_amount(kwh, shares),
            split_amount(kg, shares),
            strict=True,
        )
        rows.extend(
            Consumption(
                rec["site"],
                share.key,
                _region(trace),
                part_kwh,
                part_kg,
                _kg_per_kwh(trace),
                f"{f['edition']} {f['region_key']} {f['value']} {f['unit']}",
                (rec["id"],),
            )
            for share, part_kwh, part_kg in parts
            if share.key.startswith(f"{year}-")
        )
    return aggregate(rows)


def certificates_for(ledger: LedgerPort, org: str) -> list[Certificate]:
    """REC retirements made for ``org``, in ledger order."""
    state = ledger.state()
    out = []
    for n, ret in enumerate(retirements(ledger, state, org=org, token_type=REC)):
        meta = ret["meta"]
        period = ret.get("period")
        out.append(
            Certificate(
                ret["id"],
                ret["token"],
                str(SerialRange(**ret["serial"])),
                to_decimal(REC, ret["amount"]),
                meta["grid_region"],
                date.fromisoformat(meta["generation"]["start"]),
                date.fromisoformat(meta["generation"]["end"]),
                ret.get("site"),
                None
                if period is None
                else (date.fromisoformat(period["start"]), date.fromisoformat(period["end"])),
                order=n,
            )
        )
    return out


def parse_residual_mix(text: str, *, source: str) -> dict[str, ResidualMix]:
    out: dict[str, ResidualMix] = {}
    reader = csv.DictReader(io.StringIO(text))
    if not {"region", "kg_co2e_per_kwh"} <= set(reader.fieldnames or ()):
        raise InvalidInput(f"{source}: columns region,kg_co2e_per_kwh[,source] are required")
    for line, row in enumerate(reader, start=2):
        region = (row.get("region") or "").strip()
        if not region:
            raise RowError(line, "region", "empty")
        try:
            value = Decimal((row.get("kg_co2e_per_kwh") or "").strip())
        except InvalidOperation as exc:
            raise RowError(line, "kg_co2e_per_kwh", "not a number") from exc
        if not value.is_finite() or value < 0:
            raise RowError(line, "kg_co2e_per_kwh", "must be a non-negative number")
        if region in out:
            raise RowError(line, "region", f"{region} is listed twice")
        out[region] = ResidualMix(region, value, (row.get("source") or "").strip() or source)
    return out


def load_residual_mix(path: Path) -> dict[str, ResidualMix]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror}") from exc
    return parse_residual_mix(text, source=path.name)


def scope2_report(
    ledger: LedgerPort,
    store: ChannelStore,
    key: PrivateKey,
    org: str,
    year: int,
    *,
    residual: Mapping[str, ResidualMix] | None = None,
    boundary: Boundary = "grid_region",
    vintage: VintageRule | None = None,
) -> Scope2Result:
    """Location- and market-based Scope 2 of ``org`` for ``year``, per site and month."""
    reader = RecordReader.for_member(ledger, store, key)
    return allocate(
        consumption_for(ledger, reader, org, year),
        certificates_for(ledger, org),
        residual,
        boundary=boundary,
        vintage=vintage,
    )


def _residual_note(residual: object) -> str:
    if isinstance(residual, dict):
        return str(residual.get("fallback") or f"residual mix {residual.get('source')}")
    return str(residual or "")


def report_csv(result: Scope2Result) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in result.rows:
        residual = r.trace.get("residual")
        w.writerow(
            [
                r.site,
                r.month,
                r.region,
                r.kwh,
                r.covered_kwh,
                r.kwh - r.covered_kwh,
                r.location_kg,
                r.market_kg,
                ";".join(f"{a['retirement']}:{a['kwh']}" for a in r.applied),
                _residual_note(residual),
            ]
        )
    w.writerow(
        [
            "TOTAL",
            "",
            "",
            result.kwh,
            result.covered_kwh,
            result.kwh - result.covered_kwh,
            result.location_kg,
            result.market_kg,
            "",
            "",
        ]
    )
    return buf.getvalue()


def net_report(
    ledger: LedgerPort,
    org: str,
    year: int,
    *,
    scope2: Scope2Result | None = None,
) -> NetEmissions:
    """Net emissions of ``org`` for ``year`` from the ledger's tokens (no key needed).

    With ``scope2`` (a :func:`scope2_report`), the REC displacement is shown beside it.
    """
    state = ledger.state()
    audited = [
        AuditedInput(
            t["id"],
            t["meta"]["scope"],
            date.fromisoformat(t["meta"]["period"]["start"]),
            date.fromisoformat(t["meta"]["period"]["end"]),
            to_decimal(AUDITED, t["issued"]),
            t["meta"]["auditor"],
            t["meta"]["manifest"]["root"],
            t["meta"]["manifest"]["records"],
        )
        for t in list_tokens(state, AUDITED)
        if t["org"] == org
    ]
    offsets = []
    for ret in retirements(ledger, state, org=org, token_type=OFFSET):
        period = ret.get("period")
        offsets.append(
            OffsetInput(
                ret["id"],
                ret["token"],
                ret["meta"]["project"]["id"],
                ret["meta"]["vintage"],
                str(SerialRange(**ret["serial"])),
                ret["amount"],
                None
                if period is None
                else (date.fromisoformat(period["start"]), date.fromisoformat(period["end"])),
                ret["beneficiary"],
            )
        )
    displacement = None if scope2 is None else scope2.location_kg - scope2.market_kg
    return net_emissions(
        org,
        date(year, 1, 1),
        date(year, 12, 31),
        audited,
        offsets,
        rec_displacement_kg=displacement,
    )


PACKAGE_MOER = "marginal/watttime_moer_caiso_north_2023-06.csv"


def package_moer() -> MoerSeries:
    """The shipped WattTime CAISO_NORTH series (2023-06-08..2023-07-08, 5-minute, UTC)."""
    from importlib import resources

    from carbonledger.core.tokens.marginal import parse_moer_csv

    text = resources.files("carbonledger.data").joinpath(PACKAGE_MOER).read_text("utf-8")
    return parse_moer_csv(text, source=PACKAGE_MOER.rsplit("/", 1)[1])


def load_moer(path: Path) -> MoerSeries:
    """A MOER CSV (WattTime or generic ``timestamp,moer_g_per_kwh``)."""
    from carbonledger.core.tokens.marginal import parse_moer_csv

    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror}") from exc
    return parse_moer_csv(text, source=path.name)
