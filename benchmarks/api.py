"""REST API under loopback load, beside the same operations in-process, in one run.

    python benchmarks/api.py          # 10,000 seeded records, 400 requests, 8, 20 and 32 clients
    python benchmarks/api.py --posts 100 --listings 1 --clients 8,32   # quicker (20 is added)

Three operations:

* **record emissions**: one bill per request, ``POST /api/v1/bills`` (JSON), signed
  with the caller's keystore unlocked for the session; in-process, the same
  ``import_bills`` call with one bill, one call after the other;
* **opentaps recordEmissions**: one bill per request as opentaps SEAS sends it (a
  multipart form, its ``vault_token`` header: a service account whose key the
  server holds); in-process, the same one-bill import;
* **list a site's records**: ``GET /api/v1/records?site=S&limit=100``, a site after
  another; in-process, ``ledger.items`` with the same query (no JSON encoding);
* **list 10,000 records**: ``GET /api/v1/records?limit=1000&offset=...`` page by
  page; in-process, ``ledger.items`` with the same query (no JSON encoding).

Two in-process figures stand beside the HTTP ones: the operation itself (``import_bills``,
``ledger.items``), and for opentaps and a site's records the server's own code for it
(``record_one``, ``records_page`` on an :class:`AppContext`) without HTTP, so that the
cost of the HTTP layer is what separates the rows. Site pages are measured once each
site's page has been read (a server's steady state); the first reads, which open and
check the sealed details, get a row of their own.

The server is uvicorn in a subprocess on 127.0.0.1 (one worker, as
``carbonledger serve`` runs it). The clients are coroutines on one asyncio loop, each
with its own keep-alive connection, sending requests built beforehand (by httpx) and
reading each answer whole before the next, for each client count given: a load
generator light enough that the server, not the client, is what is measured on a
small machine. The in-process figures are measured first on the same ledger file,
then the server opens it.
Figures are printed as a table (requests per second, p50 and p99 latency), with
the HTTP/in-process throughput ratio and, on Linux, the server process's CPU time
per request (what the machine's load does not change much) and the clients' own (they
share the machine's cores), and for writes how many requests each signed transaction
and each commit held (group commit across requests); then each write and
listing at 20 clients against its target (>= 1,000 requests/s and p99 < 50 ms for
writes, p99 < 50 ms for listings), 20 clients being always measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import orjson

from benchmarks.workload import sites
from carbonledger.api.context import ServiceAccount, new_api_token
from carbonledger.core.domain import Bill, Organisation
from carbonledger.crypto.keys import eip191_digest
from carbonledger.crypto.keystore import encrypt_key, save_keystore
from carbonledger.factors import FactorCatalog
from carbonledger.ports.ledger import ItemQuery
from carbonledger.services.channels import grant
from carbonledger.services.home import Home
from carbonledger.services.identity import enroll, make_enrolment_request, register_user
from carbonledger.services.importer import import_bills
from carbonledger.services.registry import register_orgs, register_sites

PASSPHRASE = "bench"
N_SITES = 100
PAGE = 1000
SITE_PAGE = 100
OPERATIONS = ("post", "opentaps", "site", "list")
MEASURE = 20  # the client count the targets are stated at


def _months(start_year: int, count: int) -> list[tuple[date, date]]:
    out = []
    for m in range(count):
        start = date(start_year + m // 12, m % 12 + 1, 1)
        nxt = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
        out.append((start, nxt - timedelta(days=1)))
    return out


def seed_bills(n: int) -> list[Bill]:
    """``n`` monthly electricity bills over N_SITES sites from 2019 on."""
    bills = []
    months = _months(2019, -(-n // N_SITES))
    for i in range(n):
        start, end = months[i // N_SITES]
        site = f"site{i % N_SITES}"
        bills.append(
            Bill(site, f"{site}-E1", start, end, Decimal(1000 + (i * 7919) % 500_000), "kWh")
        )
    return bills


def one_bill(tag: str, n: int) -> Bill:
    """A bill no other operation of the run records (its own account)."""
    start, end = _months(2023, 1)[0]
    return Bill(f"site{n % N_SITES}", f"{tag}-{n}", start, end, Decimal(1000 + n), "kWh")


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def service_account(home: Home, ledger: Any, admin: Any, name: str) -> str:
    """An opentaps service account of the bench organisation; its API token."""
    secret = register_user(ledger, admin, org="bench", name=name, roles=["member"])
    key, request = make_enrolment_request("bench", name, secret)
    cert = home.ca.issue(ledger, request, PASSPHRASE)
    path = home.user_keystore("bench", name)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_keystore(path, encrypt_key(key, PASSPHRASE, n=2**12))
    enroll(ledger, key, request, cert)
    grant(ledger, ledger.channels, admin, "bench", key.address, role="member")
    return new_api_token(home, ServiceAccount("bench", name, key.address))


def setup(home: Home, records: int) -> tuple[float, str]:
    admin = home.init(PASSPHRASE, name="api benchmark", scrypt_n=2**12)
    ledger = home.ledger(admin)
    try:
        org = Organisation("bench", "Bench Co")
        cert = home.ca.create_org(org.id, org.name, PASSPHRASE)
        register_orgs(ledger, ledger.channels, admin, [org], ca_certs={org.id: cert})
        register_sites(ledger, admin, sites(N_SITES))
        erp_token = service_account(home, ledger, admin, "erp")
        t = time.perf_counter()
        report = import_bills(
            ledger, admin, FactorCatalog(home=home.path), seed_bills(records), store=ledger.channels
        )
        if report.recorded != records:
            raise SystemExit(
                f"seeding recorded {report.recorded} of {records}: {report.rejected[:3]}"
            )
        return time.perf_counter() - t, erp_token
    finally:
        ledger.close()


def in_process(home: Home, posts: int, listings: int) -> dict[str, dict[str, Any]]:
    admin = home.key(PASSPHRASE)
    ledger = home.ledger(admin)
    catalog = FactorCatalog(home=home.path)
    try:
        # Warm-up (factor catalog, caches), not measured, as the server's first request isn't.
        import_bills(ledger, admin, catalog, [one_bill("warm", 0)], store=ledger.channels)
        lat: list[float] = []
        t0 = time.perf_counter()
        for n in range(posts):
            t = time.perf_counter()
            report = import_bills(
                ledger, admin, catalog, [one_bill("inproc", n)], store=ledger.channels
            )
            lat.append(time.perf_counter() - t)
            assert report.recorded == 1, report.rejected
        post = _row(lat, time.perf_counter() - t0)
        total = sum(1 for _ in ledger.items(ItemQuery(kind="emissions_record")))
        pages: list[float] = []
        t0 = time.perf_counter()
        for _ in range(listings):
            for offset in range(0, total, PAGE):
                t = time.perf_counter()
                query = ItemQuery(kind="emissions_record", limit=PAGE, offset=offset)
                page = [{"leaf_index": s.leaf_index, **s.item} for s in ledger.items(query)]
                pages.append(time.perf_counter() - t)
                assert page
        listing = _row(pages, time.perf_counter() - t0)
        listing["records"] = total
        pages = []
        t0 = time.perf_counter()
        for n in range(posts):
            t = time.perf_counter()
            query = ItemQuery(kind="emissions_record", site=f"site{n % N_SITES}", limit=SITE_PAGE)
            page = [{"leaf_index": s.leaf_index, **s.item} for s in ledger.items(query)]
            pages.append(time.perf_counter() - t)
            assert page
        site = _row(pages, time.perf_counter() - t0)
        return {"post": post, "list": listing, "site": site}
    finally:
        ledger.close()


def same_code(home: Home, posts: int, erp_token: str, utility: str) -> dict[str, dict[str, Any]]:
    """The server's own code for opentaps and a site's page, called in-process (no HTTP)."""
    from carbonledger.api.context import AppContext
    from carbonledger.api.listing import RecordsQuery, records_page
    from carbonledger.api.opentaps import RecordForm, record_one
    from carbonledger.services.signin import Actor

    ctx = AppContext.open(home, PASSPHRASE)
    loop = asyncio.new_event_loop()
    try:
        account = ctx.service_account(erp_token)
        assert account is not None
        erp = Actor(account.address, ctx.identity(account.address) or {}, ctx.service_key(account))
        admin = Actor(ctx.operator.address, ctx.identity(ctx.operator.address) or {}, ctx.operator)

        def form(n: int) -> RecordForm:
            b = one_bill("same", n)
            start, end = b.start.isoformat(), b.end.isoformat()
            return RecordForm(f"USA_EIA_{utility}", b.account, start, end, str(b.amount), b.unit)

        loop.run_until_complete(record_one(ctx, erp, form(-1), b""))  # warm-up
        lat: list[float] = []
        t0 = time.perf_counter()
        for n in range(posts):
            t = time.perf_counter()
            answer = loop.run_until_complete(record_one(ctx, erp, form(n), b""))
            lat.append(time.perf_counter() - t)
            assert answer.status_code == 201, answer.body
        taps = _row(lat, time.perf_counter() - t0)

        def pages(count: int) -> dict[str, Any]:
            lat: list[float] = []
            t0 = time.perf_counter()
            for n in range(count):
                t = time.perf_counter()
                query = RecordsQuery(site=f"site{n % N_SITES}", limit=SITE_PAGE)
                answer = records_page(ctx, admin, query)
                lat.append(time.perf_counter() - t)
                assert answer.status_code == 200
            return _row(lat, time.perf_counter() - t0)

        cold = pages(N_SITES)  # each site's first read: its sealed details opened and checked
        return {"opentaps": taps, "site_cold": cold, "site": pages(posts)}
    finally:
        loop.close()
        ctx.ledger.close()


def _row(latencies: list[float], wall: float) -> dict[str, Any]:
    p50, p99 = percentiles(latencies)
    return {"n": len(latencies), "rps": len(latencies) / wall, "p50": p50, "p99": p99}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(home: str, port: int) -> None:
    """The server process: ``carbonledger serve`` without the CLI's prompt."""
    from carbonledger.api import create_app
    from carbonledger.api.context import AppContext
    from carbonledger.cli.serve import run_server

    ctx = AppContext.open(Home(Path(home)), PASSPHRASE)
    run_server(create_app(ctx), host="127.0.0.1", port=port)


