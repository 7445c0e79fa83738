"""Tokens read back from the ledger: Scope 2 and net reports (every backend).

Part of :class:`tests.conformance.suite.LedgerConformance`: a year of bills for a
San Francisco site (eGRID CAMX) and a Chicago one (RFCW) is recorded through the
port, RECs and offsets are issued, moved and retired, and the reports are read
from what the backend stored.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from carbonledger.core.domain import Bill, Site
from carbonledger.core.tokens.scope2 import ResidualMix
from carbonledger.errors import CarbonLedgerError
from carbonledger.factors import FactorCatalog
from carbonledger.services.channels import grant
from carbonledger.services.importer import import_bills
from carbonledger.services.offsets import package_directory, register_directory
from carbonledger.services.registry import register_sites
from carbonledger.services.scope2 import net_report, report_csv, scope2_report
from carbonledger.services.tokens import issue_audited, issue_offset, retire
from tests.conformance.suite import _rec
from tests.conformance.world import World

D = Decimal
YEAR = 2023
SF = Site("acme-sf", "acme", "San Francisco", "US", "94105", utility_id="16612")  # CAMX
#: Monthly kWh billed per site in 2023 (Chicago is the world's acme-chi, RFCW).
MONTHLY_KWH = {"acme-chi": 100_000, "acme-sf": 20_000}


def _month_end(month: int) -> date:
    nxt = date(YEAR + (month == 12), month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def _year_of_bills(w: World) -> None:
    register_sites(w.ledger, w.admin, [SF])
    bills = [
        Bill(site, f"{site}-E1", date(YEAR, m, 1), _month_end(m), D(kwh), "kWh")
        for site, kwh in MONTHLY_KWH.items()
        for m in range(1, 13)
    ]
    report = import_bills(w.ledger, w.alice, FactorCatalog(), bills, store=w.store)
    assert (report.recorded, report.rejected) == (len(bills), [])


class TokenReportConformance:
    """Mixed into :class:`~tests.conformance.suite.LedgerConformance` (its ``w`` fixture)."""

    def test_scope2_report_from_the_ledger(self, w: World) -> None:
        _year_of_bills(w)
        tid = _rec(w, 300)
        retire(
            w.ledger,
            w.alice,
            tid,
            amount=150,
            beneficiary="Acme Corp",
            reason="Scope 2 2023",
            org="acme",
            site="acme-sf",
        )
        result = scope2_report(w.ledger, w.store, w.alice, "acme", YEAR)
        by_site = result.by_site()
        # San Francisco uses 12 x 20,000 kWh = 240,000 kWh; 150 MWh = 150,000 kWh are covered.
        sf = by_site["acme-sf"]
        assert (sf["kwh"], sf["covered_kwh"]) == (D(240000), D(150000))
        # Location-based for SF: 12 records of 20,000 kWh at eGRID2023r2 CAMX 429.983 lb/MWh.
        k = D("429.983") * D("0.45359237") * D("0.001")
        per_month = (D(20000) * k).quantize(D("0.000001"))
        assert sf["location_kg"] == 12 * per_month
        # Fallback (no residual mix): market = location - round(covered x location factor).
        covered_kg = sum(
            (D(r.covered_kwh) * k).quantize(D("0.000001"))
            for r in result.rows
            if r.site == "acme-sf"
        )
        assert sf["market_kg"] == sf["location_kg"] - covered_kg
        # Chicago (RFCW) holds no certificate: its market figure equals its location one.
        assert by_site["acme-chi"]["market_kg"] == by_site["acme-chi"]["location_kg"]
        assert by_site["acme-chi"]["kwh"] == 12 * MONTHLY_KWH["acme-chi"]
        assert result.kwh == 12 * sum(MONTHLY_KWH.values())
        assert report_csv(result).count("\n") == 1 + 24 + 1  # header, 24 bills, total
        with_mix = scope2_report(
            w.ledger,
            w.store,
            w.alice,
            "acme",
            YEAR,
            residual={"CAMX": ResidualMix("CAMX", D("0.3"), "test")},
        )
        # 240,000 - 150,000 uncovered kWh at the residual mix's 0.3 kg/kWh.
        assert with_mix.by_site()["acme-sf"]["market_kg"] == D(90000) * D("0.3")

    def test_scope2_needs_a_member_key(self, w: World) -> None:
        _year_of_bills(w)
        with pytest.raises(CarbonLedgerError, match="not a member of channel 'acme'"):
            scope2_report(w.ledger, w.store, w.bob, "acme", YEAR)

    def test_net_emissions_audited_minus_offsets_with_rec_displacement_beside(
        self, w: World
    ) -> None:
        _year_of_bills(w)
        grant(w.ledger, w.store, w.admin, "acme", w.dana.address, role="auditor")
        register_directory(w.ledger, w.admin, package_directory())
        aud = issue_audited(
            w.ledger,
            w.dana,
            store=w.store,
            org="acme",
            scope="2",
            start=date(YEAR, 1, 1),
            end=date(YEAR, 12, 31),
        ).token
        off = issue_offset(
            w.ledger,
            w.offsets,
            package_directory(),
            project="VCS1529",
            to="acme/alice",
            tonnes=100,
            vintage=2014,
            serial_prefix="VCU-1529-2014-",
            serial_start=1,
        ).token
        retire(
            w.ledger,
            w.alice,
            off,
            amount=60,
            beneficiary="Acme Corp",
            reason="net zero 2023",
            org="acme",
            period=(date(YEAR, 1, 1), date(YEAR, 12, 31)),
        )
        retire(
            w.ledger,
            w.alice,
            off,
            amount=5,
            beneficiary="Acme Corp",
            reason="no period",
            org="acme",
        )
        tid = _rec(w, 100)
        retire(
            w.ledger,
            w.alice,
            tid,
            amount=100,
            beneficiary="Acme Corp",
            reason="Scope 2",
            org="acme",
        )
        s2 = scope2_report(w.ledger, w.store, w.alice, "acme", YEAR)
        net = net_report(w.ledger, "acme", YEAR, scope2=s2)
        audited_kg = D(w.ledger.state().tokens[aud]["issued"]) / 1_000_000
        assert net.audited_kg == audited_kg == s2.location_kg
        assert net.offsets_kg == D(60000)  # 60 t retired for the year; the 5 t name no period
        assert net.net_kg == audited_kg - D(60000)
        assert net.rec_displacement_kg == s2.location_kg - s2.market_kg > 0
        doc = net.to_dict()
        assert doc["inputs"]["offsets"][0]["serial"] == "VCU-1529-2014-1..VCU-1529-2014-60"
        assert doc["excluded"][0]["reason"] == "names no period"
        assert doc["inputs"]["audited"][0]["records"] == 24
        report = w.ledger.verify()
        assert report.ok, report.error
