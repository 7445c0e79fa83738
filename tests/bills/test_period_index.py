"""One record per account and period, held by the ledger file itself, and found by index.

The file refuses a second record row of an account and period (written into the raw
SQLite file, past the rules), in files made now (a unique index on the record id,
the UUID of its site, account and period) and in files made before (a unique index
on account and dates), and an import finds an account's recorded periods through an
index in both, as SQLite's planner says: a re-run of a file counts its bills as
duplicates and a changed amount is refused, and the older file keeps opening,
recording and verifying without being given the newer index.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from carbonledger.adapters.sqlite.ledger import SqliteLedger
from tests.api.test_listing_plan import statements  # noqa: F401 (a fixture)
from tests.bills.test_import import Env, env  # noqa: F401 (the ledger fixture)

BILLS = "site,account,start,end,amount,unit\n" + "".join(
    f"{site},E{n},2023-{m:02d}-01,2023-{m:02d}-28,{1000 + m},kWh\n"
    for site in ("us", "uk")
    for n in (1, 2)
    for m in range(1, 7)
)
AGAIN_CHANGED = "site,account,start,end,amount,unit\nus,E1,2023-03-01,2023-03-28,5,kWh\n"


def _indexes(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def _older_file(path: Path) -> None:
    """Give the file the layout files had before: the period index on account and dates."""
    with closing(sqlite3.connect(path)) as db:
        db.execute("DROP INDEX leaf_record")
        db.execute(
            "CREATE UNIQUE INDEX leaf_period ON leaf (account, pstart, pend)"
            " WHERE kind = 'emissions_record'"
        )
        db.commit()


def _copy_a_record_row(path: Path) -> None:
    """Append a copy of a record's row (same account, period and id) past the rules."""
    with closing(sqlite3.connect(path)) as db:
        db.execute(
            "INSERT INTO leaf SELECT (SELECT MAX(idx) + 1 FROM leaf), seq, kind, rid, org,"
            " site, account, pstart, pend, data FROM leaf WHERE kind = 'emissions_record'"
            " LIMIT 1"
        )
        db.commit()


def _periods_plan(path: Path, run: list[str]) -> list[str]:
    """How SQLite runs the statement that read an account's recorded periods."""
    found = [s for s in run if "FROM leaf" in s and "pstart, pend" in s]
    assert found, run
    with closing(sqlite3.connect(path)) as db:
        return [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {found[-1]}")]


@pytest.mark.parametrize("older", [False, True], ids=["file made now", "file made before"])
def test_an_account_s_periods_are_read_by_index_and_held_once_by_the_file(
    env: Env,  # noqa: F811 (the fixtures imported above)
    statements: list[str],  # noqa: F811
    older: bool,
) -> None:
    path = Path(env.ledger.path)
    assert env.run(BILLS).recorded == 24
    env.ledger.close()
    if older:
        _older_file(path)
    env.ledger = SqliteLedger(path, operator=env.key)  # its connections traced
    assert ("leaf_record" in _indexes(path)) is not older  # not added to an older file
    again = env.run(BILLS)
    assert (again.recorded, again.duplicates) == (0, 24)
    plan = _periods_plan(path, statements)
    assert any("USING INDEX" in step for step in plan), plan
    assert not any(step.startswith("SCAN leaf") for step in plan), plan
    changed = env.run(AGAIN_CHANGED)
    assert changed.recorded == 0
    assert [e.field for e in changed.rejected] == ["period"]
    more = env.run(BILLS.replace("2023-", "2024-"))
    assert more.recorded == 24
    assert env.ledger.verify().ok
    assert ("leaf_period" in _indexes(path)) is older
    assert ("leaf_record" in _indexes(path)) is not older
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        _copy_a_record_row(path)
