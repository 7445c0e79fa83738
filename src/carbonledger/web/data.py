"""What the pages show, read through the ledger port and the services (never SQL)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from carbonledger.core.inventory import Inventory
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import CarbonLedgerError, NotFound, PermissionDenied
from carbonledger.ports.ledger import ItemQuery, LedgerPort
from carbonledger.services.inventory import inventory_report
from carbonledger.services.records import RecordReader
from carbonledger.services.scope2 import net_report, scope2_report
from carbonledger.services.totals import Totals, emission_totals

__all__ = [
    "Entry",
    "InventoryView",
    "OrgSummary",
    "inventory_view",
    "market_and_net",
    "org_summary",
    "recent_entries",
]

KG_PER_T = Decimal(1000)


@dataclass
class OrgSummary:
    """Location-based emissions of an organisation for one year, per site and month."""

    org: str
    year: int | None
    years: list[int]
    by_site: list[tuple[str, Decimal]]  # (site id, t CO2e), largest first
    by_month: list[tuple[str, Decimal]]  # (YYYY-MM, t CO2e), in order
    by_activity: dict[str, Decimal] = field(default_factory=dict)
    records: int = 0
    #: Records of the year whose results are sealed in a channel the viewer cannot read.
    sealed: int = 0

    @property
    def total_t(self) -> Decimal:
        return sum((v for _, v in self.by_site), Decimal(0))


def org_summary(
    ledger: LedgerPort, org: str, year: int | None, reader: RecordReader | None = None
) -> OrgSummary:
    """Totals of the records whose results ``reader`` can open (results are sealed in the
    organisation's channel); a record counts in its period's start month."""
    reader = reader or RecordReader(ledger)
    years = sorted(
        {
            int(s.item["period"]["start"][:4])
            for s in ledger.items(ItemQuery(kind="emissions_record", org=org))
        }
    )
    chosen = year if year is not None else (max(years) if years else None)
    totals = Totals() if chosen is None else emission_totals(ledger, reader, org=org, year=chosen)
    months = [f"{chosen}-{m:02d}" for m in range(1, 13)] if chosen is not None else []
    return OrgSummary(
        org,
        chosen,
        years,
        sorted(((s, kg / KG_PER_T) for s, kg in totals.by_site.items()), key=lambda r: -r[1]),
        [(m, totals.by_month.get(m, Decimal(0)) / KG_PER_T) for m in months],
        {a: kg / KG_PER_T for a, kg in sorted(totals.by_activity.items())},
        totals.records,
        totals.sealed,
    )


def market_and_net(
    ledger: LedgerPort, key: PrivateKey | None, org: str, year: int | None
) -> dict[str, Any]:
    """Market-based and net emissions from the token services, or why they are not shown."""
    out: dict[str, Any] = {"market": None, "net": None, "market_note": "", "net_note": ""}
    if year is None:
        out["market_note"] = out["net_note"] = "no records yet"
        return out
    report = None
    if key is None:
        out["market_note"] = (
            "market-based needs the metered kWh, sealed in the organisation's channel:"
            " sign in with your keystore to see it"
        )
    else:
        try:
            report = scope2_report(ledger, ledger.channels, key, org, year)
            out["market"] = {
                "location_t": Decimal(report.location_kg) / KG_PER_T,
                "market_t": Decimal(report.market_kg) / KG_PER_T,
                "covered_kwh": Decimal(report.covered_kwh),
                "kwh": Decimal(report.kwh),
            }
        except (NotFound, PermissionDenied):
            # No key of the channel is wrapped for this user: say so, not the key store's words.
            out["market_note"] = _not_a_member("market-based needs the metered kWh", org)
        except CarbonLedgerError as exc:
            out["market_note"] = str(exc)
    try:
        net = net_report(ledger, org, year, scope2=report)
        out["net"] = {
            "audited_t": Decimal(net.audited_kg) / KG_PER_T,
            "offsets_t": Decimal(net.offsets_kg) / KG_PER_T,
            "net_t": Decimal(net.net_kg) / KG_PER_T,
        }
    except CarbonLedgerError as exc:
        out["net_note"] = str(exc)
    return out


def _not_a_member(what: str, org: str) -> str:
    return (
        f"{what}, sealed in {org}'s private channel, which your account is not a member"
        f" of (or no longer has access to): ask an administrator of {org} for access"
    )


@dataclass(frozen=True)
class InventoryView:
    """The inventory for the page, or (``inventory`` None) why it is not shown."""

    inventory: Inventory | None
    note: str = ""


def inventory_view(
    ledger: LedgerPort, key: PrivateKey | None, org: str, year: int | None
) -> InventoryView:
    """``report inventory`` for a signed-in user who holds the channel's key, else why not.

    The quantities behind every figure are sealed: without a key (a signature
    sign-in) or without access to the channel (not a member, a grant ended) the
    page says so in words instead of showing numbers or the key store's error.
    """
    if year is None:
        return InventoryView(None, "no records yet")
    if key is None:
        return InventoryView(
            None,
            f"The inventory needs the quantities sealed in {org}'s private channel:"
            " sign in with your keystore to see it",
        )
    try:
        return InventoryView(inventory_report(ledger, ledger.channels, key, org, year))
    except (NotFound, PermissionDenied):
        return InventoryView(None, _not_a_member("The inventory needs the quantities", org))
    except CarbonLedgerError as exc:
        return InventoryView(None, str(exc))


@dataclass(frozen=True)
class Entry:
    """One ledger transaction as the explorer lists it."""

    seq: int
    type: str
    sender: str
    created: str
    ledger_time: str
    first_leaf: int
    count: int
    kinds: dict[str, int]


def recent_entries(ledger: LedgerPort, size: int, *, leaves: int = 200) -> list[Entry]:
    """The entries holding the last ``leaves`` leaves, newest first.

    Read through the port: items give each leaf's entry; the proof evidence of any
    leaf gives its entry's signed body (type, sender, time), the leaf's position
    in the entry and the entry's size, hence the entry's whole leaf range, also
    for the oldest entry, which may begin before the leaves read.
    """
    start = max(0, size - leaves)
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    first: dict[int, int] = {}
    for stored in ledger.items(ItemQuery(offset=start, limit=leaves)):
        groups[stored.seq].append(stored.item)
        first.setdefault(stored.seq, stored.leaf_index)
    out: list[Entry] = []
    for seq in sorted(groups, reverse=True):
        tx = ledger.proof(first[seq]).tx
        body = orjson.loads(str(tx.get("body", "{}")))
        begins = first[seq] - int(tx.get("index", 0))
        count = int(tx.get("count", len(groups[seq])))
        items = groups[seq]
        if begins < first[seq]:  # the entry began before the leaves read: read all of it
            items = [s.item for s in ledger.items(ItemQuery(offset=begins, limit=count))]
        kinds: dict[str, int] = defaultdict(int)
        for item in items:
            kinds[str(item.get("kind"))] += 1
        out.append(
            Entry(
                seq,
                str(body.get("type", "?")),
                str(body.get("sender", "?")),
                str(body.get("created", "")),
                str(tx.get("ledger_time", "")),
                begins,
                count,
                dict(kinds),
            )
        )
    return out
