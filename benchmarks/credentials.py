"""Credential verification rate beside raw Ed25519 verification, measured in one run.

    python benchmarks/credentials.py            # 96 readings per credential (a day of 15-min data)
    python benchmarks/credentials.py --readings 8 --count 5000
    python benchmarks/credentials.py --acapy http://127.0.0.1:8031   # + ACA-Py's rate

Prints: raw Ed25519 verifications/s (cryptography, 64-byte message, the floor
under every credential), ``verify`` one at a time, ``verify_many`` batches,
batches with a Bitstring Status List check, and ``verify_many`` on every core
(one process per core). The design target is >= 2,700 credentials/s.

With an ACA-Py agent (``--acapy URL``, default ``$CARBONLEDGER_ACAPY_ADMIN_URL``;
``source scripts/ci-acapy.sh`` starts one), the same run also times ACA-Py on
the same credentials over its admin API, one request at a time on a kept-alive
connection: ``/vc/di/verify`` on the eddsa-jcs-2022 credentials, and
``/vc/credentials/verify`` beside ``verify`` here on the same credentials
issued as Ed25519Signature2020 (JSON-LD canonicalisation on both sides).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


def make_credentials(
    count: int, readings: int, *, status: bool, suite: str | None = None
) -> list[dict[str, Any]]:
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
        out.append(issue(unsigned, signer, created=datetime(2024, 2, 1, tzinfo=UTC), suite=suite))
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


def acapy_rate(url: str, path: str, key: str, creds: list[dict[str, Any]]) -> float:
    """ACA-Py's verifications/s at ``path``, one request at a time; each must verify."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=120)
    bodies = [
        json.dumps({key: c, "options": {}} if key != "securedDocument" else {key: c}) for c in creds
    ]

    def run() -> None:
        for body in bodies:
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            answer = json.loads(conn.getresponse().read())
            verified = answer.get("verificationResults", answer).get("verified")
            assert verified is True, f"ACA-Py did not verify: {str(answer)[:300]}"

    try:
        return rate(run, len(creds), repeat=1)
    finally:
        conn.close()


def compare_with_acapy(url: str, creds: list[dict[str, Any]], readings: int, n: int) -> None:
    jcs = creds[:n]
    ours = rate(lambda: [verify(c, now=NOW) for c in jcs], len(jcs))
    theirs = acapy_rate(url, "/vc/di/verify", "securedDocument", jcs)
    print(f"ACA-Py {url}, the first {len(jcs)} of the same credentials, one request at a time:")
    print(
        f"  eddsa-jcs-2022  here {ours:9,.0f} /s   ACA-Py /vc/di/verify          {theirs:7,.1f} /s"
        f"   here {ours / theirs:,.0f}x"
    )
    ld = make_credentials(len(jcs), readings, status=False, suite="Ed25519Signature2020")
    ours = rate(lambda: [verify(c, now=NOW) for c in ld], len(ld), repeat=1)
    theirs = acapy_rate(url, "/vc/credentials/verify", "verifiableCredential", ld)
    print(
        f"  Ed25519Sig2020  here {ours:9,.1f} /s   ACA-Py /vc/credentials/verify {theirs:7,.1f} /s"
        f"   here {ours / theirs:,.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--readings", type=int, default=96)
    parser.add_argument("--acapy", default=os.environ.get("CARBONLEDGER_ACAPY_ADMIN_URL"))
    parser.add_argument("--acapy-count", type=int, default=200)
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
    if args.acapy:
        compare_with_acapy(args.acapy, creds, args.readings, args.acapy_count)
    else:
        print("ACA-Py: not measured (give --acapy URL or set CARBONLEDGER_ACAPY_ADMIN_URL)")


if __name__ == "__main__":
    main()
