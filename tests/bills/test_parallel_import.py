"""The parallel import records exactly what the sequential import records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.workload import bills_csv, sites

from carbonledger.core.domain import Organisation
from carbonledger.factors import FactorCatalog
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.bills_csv import parse_bills
from carbonledger.services.home import Home
from carbonledger.services.importer import import_bills
from carbonledger.services.parallel_import import import_csv_parallel
from carbonledger.services.records import RecordReader
from carbonledger.services.registry import register_orgs, register_sites

N_SITES, MONTHS = 60, 30
# Appended rows: a duplicate of row 2, an overlap, bad rows, an unknown site.
EXTRA = """site0,site0-E1,2015-01-01,2015-01-31,{amount0},kWh,1.00,USD
site1,site1-E1,2015-01-15,2015-02-14,5,kWh,1.00,USD
site2,site2-E1,2031-13-01,2031-13-31,5,kWh,1.00,USD
site3,site3-E1,2031-01-01,2031-01-31,-1,kWh,1.00,USD
site4,site4-E1,2031-01-01,2031-01-31,5,mt,1.00,USD
nowhere,x-E1,2031-01-01,2031-01-31,5,kWh,1.00,USD
"""


def _home(path: Path) -> tuple[Home, object]:
    home = Home(path)
    key = home.init("p", scrypt_n=2**10)
    ledger = home.ledger(key)
    register_orgs(ledger, ledger.channels, key, [Organisation("bench", "Bench Co")])
    register_sites(ledger, key, sites(N_SITES))
    return home, (ledger, key)


def _records(ledger: Any, key: Any) -> set[tuple[str, str, str]]:
    """(id, account, kg CO2e) of every record, opened as the importing member."""
    reader = RecordReader.for_member(ledger, ledger.channels, key)
    return {
        (r["id"], r["account"], str(r["kg_co2e"]))
        for r in (reader.full(s.item) for s in ledger.items(ItemQuery(kind="emissions_record")))
    }


def test_parallel_equals_sequential(tmp_path: Path) -> None:
    text = bills_csv(N_SITES, MONTHS)
    amount0 = text.splitlines()[1].split(",")[4]
    text += EXTRA.format(amount0=amount0)
    csv_path = tmp_path / "bills.csv"
    csv_path.write_text(text)

    _, (ledger_a, key_a) = _home(tmp_path / "a")
    parsed = parse_bills(text.splitlines())
    seq = import_bills(ledger_a, key_a, FactorCatalog(), parsed.bills, store=ledger_a.channels)
    seq.rejected[:0] = parsed.errors
    seq.rejected.sort(key=lambda e: e.line)

    _, (ledger_b, key_b) = _home(tmp_path / "b")
    par = import_csv_parallel(ledger_b, key_b, csv_path, workers=3)
    assert (par.rows, par.recorded, par.duplicates) == (
        seq.rows + len(parsed.errors),
        seq.recorded,
        seq.duplicates,
    )
    assert par.recorded == N_SITES * MONTHS
    assert par.duplicates == 1
    assert [(e.line, e.field) for e in par.rejected] == [(e.line, e.field) for e in seq.rejected]
    assert par.kg_co2e == seq.kg_co2e
    # the same records (ids, accounts, results), though in another ledger order
    assert _records(ledger_a, key_a) == _records(ledger_b, key_b)
    assert ledger_b.verify().ok
    again = import_csv_parallel(ledger_b, key_b, csv_path, workers=2)
    assert (again.recorded, again.duplicates) == (0, N_SITES * MONTHS + 1)
    assert ledger_b.verify().ok