def sign_in(base: str, home: Home) -> str:
    admin = home.key(PASSPHRASE)
    with httpx.Client(base_url=base) as client:
        asked = client.post("/api/v1/auth/challenge", json={"address": admin.address}).json()
        signature = admin.sign_digest(eip191_digest(asked["message"].encode())).hex()
        done = client.post(
            "/api/v1/auth/login",
            json={"message": asked["message"], "signature": signature, "passphrase": PASSPHRASE},
        )
        done.raise_for_status()
        return str(done.json()["token"])


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) used so far by process ``pid``; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Job:
    """One request, as the bytes sent on the wire, and how to judge its answer."""

    wire: bytes
    status: int
    check: Callable[[bytes], bool] = lambda _body: True


def job(
    base: str,
    method: str,
    path: str,
    token: str,
    *,
    status: int,
    check: Callable[[bytes], bool] = lambda _body: True,
    **kwargs: Any,
) -> Job:
    """A request built by httpx (JSON, forms, query), serialised once as HTTP/1.1."""
    headers = {"authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    request = httpx.Request(method, f"{base}{path}", headers=headers, **kwargs)
    body = request.read()
    target = request.url.raw_path.decode()
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() != "connection"]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return Job(head + body, status, check)


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _clients(clients: int, jobs: list[Job], port: int) -> list[float]:
    todo = iter(jobs)
    lat: list[float] = []

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for one in todo:
                t = time.perf_counter()
                writer.write(one.wire)
                status, body = await _answer(reader)
                lat.append(time.perf_counter() - t)
                if status != one.status or not one.check(body):
                    raise SystemExit(f"request failed: {status} {body[:200]!r}")
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return lat


def commits(home: Home) -> tuple[int, int]:
    """Signed transactions (entries) and commits (checkpoints) on the ledger file so far."""
    with closing(sqlite3.connect(f"file:{home.path / 'ledger.db'}?mode=ro", uri=True)) as db:
        entries = db.execute("SELECT count(*) FROM tx").fetchone()[0]
        checkpoints = db.execute("SELECT count(*) FROM checkpoint").fetchone()[0]
    return int(entries), int(checkpoints)


def load(
    clients: int,
    jobs: list[Job],
    port: int,
    server: int | None = None,
    home: Home | None = None,
) -> dict[str, Any]:
    """Run ``jobs`` from ``clients`` connections; with the ``server`` pid, its CPU per request;
    with the ledger's ``home``, how many requests each signed transaction and commit held."""
    cpu0 = cpu_seconds(server) if server else None
    marks0 = commits(home) if home else None
    t0, own0 = time.perf_counter(), time.process_time()
    lat = asyncio.run(_clients(clients, jobs, port))
    row = _row(lat, time.perf_counter() - t0)
    row["client_ms"] = (time.process_time() - own0) * 1000 / len(jobs)
    cpu1 = cpu_seconds(server) if server else None
    if cpu0 is not None and cpu1 is not None:
        row["cpu_ms"] = (cpu1 - cpu0) * 1000 / len(jobs)
    if home is not None and marks0 is not None:
        entries, checkpoints = (b - a for a, b in zip(marks0, commits(home), strict=True))
        row["per_tx"] = len(jobs) / max(entries, 1)
        row["per_commit"] = len(jobs) / max(checkpoints, 1)
    return row


