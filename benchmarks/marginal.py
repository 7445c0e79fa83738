"""Marginal displacement at scale, and token operations on the embedded ledger.

    python benchmarks/marginal.py               # a year of 5-minute data x 1,000 sites
    python benchmarks/marginal.py --sites 100   # smaller
    python benchmarks/marginal.py --tokens 2000 # also: token transfers/s vs raw appends/s

Marginal: the MOER series is the shipped WattTime CAISO_NORTH month (31 days,
5-minute) repeated to cover 365 days (synthetic, stated); each site's profile is
random kWh per 5-minute interval (float64, 1,000 x 105,120 = 0.84 GB). The
vectorised path (rates by cumulative integral, one BLAS dot per site block) is
timed against a pure-Python loop over the same arithmetic on a few sites, in the
same run, and the two are checked to agree. Each phase runs in its own process
so its peak RSS (max resident set) is its own.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

YEAR_INTERVALS = 365 * 288


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _year_series() -> Any:
    import numpy as np

    from carbonledger.core.tokens.marginal import series_from_arrays
    from carbonledger.services.scope2 import package_moer

    month = package_moer()
    reps = -(-YEAR_INTERVALS // len(month.times))
    values = np.tile(month.g_per_kwh, reps)[:YEAR_INTERVALS]
    times = month.start + 300 * np.arange(YEAR_INTERVALS, dtype=np.int64)
    return series_from_arrays(
        times,
        values,
        region=month.region,
        source="CAISO_NORTH 2023-06 repeated to 365 days (synthetic)",
    )


def phase_vectorised(sites: int, out: Any) -> None:
    import numpy as np

    from carbonledger.core.tokens.marginal import displacement

    series = _year_series()
    starts = series.times
    ends = starts + 300
    rng = np.random.default_rng(1)
    energy = rng.random((sites, YEAR_INTERVALS))  # kWh per 5 minutes
    t = time.perf_counter()
    result = displacement(series, starts, ends, energy)
    elapsed = time.perf_counter() - t
    out.put(
        {
            "sites": sites,
            "intervals": YEAR_INTERVALS,
            "seconds": elapsed,
            "site_intervals_per_s": sites * YEAR_INTERVALS / elapsed,
            "peak_rss_mb": _rss_mb(),
            "check": [float(x) for x in result.marginal_g[:3]],
        }
    )


def phase_python(sites: int, out: Any) -> None:
    """The same arithmetic in plain Python: rates by slot, then sum(kWh x rate)."""
    import numpy as np

    series = _year_series()
    rng = np.random.default_rng(1)
    energy = rng.random((sites, YEAR_INTERVALS)).tolist()
    values = series.g_per_kwh.tolist()
    t = time.perf_counter()
    totals = []
    for row in energy:
        total = 0.0
        for i, kwh in enumerate(row):
            total += kwh * values[i]
        totals.append(total)
    elapsed = time.perf_counter() - t
    out.put(
        {
            "sites": sites,
            "seconds": elapsed,
            "site_intervals_per_s": sites * YEAR_INTERVALS / elapsed,
            "check": totals[:3],
        }
    )


def phase_tokens(n: int, out: Any) -> None:
    """Token transfers (one per transaction, 100 transactions per commit) vs raw appends."""
    from datetime import date

    from tests.tokens.tokens_helpers import build_template

    from carbonledger.core.tx import build_tx, utc_now
    from carbonledger.services.tokens import issue_rec

    with tempfile.TemporaryDirectory() as tmp:
        w = build_template(Path(tmp) / "home")
        tid = issue_rec(
            w.ledger,
            w.rec_dealer,
            to="acme/alice",
            mwh=10**9,
            facility="Bench",
            grid_region="CAMX",
            generation=(date(2023, 1, 1), date(2023, 12, 31)),
            registry="BENCH",
            serial_prefix="B-",
            serial_start=1,
        ).token
        state = w.ledger.state()
        ledger_id = str(state.ledger_id)

        def run(kind: str) -> float:
            nonce = w.ledger.state().next_nonce(w.alice.address)
            txs = []
            for i in range(n):
                if kind == "transfer":
                    items = [
                        {
                            "kind": "token_transfer",
                            "id": f"x{nonce + i}",
                            "token": tid,
                            "to": w.bob.address,
                            "amount": 1,
                        }
                    ]
                    tx_type = "transfer_token"
                else:  # the foundation's raw append: a channel_read item (no balance work)
                    items = [{"kind": "channel_read", "channel": "acme", "purpose": "bench"}]
                    tx_type = "channel_read"
                txs.append(
                    build_tx(
                        w.alice,
                        tx_type=tx_type,
                        ledger_id=ledger_id,
                        nonce=nonce + i,
                        created=utc_now(),
                        items=items,
                    )
                )
            t = time.perf_counter()
            for k in range(0, n, 100):
                w.ledger.submit(txs[k : k + 100])
            return n / (time.perf_counter() - t)

        raw = run("append")
        transfers = run("transfer")
        w.ledger.close()
    out.put(
        {
            "transactions": n,
            "raw_append_tx_per_s": raw,
            "transfer_tx_per_s": transfers,
            "ratio": transfers / raw,
        }
    )


def _run(target: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, out))
    proc.start()
    result: dict[str, Any] = out.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--baseline-sites", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=0, help="token transactions to time")
    args = parser.parse_args()
    vec = _run(phase_vectorised, args.sites)
    py = _run(phase_python, args.baseline_sites)
    agree = all(
        abs(a - b) <= 1e-9 * abs(b) for a, b in zip(vec["check"], py["check"], strict=False)
    )
    print(f"marginal displacement: {vec['sites']} sites x {vec['intervals']} 5-minute intervals")
    print(
        f"  numpy:        {vec['seconds']:.2f} s  ({vec['site_intervals_per_s']:,.0f}"
        f" site-intervals/s), peak RSS {vec['peak_rss_mb']:,.0f} MB"
    )
    print(
        f"  pure Python:  {py['seconds']:.2f} s for {py['sites']} sites"
        f" ({py['site_intervals_per_s']:,.0f} site-intervals/s)"
        f" -> {args.sites / py['sites'] * py['seconds']:.0f} s for {args.sites} sites"
    )
    print(
        f"  speed-up:     {vec['site_intervals_per_s'] / py['site_intervals_per_s']:,.0f}x;"
        f" results agree: {agree}"
    )
    if args.tokens:
        tok = _run(phase_tokens, args.tokens)
        print(
            f"token transfers: {tok['transfer_tx_per_s']:,.0f} tx/s beside raw appends"
            f" {tok['raw_append_tx_per_s']:,.0f} tx/s (ratio {tok['ratio']:.2f}),"
            f" {tok['transactions']} transactions, 100 per commit"
        )


if __name__ == "__main__":
    main()
