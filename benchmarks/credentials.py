"""Credential verification rate beside raw Ed25519 verification, measured in one run.

    python benchmarks/credentials.py            # 96 readings per credential (a day of 15-min data)
    python benchmarks/credentials.py --readings 8 --count 5000

Prints: raw Ed25519 verifications/s (cryptography, 64-byte message, the floor
under every credential), ``verify`` one at a time, ``verify_many`` batches,
batches with a Bitstring Status List check, and ``verify_many`` on every core
(one process per core). The design target is >= 2,700 credentials/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from carbonledger.credentials import (
    BitstringStatusList,
    Ed25519Signer,
    StatusListChecker,
    issue,
    issue_status_list,
    meter_readings_credential,
    status_entry,
    verify,
    verify_many,
)

TARGET = 2_700
NOW = datetime(2024, 6, 1, tzinfo=UTC)
LIST_URL = "https://utility.example/status/1"


def make_credentials(count: int, readings: int, *, status: bool) -> list[dict[str, Any]]:
    meters = [Ed25519Signer.from_seed(bytes([i]) * 32) for i in range(1, 51)]
    out = []
    for n in range(count):
        signer = meters[n % len(meters)]
        start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=n % 365)
        rows = [
            (start + timedelta(minutes=15 * i), f"{(n * 7 + i) % 1000}.{i % 10}")
            for i in range(readings)
        ]
        unsigned = meter_readings_credential(
            issuer=signer.did,
            meter_id=f"meter-{n % 50}",
            site_id="site-1",
            interval_seconds=900,
            readings=rows,
            valid_from=datetime(2024, 2, 1, tzinfo=UTC),
        )
        if status:
            unsigned["credentialStatus"] = status_entry(f"{LIST_URL}/{n % 50}", n)
        out.append(issue(unsigned, signer, created=datetime(2024, 2, 1, tzinfo=UTC)))
    return out


def status_lists() -> dict[str, dict[str, Any]]:
    lists = {}
    for i in range(1, 51):
        bits = BitstringStatusList()
        signer = Ed25519Signer.from_seed(bytes([i]) * 32)
        url = f"{LIST_URL}/{i - 1}"
        lists[url] = issue_status_list(
            bits, signer, list_id=url, created=datetime(2024, 1, 1, tzinfo=UTC)
        )
    return lists


def rate(fn: Any, n: int, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n / best


def raw_ed25519(n: int) -> float:
    key = Ed25519PrivateKey.generate()
    pub = key.public_key()
    msg = os.urandom(64)
    sig = key.sign(msg)

    def run() -> None:
        for _ in range(n):
            pub.verify(sig, msg)

    return rate(run, n)


def _worker(args: tuple[int, int]) -> int:
    count, readings = args
    creds = make_credentials(count, readings, status=False)
    results = verify_many(creds, now=NOW)
    assert all(r.ok for r in results)
    t = time.perf_counter()
    verify_many(creds, now=NOW)
    return int(count / (time.perf_counter() - t))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--readings", type=int, default=96)
    args = parser.parse_args()

    creds = make_credentials(args.count, args.readings, status=False)
    assert all(r.ok for r in verify_many(creds, now=NOW)), "benchmark credentials must verify"
    with_status = make_credentials(args.count, args.readings, status=True)
    checker = StatusListChecker(status_lists().__getitem__)
    assert all(r.ok for r in verify_many(with_status, now=NOW, status_checker=checker))

    raw = raw_ed25519(args.count)
    one = rate(lambda: [verify(c, now=NOW) for c in creds], args.count)
    print(f"credentials: {args.count} MeterReadingsCredential, {args.readings} readings each")
    print(f"raw Ed25519 verify (cryptography)   {raw:9,.0f} /s   1.00x")
    print(f"verify, one at a time              {one:9,.0f} /s   {one / raw:.2f}x of raw")
    for batch in (100, 1000, args.count):
        chunks = [creds[i : i + batch] for i in range(0, len(creds), batch)]
        r = rate(lambda chunks=chunks: [verify_many(c, now=NOW) for c in chunks], args.count)
        print(f"verify_many, batches of {batch:<6}     {r:9,.0f} /s   {r / raw:.2f}x of raw")
    r = rate(lambda: verify_many(with_status, now=NOW, status_checker=checker), args.count)
    print(f"verify_many + status list check    {r:9,.0f} /s   {r / raw:.2f}x of raw")
    cores = os.cpu_count() or 1
    with ProcessPoolExecutor(cores) as pool:
        per_core = list(pool.map(_worker, [(args.count, args.readings)] * cores))
    total = sum(per_core)
    print(f"verify_many on {cores} processes        {total:9,.0f} /s   (per core {per_core})")
    verdict = "meets" if one >= TARGET else "MISSES"
    print(f"one core {verdict} the {TARGET:,}/s target ({one / TARGET:.2f}x)")


if __name__ == "__main__":
    main()