def _start(home: Home) -> tuple[subprocess.Popen[bytes], str, int]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(home.path), str(port)],
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/api/v1/status", timeout=1).raise_for_status()
            return server, base, port
        except httpx.HTTPError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.terminate()
                raise SystemExit("the server did not start") from None
            time.sleep(0.1)


def _recorded_one(body: bytes) -> bool:
    return bool(orjson.loads(body)["recorded"] == 1)


def post_bill(base: str, token: str, tag: str, n: int) -> Job:
    """``POST /api/v1/bills`` with one bill of its own."""
    b = one_bill(tag, n)
    body = [
        {
            "site": b.site,
            "account": b.account,
            "start": b.start.isoformat(),
            "end": b.end.isoformat(),
            "amount": str(b.amount),
            "unit": b.unit,
        }
    ]
    return job(base, "POST", "/api/v1/bills", token, status=201, check=_recorded_one, json=body)


def post_opentaps(base: str, token: str, tag: str, n: int, utility: str, erp_token: str) -> Job:
    """opentaps' ``recordEmissions`` with one bill of its own, as opentaps sends it."""
    b = one_bill(tag, n)
    form = {
        "utilityId": f"USA_EIA_{utility}",
        "partyId": b.account,
        "fromDate": f"{b.start.isoformat()}T00:00:00Z",
        "thruDate": f"{b.end.isoformat()}T23:59:59Z",
        "energyUseAmount": str(b.amount),
        "energyUseUom": b.unit,
    }
    url = "/api/v1/utilityemissionchannel/emissionscontract/recordEmissions"
    return job(
        base,
        "POST",
        url,
        token,
        status=201,
        params={"userId": "erp"},
        data=form,
        headers={"vault_token": erp_token},
    )


def site_page(base: str, token: str, n: int) -> Job:
    """``GET /api/v1/records?site=...`` (a site's first page of 100)."""
    params = {"site": f"site{n % N_SITES}", "limit": SITE_PAGE}
    return job(base, "GET", "/api/v1/records", token, status=200, params=params)


def page(base: str, token: str, offset: int) -> Job:
    params = {"limit": PAGE, "offset": offset}
    return job(base, "GET", "/api/v1/records", token, status=200, params=params)


