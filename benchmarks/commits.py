"""CPU of one small commit on an embedded ledger, by how many accounts the ledger holds.

    python benchmarks/commits.py                      # 100, 6,000 and 50,000 accounts
    python benchmarks/commits.py --accounts 100,1000 --commits 100

A commit's cost should not grow with the ledger: each line is a ledger holding that many
accounts (one record each, loaded 1,000 to a transaction), then ``--commits``
transactions of one record each, committed one at a time; it prints the CPU time of
one (building and signing its transaction included) and its ratio to the first line's,
the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.ledger_helpers import new_ledger, record, tx

from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.crypto.keys import PrivateKey

KEY = PrivateKey.from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")


def commit_cpu_ms(accounts: int, commits: int) -> float:
    """CPU milliseconds of a one-record commit on a ledger of ``accounts`` accounts."""
    with tempfile.TemporaryDirectory() as tmp:
        ledger: SqliteLedger = new_ledger(Path(tmp) / "ledger.db", KEY, sites=10)
        try:
            nonce = ledger.state().next_nonce(KEY.address)
            for start in range(0, accounts, 1000):
                items = [
                    record(f"s{i % 10}", 1, account=f"A{i}")
                    for i in range(start, min(accounts, start + 1000))
                ]
                ledger.submit([tx(KEY, "record_emissions", nonce, items)])
                nonce += 1
            started = time.process_time()
            for n in range(commits):
                item = record("s0", 2 + n, account="one-a-commit")
                ledger.submit([tx(KEY, "record_emissions", nonce, [item])])
                nonce += 1
            return (time.process_time() - started) * 1000 / commits
        finally:
            ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", default="100,6000,50000", help="comma-separated")
    parser.add_argument("--commits", type=int, default=300)
    args = parser.parse_args()
    base: float | None = None
    for accounts in (int(a) for a in args.accounts.split(",")):
        ms = commit_cpu_ms(accounts, args.commits)
        base = base or ms
        print(f"{accounts:>9,} accounts  {ms:7.3f} ms CPU a one-record commit  {ms / base:5.2f}x")


if __name__ == "__main__":
    main()
