"""The token part of the demo: dealers, RECs, offsets, audited emissions, three totals.

Called by the demo after its audit, on the demo ledger. It registers a market
organisation with a REC dealer and an offset dealer, a Northwind consumer and a
second auditor; issues RECs for two real eGRID subregions (RFCW: Chicago, CAMX:
San Francisco) and offsets of a real project of the directory (CAR1372,
Rochelle Municipal Landfill, Illinois, vintage 2020); transfers them to
Northwind, which retires them for its sites and year; the auditor mints
Northwind's audited Scope 1 and Scope 2 emissions; and it returns location-based,
market-based and net emissions for printing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from carbonledger.core.domain import Organisation
from carbonledger.crypto.keys import PrivateKey
from carbonledger.ports.channels import ChannelStore
from carbonledger.ports.ledger import LedgerPort
from carbonledger.services.channels import grant
from carbonledger.services.home import Home
from carbonledger.services.offsets import package_directory, register_directory
from carbonledger.services.registry import register_orgs
from carbonledger.services.scope2 import net_report, scope2_report
from carbonledger.services.tokens import issue_audited, issue_offset, issue_rec, retire, transfer

__all__ = ["MARKET", "OFFSET_PROJECT", "run_token_demo"]

MARKET = Organisation("greenmarkets", "GreenMarkets Exchange", "US")
OFFSET_PROJECT = ("CAR1372", 2020)  # Rochelle Municipal Landfill, Illinois (CAR)
# (token id, grid region, facility, MWh issued, MWh retired, site)
RECS = (
    ("rec-rfcw-wind", "RFCW", "Twin Groves Wind Farm (IL)", 3_000, 2_400, "nw-chicago"),
    ("rec-camx-solar", "CAMX", "Topaz Solar Farm (CA)", 900, 900, "nw-sf"),
)
OFFSET_TONNES, OFFSET_RETIRED = 1_500, 1_200


def _t(kg: Decimal) -> str:
    return f"{kg / 1000:,.3f}"


def run_token_demo(
    ledger: LedgerPort,
    store: ChannelStore,
    admin_key: PrivateKey,
    home: Home,
    passphrase: str,
    *,
    org: str = "northwind",
    year: int = 2023,
    enroll: Callable[[str, str, list[str]], PrivateKey],
) -> dict[str, Any]:
    """Run the token story on ``ledger``; returns a summary (strings and numbers) to print."""
    steps: list[str] = []
    cert = home.ca.create_org(MARKET.id, MARKET.name, passphrase)
    register_orgs(ledger, store, admin_key, [MARKET], ca_certs={MARKET.id: cert})
    recs_dealer = enroll(MARKET.id, "recs", ["rec_dealer"])
    offsets_dealer = enroll(MARKET.id, "offsets", ["offset_dealer"])
    carol = enroll(org, "carol", ["member", "consumer"])
    erin = enroll("greenaudit", "erin", ["auditor"])
    steps.append(
        "GreenMarkets registers a REC dealer and an offset dealer; Northwind's carol"
        " (consumer) and GreenAudit's erin (auditor) enroll"
    )

    directory = package_directory()
    register_directory(ledger, admin_key, directory)
    start, end = date(year, 1, 1), date(year, 12, 31)
    for n, (tid, region, facility, mwh, retired, site) in enumerate(RECS):
        issue_rec(
            ledger,
            recs_dealer,
            to=recs_dealer.address,
            mwh=mwh,
            facility=facility,
            grid_region=region,
            generation=(start, end),
            registry="WREGIS" if n else "M-RETS",
            serial_prefix=f"{region}-{year}-",
            serial_start=1,
            technology="wind" if n == 0 else "solar",
            token_id=tid,
        )
        transfer(ledger, recs_dealer, tid, to=carol.address, amount=retired)
        retire(
            ledger,
            carol,
            tid,
            amount=retired,
            beneficiary="Northwind Foods Inc.",
            reason=f"Scope 2 market-based claim {year}",
            org=org,
            site=site,
            period=(start, end),
        )
        steps.append(
            f"{mwh:,} RECs ({region}, {facility}) issued; {retired:,} transferred to"
            f" Northwind and retired for {site}"
        )
    project, vintage = OFFSET_PROJECT
    off = issue_offset(
        ledger,
        offsets_dealer,
        directory,
        project=project,
        to=carol.address,
        tonnes=OFFSET_TONNES,
        vintage=vintage,
        serial_prefix=f"CAR-{project}-{vintage}-",
        serial_start=1,
        token_id="offset-car1372",  # noqa: S106 - a token id, not a secret
    ).token
    retire(
        ledger,
        carol,
        off,
        amount=OFFSET_RETIRED,
        beneficiary="Northwind Foods Inc.",
        reason=f"offsetting {year} emissions",
        org=org,
        period=(start, end),
    )
    name = directory.get(project).name
    steps.append(
        f"{OFFSET_TONNES:,} t of offsets ({project} {name}, vintage {vintage}) issued"
        f" to Northwind; {OFFSET_RETIRED:,} t retired for {year}"
    )

    grant(ledger, store, admin_key, org, erin.address, role="auditor")
    audited = [
        issue_audited(
            ledger,
            erin,
            store=store,
            org=org,
            scope=scope,
            start=start,
            end=end,
            token_id=f"audited-{org}-{year}-s{scope}",
        ).token
        for scope in ("1", "2")
    ]
    steps.append(
        "erin mints Northwind's audited Scope 1 and Scope 2 emissions (retired at"
        " mint, never transferable)"
    )

    scope2 = scope2_report(ledger, store, admin_key, org, year)
    net = net_report(ledger, org, year, scope2=scope2)
    return {
        "steps": steps,
        "tokens": {"recs": [r[0] for r in RECS], "offset": off, "audited": audited},
        "scope2": {
            "kwh": str(scope2.kwh),
            "covered_kwh": str(scope2.covered_kwh),
            "location_t_co2e": _t(scope2.location_kg),
            "market_t_co2e": _t(scope2.market_kg),
            "location_kg_co2e": str(scope2.location_kg),
            "market_kg_co2e": str(scope2.market_kg),
            "by_site": {
                site: {"location_t_co2e": _t(s["location_kg"]), "market_t_co2e": _t(s["market_kg"])}
                for site, s in sorted(scope2.by_site().items())
            },
            "unapplied": scope2.unapplied,
            "residual": "no residual mix loaded: uncovered consumption at location factors",
        },
        "net": {
            "audited_t_co2e": _t(net.audited_kg),
            "offsets_t_co2e": _t(net.offsets_kg),
            "net_t_co2e": _t(net.net_kg),
            "rec_displacement_t_co2e": _t(net.rec_displacement_kg or Decimal(0)),
            "formula": net.to_dict()["formula"],
            "exact": {k: v for k, v in net.to_dict().items() if k.endswith("_kg_co2e")},
        },
    }