def over_http(
    home: Home,
    posts: int,
    listings: int,
    clients: list[int],
    records: int,
    erp_token: str,
) -> dict[str, dict[int, dict[str, Any]]]:
    server, base, port = _start(home)
    utility = next(s.utility_id for s in sites(N_SITES) if s.utility_id)
    out: dict[str, dict[int, dict[str, Any]]] = {op: {} for op in OPERATIONS}
    try:
        token = sign_in(base, home)
        load(1, [post_bill(base, token, "warm", 1)], port)  # warm-up, not measured
        load(1, [post_opentaps(base, token, "warm", 2, utility, erp_token)], port)
        # The framework builds a router's routes on their first request (about a second);
        # each site's page is read once (as on a server that has run a while: its first
        # read opens and checks the sealed details, measured in-process on its own row).
        load(1, [site_page(base, token, n) for n in range(N_SITES)] + [page(base, token, 0)], port)
        total = records + 2  # the two warm-up requests (records: those on the ledger before)
        for c in clients:
            jobs = [post_bill(base, token, f"http{c}", n) for n in range(posts)]
            out["post"][c] = load(c, jobs, port, server.pid, home)
            jobs = [
                post_opentaps(base, token, f"taps{c}", n, utility, erp_token) for n in range(posts)
            ]
            out["opentaps"][c] = load(c, jobs, port, server.pid, home)
            total += 2 * posts
        for c in clients:
            jobs = [site_page(base, token, n) for n in range(posts)]
            out["site"][c] = load(c, jobs, port, server.pid)
            jobs = [page(base, token, o) for _ in range(listings) for o in range(0, total, PAGE)]
            out["list"][c] = load(c, jobs, port, server.pid)
        return out
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=400, help="requests per write mode")
    parser.add_argument("--listings", type=int, default=5, help="full listings per mode")
    parser.add_argument(
        "--clients", default="8,20,32", help=f"client counts, comma-separated ({MEASURE} always)"
    )
    parser.add_argument("--serve", nargs=2, metavar=("HOME", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    clients = sorted({int(c) for c in args.clients.split(",")} | {MEASURE})
    utility = next(s.utility_id for s in sites(N_SITES) if s.utility_id)
    with tempfile.TemporaryDirectory() as tmp:
        home = Home(Path(tmp) / "home")
        seeded, erp_token = setup(home, args.records)
        print(f"seeded {args.records:,} records in {seeded:.1f} s (one import)")
        local = in_process(home, args.posts, args.listings)
        same = same_code(home, args.posts, erp_token, utility)
        total = local["list"]["records"] + 1 + args.posts  # and what same_code recorded
        remote = over_http(home, args.posts, args.listings, clients, total, erp_token)
        total += 2 + 2 * args.posts * len(clients)  # what the HTTP runs recorded
    print(
        f"\n{'operation':<34}{'mode':<24}{'requests':>9}{'req/s':>10}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'vs in-process':>15}{'server CPU ms/req':>19}"
        f"{'client CPU':>11}{'req/tx':>8}{'req/commit':>11}"
    )
    names = {
        "post": ("post", "record emissions (1 bill)"),
        "opentaps": ("post", "opentaps recordEmissions"),
        "site": ("site", f"list a site's records ({SITE_PAGE}/page)"),
        "list": ("list", f"list {total:,} records ({PAGE}/page)"),
    }
    for op, (baseline, name) in names.items():
        base = local[baseline]["rps"]
        rows = [("in-process, 1 thread", local[baseline])]
        if op in same:
            rows.append(("in-process, server code", same[op]))
        if f"{op}_cold" in same:
            rows.append(("  (its first reads)", same[f"{op}_cold"]))
        rows += [(f"HTTP, {c} clients", remote[op][c]) for c in clients]
        for mode, row in rows:
            print(
                f"{name:<34}{mode:<24}{row['n']:>9,}{row['rps']:>10,.1f}"
                f"{row['p50']:>9.2f}{row['p99']:>9.2f}{row['rps'] / base:>14.2f}x"
                + (f"{row['cpu_ms']:>19.2f}" if "cpu_ms" in row else "")
                + (f"{row['client_ms']:>11.2f}" if "cpu_ms" in row else "")
                + (f"{row['per_tx']:>8.1f}{row['per_commit']:>11.1f}" if "per_tx" in row else "")
            )
    print(f"\nat {MEASURE} clients, against the targets:")
    for op, (_, name) in names.items():
        row = remote[op][MEASURE]
        want_rps = op in ("post", "opentaps")
        met = row["p99"] < 50 and (not want_rps or row["rps"] >= 1000)
        target = ">= 1,000 req/s, p99 < 50 ms" if want_rps else "p99 < 50 ms"
        print(
            f"  {name:<34}{row['rps']:>9,.0f} req/s  p99 {row['p99']:>7.1f} ms"
            f"  target {target:<28}{'met' if met else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
