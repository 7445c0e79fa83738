"""``report inventory``: an organisation's whole inventory for a year, from its records.

Needs a channel member's key (quantities are sealed).  Each record is split
across years by days (:mod:`carbonledger.core.periods`); its kg is read through
:func:`carbonledger.services.record_values.record_kg`.  Scope 2 market-based
comes from :func:`carbonledger.services.scope2.scope2_report`.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from html import escape

from markupsafe import Markup

from carbonledger.core.inventory import Inventory, InventoryLine, build_inventory
from carbonledger.core.periods import split_amount, split_period
from carbonledger.crypto.keys import PrivateKey
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import ItemQuery, LedgerPort
from carbonledger.services.record_values import record_kg
from carbonledger.services.records import RecordReader
from carbonledger.services.scope2 import scope2_report

__all__ = ["inventory_chart", "inventory_csv", "inventory_html", "inventory_report"]


def inventory_report(
    ledger: LedgerPort, store: ChannelStore, key: PrivateKey, org: str, year: int
) -> Inventory:
    """The inventory of ``org`` for ``year`` (see the module docstring)."""
    reader = RecordReader.for_member(ledger, store, key)
    lines: list[InventoryLine] = []
    query = ItemQuery(
        kind="emissions_record", org=org, since=f"{year}-01-01", until=f"{year}-12-31"
    )
    for stored in ledger.items(query):
        rec = stored.item
        trace = reader.trace(rec)
        shares = split_period(
            date.fromisoformat(rec["period"]["start"]), date.fromisoformat(rec["period"]["end"])
        )
        for share, kg in zip(shares, split_amount(record_kg(rec, trace), shares), strict=True):
            if share.key == str(year):
                lines.append(
                    InventoryLine(
                        rec["id"],
                        str(trace["scope"]),
                        kg,
                        str(trace["factor"]["edition"]),
                        str(rec.get("activity")),
                        share.days,
                        share.total_days,
                    )
                )
    scope2 = scope2_report(ledger, store, key, org, year)
    applied = sorted({a["retirement"] for r in scope2.rows for a in r.applied})
    note = (
        f"{len(applied)} certificate retirements applied; uncovered kWh at the residual mix"
        " or, without one, the location-based factor"
    )
    return build_inventory(
        org, year, lines, market_kg=scope2.market_kg, market_records=applied, market_note=note
    )


def inventory_csv(inv: Inventory) -> str:
    """One row per figure and the totals: key, label, kg, records, factor editions."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["figure", "label", "kg_co2e", "records", "factor_editions"])
    for key, f in inv.figures.items():
        w.writerow([key, f.label, f.kg_co2e, len(f.records), ";".join(sorted(f.editions))])
    w.writerow(
        ["total_location_based", "Total, Scope 2 location-based", inv.total_location_kg, "", ""]
    )
    w.writerow(["total_market_based", "Total, Scope 2 market-based", inv.total_market_kg, "", ""])
    return buf.getvalue()


#: Short chart labels of the figures (the table beside the chart gives the full ones).
_SHORT = {
    "scope1": "Scope 1",
    "scope2_location": "Scope 2 location",
    "scope2_market": "Scope 2 market",
    "scope3_cat6": "Scope 3 cat. 6",
    "scope3_cat4": "Scope 3 cat. 4/9",
}


def inventory_chart(inv: Inventory, chart_id: str = "inventory") -> Markup:
    """The figures as an inline SVG bar chart in t CO2e (the report page and the web UI)."""
    from carbonledger.web.charts import bar_chart

    rows = [(_SHORT[k], f.kg_co2e / 1000) for k, f in inv.figures.items()]
    return bar_chart(chart_id, f"{inv.org} {inv.year} inventory (t CO2e)", rows, places=3)


def inventory_html(inv: Inventory) -> str:
    """A standalone HTML page: a bar chart (inline SVG) and the table of figures."""
    chart = inventory_chart(inv)
    body = "".join(
        f"<tr><td>{escape(f.label)}</td><td>{f.kg_co2e / 1000:,.3f}</td>"
        f"<td>{len(f.records)}</td><td>{escape(', '.join(sorted(f.editions)))}</td></tr>"
        for f in inv.figures.values()
    )
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(inv.org)} {inv.year}"
        f" greenhouse gas inventory</title><h1>{escape(inv.org)} {inv.year}</h1>{chart}"
        "<table><tr><th>figure</th><th>t CO2e</th><th>records</th><th>factor editions</th></tr>"
        f"{body}<tr><th>Total (location-based)</th><th>{inv.total_location_kg / 1000:,.3f}</th>"
        f"</tr><tr><th>Total (market-based)</th><th>{inv.total_market_kg / 1000:,.3f}</th></tr>"
        "</table></html>\n"
    )
