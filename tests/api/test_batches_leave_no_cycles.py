"""A server's bill batches are freed as they finish, not by the collector's full pass.

A server records the bills of concurrent requests in shared batches, hundreds a
second. Anything a batch leaves in a reference cycle (its import session, its
requests and their bills, the state it was checked against) waits for the cycle
collector's full pass, a pause of many milliseconds for every request in flight.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal

import pytest

from carbonledger.api.coalesce import BillCoalescer
from carbonledger.core.domain import Bill
from carbonledger.services.importer import ImportReport, ImportSession
from tests.api_helpers import Served, served


@pytest.fixture
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    api = served(tmp_path_factory.mktemp("no-cycles") / "home")
    yield api
    api.ctx.ledger.close()


def _bill(n: int) -> Bill:
    return Bill("hq", f"meter-{n}", date(2024, 1, 1), date(2024, 1, 31), Decimal(1000 + n), "kWh")


def test_concurrent_bill_batches_leave_nothing_for_the_cycle_collector(api: Served) -> None:
    key = api.users["erp"]
    api.ctx.record_bills(key, [_bill(0)], "api")  # first batch: factor tables, caches
    gc.collect()
    gc.disable()
    try:
        with ThreadPoolExecutor(8) as pool:  # requests at once: shared batches
            reports = list(
                pool.map(lambda n: api.ctx.record_bills(key, [_bill(n)], "api"), range(1, 41))
            )
        assert sum(r.recorded for r in reports) == 40
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        left = [
            type(o).__name__
            for o in gc.garbage
            if isinstance(o, (ImportSession, ImportReport, Bill, BillCoalescer))
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []
