"""Property: any small set of good bills imports, verifies, re-imports as duplicates, recomputes."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonledger.core.calculator import recompute
from carbonledger.core.domain import Organisation, Site, account_ref
from carbonledger.factors import FactorCatalog
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.bills_csv import parse_bills
from carbonledger.services.home import Home
from carbonledger.services.importer import import_bills
from carbonledger.services.records import RecordReader
from carbonledger.services.registry import register_orgs, register_sites

SITES = [
    Site("us", "acme", "Chicago", "US", "60601", utility_id="4110"),
    Site("uk", "acme", "London", "GB"),
    Site("de", "acme", "Berlin", "DE"),
]
CATALOG = FactorCatalog()  # package editions only; shared, it only caches what it reads
Key = tuple[str, str, int]  # site, account, month number (0 = January 2022)


def _period(month: int) -> tuple[date, date]:
    start = date(2022 + month // 12, month % 12 + 1, 1)
    nxt = date(2022 + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return start, nxt - timedelta(days=1)


def _respelled(amount: str) -> str:
    """The same quantity written differently ("12.5" -> "12.50", "3" -> "3.0")."""
    return amount + "0" if "." in amount else amount + ".0"


@st.composite
def bill_sets(draw: st.DrawFn) -> tuple[int, list[str], set[Key]]:
    """(number of sites registered, CSV rows in file order, distinct keys)."""
    n_sites = draw(st.integers(2, 3))
    keys = draw(
        st.lists(
            st.tuples(
                st.sampled_from([s.id for s in SITES[:n_sites]]),
                st.sampled_from(["E1", "E2"]),
                st.integers(0, 35),  # 2022 to 2024: three factor years per dataset
            ),
            min_size=1,
            max_size=12,
            unique=True,
        )
    )
    rows = []
    for site, account, month in keys:
        amount = str(
            draw(st.decimals(min_value=0, max_value=10**7, places=draw(st.integers(0, 3))))
        )
        unit = draw(st.sampled_from(["kWh", "MWh", "Wh"]))
        start, end = _period(month)
        rows.append(f"{site},{account},{start},{end},{amount},{unit}")
        if draw(st.booleans()) and draw(st.booleans()):  # a repeated row, re-spelled
            rows.append(f"{site},{account},{start},{end},{_respelled(amount)},{unit.lower()}")
    return n_sites, draw(st.permutations(rows)), set(keys)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=bill_sets())
def test_import_verify_reimport_recompute(
    tmp_path: Path, case: tuple[int, list[str], set[Key]]
) -> None:
    n_sites, rows, keys = case
    home = Home(Path(tempfile.mkdtemp(dir=tmp_path)) / "home")
    key = home.init("roundtrip", scrypt_n=2**10)
    ledger = home.ledger(key)
    try:
        register_orgs(ledger, ledger.channels, key, [Organisation("acme", "Acme")])
        register_sites(ledger, key, SITES[:n_sites])
        parsed = parse_bills(["site,account,start,end,amount,unit", *rows])
        assert parsed.errors == []
        assert parsed.rows == len(rows)

        first = import_bills(
            ledger,
            key,
            CATALOG,
            parsed.bills,
            store=ledger.channels,
            batch_size=5,
            commit_every=2,
        )
        assert first.rejected == []
        assert first.recorded == len(keys)
        assert first.duplicates == len(rows) - len(keys)
        report = ledger.verify()
        assert report.ok, report.error

        records = [s.item for s in ledger.items(ItemQuery(kind="emissions_record"))]
        got = {(r["site"], r["account"], r["period"]["start"], r["period"]["end"]) for r in records}
        # Records name accounts by their public reference, never the number.
        assert got == {
            (s, account_ref(s, a), *(d.isoformat() for d in _period(m))) for s, a, m in keys
        }
        assert len(records) == len(keys)
        member = RecordReader.for_member(ledger, ledger.channels, key)
        assert first.kg_co2e == sum(Decimal(member.full(r)["kg_co2e"]) for r in records)

        again = import_bills(ledger, key, CATALOG, parsed.bills, store=ledger.channels)
        assert (again.recorded, again.duplicates, again.rejected) == (0, len(rows), [])
        assert sum(1 for _ in ledger.items(ItemQuery(kind="emissions_record"))) == len(keys)
        assert ledger.verify().ok

        reader = RecordReader.for_member(ledger, ledger.channels, key)
        for r in records:
            kg = Decimal(reader.full(r)["kg_co2e"])
            assert recompute(reader.trace(r))["kg_co2e"] == kg, r["id"]
    finally:
        ledger.close()
