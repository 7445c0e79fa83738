"""The demo's meters: a site's meter signs a year of hourly readings, a digital audit follows.

The readings are derived from the site's recorded electricity bills (opened from
the organisation's channel with the admin's key): each bill is spread over its
hours with a day/night profile, in whole Wh, the last hour taking the remainder
so a month sums exactly to its bill. One month (July) is deliberately
contradicting: the meter signs 8 % less than was billed. The utility signs a
bill credential for every month. The readings are checked as they are posted
(the streaming monitor flags July at once), then the digital auditor classifies
every record of the organisation for the year.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from carbonledger.credentials import (
    Ed25519Signer,
    issue,
    meter_readings_credential,
    utility_bill_credential,
)
from carbonledger.crypto.keys import PrivateKey
from carbonledger.errors import NotFound
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import ItemQuery, LedgerPort
from carbonledger.services.devices import post_credentials, register_device, register_utility
from carbonledger.services.digital_auditor import run_digital_audit
from carbonledger.services.readings_monitor import ReadingsMonitor
from carbonledger.services.records import RecordReader

__all__ = ["TAMPERED_MONTH", "TAMPER_FACTOR", "hourly_readings", "run_meter_demo"]

TAMPERED_MONTH = 7
TAMPER_FACTOR = Decimal("0.92")
# Relative load by hour of day (UTC), integers so the split is exact.
_PROFILE = (2, 2, 2, 2, 2, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 4, 4, 3, 3, 3, 2, 2)


def _seeded(label: str) -> Ed25519Signer:
    """A fixed demo key, so every run shows the same DIDs (never do this for real devices)."""
    return Ed25519Signer.from_seed(hashlib.sha256(f"carbonledger demo {label}".encode()).digest())


def hourly_readings(start: date, end: date, kwh: Decimal) -> list[tuple[datetime, int]]:
    """Spread ``kwh`` over the hours of [start, end] (inclusive dates, UTC) in whole Wh."""
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hours = ((end - start).days + 1) * 24
    total_wh = int((kwh * 1000).to_integral_value())
    weights = [_PROFILE[h % 24] for h in range(hours)]
    whole = sum(weights)
    values = [total_wh * w // whole for w in weights]
    values[-1] += total_wh - sum(values)
    return [(first + timedelta(hours=h), v) for h, v in enumerate(values)]


def _bills(
    ledger: LedgerPort, store: ChannelStore, key: PrivateKey, site: str, year: int
) -> tuple[str, list[tuple[dict[str, Any], dict[str, Any]]]]:
    """The site's main electricity account and its records of ``year`` with their details."""
    reader = RecordReader.for_member(ledger, store, key)
    query = ItemQuery(
        kind="emissions_record", site=site, since=f"{year}-01-01", until=f"{year}-12-31"
    )
    records = [s.item for s in ledger.items(query) if s.item.get("activity") == "electricity"]
    if not records:
        raise NotFound(f"site {site!r} has no electricity records in {year}")
    accounts: dict[str, int] = {}
    for r in records:
        accounts[r["account"]] = accounts.get(r["account"], 0) + 1
    ref = max(sorted(accounts), key=lambda a: accounts[a])
    pairs = [(r, reader.detail(r)) for r in records if r["account"] == ref]
    # Records show an account's reference; its number is sealed with the details.
    return str(pairs[0][1].get("account", ref)), pairs


def run_meter_demo(
    ledger: LedgerPort,
    store: ChannelStore,
    admin_key: PrivateKey,
    *,
    org: str = "northwind",
    year: int = 2023,
    site: str = "nw-sf",
) -> dict[str, Any]:
    """Register a meter and a utility, post a year of signed readings and bills, audit.

    ``admin_key`` is the network admin, also an admin (and channel member) of ``org``.
    Returns a summary: DIDs, credentials posted, streaming events, counts per
    class, and the contradicted record with its reason.
    """
    state = ledger.state()
    site_item = state.sites.get(site)
    if site_item is None or site_item["org"] != org:
        raise NotFound(f"site {site!r} of {org!r} is not registered")
    account, bills = _bills(ledger, store, admin_key, site, year)
    meter, utility = _seeded(f"meter {site}"), _seeded(f"utility {site}")
    device_id, utility_id = f"{site}-meter-1", f"{site}-utility"
    register_device(
        ledger,
        admin_key,
        device_id=device_id,
        did=meter.did,
        site=site,
        meter=account,
        valid_from=date(year, 1, 1),
    )
    register_utility(
        ledger,
        admin_key,
        utility_id=utility_id,
        did=utility.did,
        name=f"utility of {site}",
        eia_id=site_item.get("utility_id"),
        accounts=[f"{site}/{account}"],
    )
    readings, bill_creds = [], []
    for record, detail in sorted(bills, key=lambda b: str(b[0]["period"]["start"])):
        start = date.fromisoformat(record["period"]["start"])
        end = date.fromisoformat(record["period"]["end"])
        kwh = Decimal(str(detail["amount"]))
        signed_after = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
        metered = kwh * TAMPER_FACTOR if start.month == TAMPERED_MONTH else kwh
        rows = hourly_readings(start, end, metered)
        readings.append(
            issue(
                meter_readings_credential(
                    issuer=meter.did,
                    meter_id=account,
                    site_id=site,
                    interval_seconds=3600,
                    readings=rows,
                    valid_from=signed_after,
                ),
                meter,
                created=signed_after,
            )
        )
        bill_creds.append(
            issue(
                utility_bill_credential(
                    issuer=utility.did,
                    account=account,
                    site_id=site,
                    period_start=start,
                    period_end=end,
                    amount=kwh,
                    unit=str(detail["unit"]),
                    cost=Decimal(str(detail.get("cost") or 0)),
                    currency=str(detail.get("currency") or "USD"),
                    valid_from=signed_after,
                ),
                utility,
                created=signed_after,
            )
        )
    monitor = ReadingsMonitor(ledger, store, admin_key, org)
    events = [e for c in readings for e in monitor.observe(c)]
    posted = post_credentials(ledger, store, admin_key, [*readings, *bill_creds])
    report = run_digital_audit(
        ledger, store, admin_key, org, start=date(year, 1, 1), end=date(year, 12, 31)
    )
    return {
        "site": site,
        "account": account,
        "meter": {"id": device_id, "did": meter.did},
        "utility": {"id": utility_id, "did": utility.did},
        "credentials_posted": posted.posted,
        "readings": sum(len(c["credentialSubject"]["readings"]) for c in readings),
        "streaming": [e.to_dict() for e in events if e.kind != "pending"],
        "audit": {
            "id": report.id,
            "auditor": report.auditor,
            "sha256": report.sha256,
            "entry": None if report.receipt is None else report.receipt.seq,
            "counts": report.counts,
        },
        "contradicted": [f.to_dict() for f in report.by_verdict("contradicted")],
    }
