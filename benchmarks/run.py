"""carbonledger benchmarks: one command, each figure beside a baseline from the same run.

    python benchmarks/run.py            # 100,000 bills; proofs at 10^4, 10^5, 10^6
    python benchmarks/run.py --quick    # 20,000 bills; proofs at 10^4, 10^5
    python benchmarks/run.py --only import --months 10   # the import and its baseline only
    python benchmarks/run.py --verify-only DIR [--quick] [--repeat 3]   # verify alone

Each phase runs in a fresh process so its peak memory (max RSS) is its own.
Figures are printed and written to benchmarks/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.workload import bills_csv, new_ledger


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_sqlite_baseline(n_sites: int, months: int, workdir: str) -> dict[str, Any]:
    """Bare sqlite3: executemany of the same bill rows into a WAL table, one commit."""
    rows = [tuple(line.split(",")) for line in bills_csv(n_sites, months).splitlines()[1:]]
    con = sqlite3.connect(Path(workdir) / "baseline.db", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE bill (site, account, start, end, amount, unit, cost, currency)")
    cpu, t = time.process_time(), time.perf_counter()
    con.execute("BEGIN")
    con.executemany("INSERT INTO bill VALUES (?,?,?,?,?,?,?,?)", rows)
    con.execute("COMMIT")
    dt, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {"rows": len(rows), "rows_per_s": len(rows) / dt, "rows_per_cpu_s": len(rows) / cpu}


def phase_store_baseline(workdir: str) -> dict[str, Any]:
    """The import's own leaf rows written again into a fresh file of the ledger's schema, in
    commits of 5,000 as the import makes them: what storing a bill costs the writer with
    the leaf table's indexes, and with its primary key alone (the floor of the store)."""
    from carbonledger.adapters.sqlite.schema import connect

    src = sqlite3.connect(Path(workdir) / "ledger.db")
    rows = src.execute("SELECT * FROM leaf ORDER BY idx").fetchall()
    src.close()
    out: dict[str, Any] = {"rows": len(rows)}
    for label, indexed in (("indexed", True), ("primary_key_only", False)):
        path = Path(workdir) / f"store-{label}.db"
        con = connect(str(path))
        if not indexed:
            names = con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'leaf'"
                " AND sql IS NOT NULL"
            ).fetchall()
            for (name,) in names:
                con.execute(f"DROP INDEX {name}")
        cpu = time.process_time()
        for i in range(0, len(rows), 5000):
            con.execute("BEGIN")
            con.executemany("INSERT INTO leaf VALUES (?,?,?,?,?,?,?,?,?,?)", rows[i : i + 5000])
            con.execute("COMMIT")
        out[f"{label}_cpu_us_per_row"] = (time.process_time() - cpu) / len(rows) * 1e6
        con.close()
    return out


def phase_import_parallel(n_sites: int, months: int, workdir: str) -> dict[str, Any]:
    """The same file through ``import_csv_parallel`` (what ``bills import`` does for big files)."""
    from carbonledger.crypto.keys import PrivateKey
    from carbonledger.services.parallel_import import import_csv_parallel

    key = PrivateKey.generate()
    csv_path = Path(workdir) / "bills-par.csv"
    csv_path.write_text(bills_csv(n_sites, months))
    ledger = new_ledger(Path(workdir) / "ledger-par.db", key, n_sites)
    t = time.perf_counter()
    report = import_csv_parallel(ledger, key, csv_path, workers=2)
    dt = time.perf_counter() - t
    ok = ledger.verify().ok
    ledger.close()
    assert report.recorded == n_sites * months, report.rejected[:3]
    assert ok
    return {
        "bills": report.recorded,
        "bills_per_s": report.recorded / dt,
        "seconds": dt,
        "peak_rss_mb": _rss_mb(),
    }


def phase_import(n_sites: int, months: int, workdir: str) -> dict[str, Any]:
    """End to end: parse CSV, validate, resolve, calculate with trace, sign, append, commit."""
    from carbonledger.core.domain import Bill
    from carbonledger.crypto.keys import PrivateKey
    from carbonledger.factors import FactorCatalog
    from carbonledger.services.bills_csv import iter_bills
    from carbonledger.services.importer import import_bills

    key = PrivateKey.generate()
    csv_path = Path(workdir) / "bills.csv"
    csv_path.write_text(bills_csv(n_sites, months))
    ledger = new_ledger(Path(workdir) / "ledger.db", key, n_sites)
    catalog = FactorCatalog()
    # The catalog loads each file on first use (about 0.8 s for the ZIP tables): that is
    # a start-up cost of any import, not a per-bill one, so it is paid before timing.
    from benchmarks.workload import warm_catalog

    warm_catalog(catalog, n_sites)
    cpu = time.process_time()  # every thread of this process (the writer's too)
    t = time.perf_counter()
    with csv_path.open(newline="") as fh:  # streamed: parse, check, calculate, seal, sign, commit
        rows = iter_bills(fh)
        report = import_bills(
            ledger, key, catalog, (b for b in rows if isinstance(b, Bill)), store=ledger.channels
        )
    dt = time.perf_counter() - t
    cpu = time.process_time() - cpu
    ledger.close()
    assert report.recorded == n_sites * months, report.rejected[:3]
    size = (Path(workdir) / "ledger.db").stat().st_size
    return {
        "bills": report.recorded,
        "bills_per_s": report.recorded / dt,
        "seconds": dt,
        # CPU per bill does not depend on what else the machine runs (wall time does).
        "cpu_us_per_bill": cpu / report.recorded * 1e6,
        "peak_rss_mb": _rss_mb(),
        "db_bytes_per_bill": size / report.recorded,
    }


def phase_verify(workdir: str, workers: str = "1") -> dict[str, Any]:
    """Full verify of the ledger built by the import phase; baselines on the same bytes.

    ``workers``: ``CARBONLEDGER_VERIFY_WORKERS`` for the run ("1" with a worker process,
    whatever the machine's load; "0" one process). CPU seconds are measured per process
    (the replay here, the worker's as a child), so the split of the work shows even when
    the machine is busy.
    """
    import hashlib

    import coincurve

    from carbonledger.adapters.sqlite.ledger import SqliteLedger

    os.environ["CARBONLEDGER_VERIFY_WORKERS"] = workers
    path = Path(workdir) / "ledger.db"
    ledger = SqliteLedger(path)
    cpu, child = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    report = ledger.verify()
    dt = time.perf_counter() - t
    cpu = time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = after.ru_utime + after.ru_stime - child.ru_utime - child.ru_stime
    assert report.ok, report.error
    con = sqlite3.connect(path)
    datas = [bytes(d) for (d,) in con.execute("SELECT data FROM leaf")]
    t = time.perf_counter()
    for d in datas:
        hashlib.sha256(b"\x00" + d).digest()
    sha_rate = len(datas) / (time.perf_counter() - t)
    key = coincurve.PrivateKey()
    digest = hashlib.sha256(b"x").digest()
    sig = key.sign_recoverable(digest, hasher=None)
    n = 5000
    t = time.perf_counter()
    for _ in range(n):
        coincurve.PublicKey.from_signature_and_message(sig, digest, hasher=None)
    recover_rate = n / (time.perf_counter() - t)
    return {
        "workers": workers,
        "entries": report.entries,
        "leaves": report.leaves,
        "leaves_per_s": report.leaves / dt,
        "seconds": dt,
        "cpu_us_per_leaf": cpu / report.leaves * 1e6,
        "worker_cpu_us_per_leaf": worker_cpu / report.leaves * 1e6,
        "peak_rss_mb": _rss_mb(),
        "baseline_leaf_sha256_per_s": sha_rate,
        "baseline_secp256k1_recover_per_s": recover_rate,
    }


def _print_verify(ver: dict[str, Any], label: str = "verify") -> None:
    # On a machine shared with other work the wall-clock rate says more about the load than
    # about verify: the busier process's CPU time per leaf bounds the rate on free cores.
    busier = max(ver["cpu_us_per_leaf"], ver["worker_cpu_us_per_leaf"])
    print(
        f"{label:<9} {ver['leaves_per_s']:>10,.0f} leaves/s  ({ver['entries']} entries)"
        f"  peak RSS {ver['peak_rss_mb']:.0f} MB; CPU per leaf {ver['cpu_us_per_leaf']:.1f} us"
        f" here + {ver['worker_cpu_us_per_leaf']:.1f} us in a worker"
        f" (at most {1e6 / busier:,.0f} leaves/s on free cores)"
    )
    print(
        f"  baseline sha256 of the same leaves {ver['baseline_leaf_sha256_per_s']:,.0f}/s"
        f" -> ratio {ver['leaves_per_s'] / ver['baseline_leaf_sha256_per_s']:.3f};"
        f" raw secp256k1 recover {ver['baseline_secp256k1_recover_per_s']:,.0f}/s"
    )


def verify_only(n_sites: int, months: int, workdir: str, repeat: int) -> dict[str, Any]:
    """Only the verify phase (``--verify-only``): on the ledger in ``workdir`` (imported
    first if absent), ``repeat`` times with a worker process and in one process."""
    if not (Path(workdir) / "ledger.db").exists():
        print(f"importing {n_sites * months:,} bills into {workdir} first")
        _run(phase_import, n_sites, months, workdir)
    runs: dict[str, list[dict[str, Any]]] = {"worker": [], "one process": []}
    for _ in range(repeat):
        for label, workers in (("worker", "1"), ("one process", "0")):
            ver = _run(phase_verify, workdir, workers)
            runs[label].append(ver)
            _print_verify(ver, "verify" if workers == "1" else "  1 proc")
    best = {k: max(v, key=lambda r: r["leaves_per_s"]) for k, v in runs.items()}
    median = {k: statistics.median(r["leaves_per_s"] for r in v) for k, v in runs.items()}
    print(
        f"verify median {median['worker']:,.0f} leaves/s"
        f" (best {best['worker']['leaves_per_s']:,.0f})"
        f" vs one process {median['one process']:,.0f} leaves/s"
        f" -> {median['worker'] / median['one process']:.2f}x"
    )
    return {"verify": best["worker"], "verify_one_process": best["one process"], "runs": runs}


def phase_proofs(size: int, workdir: str) -> dict[str, Any]:
    """Inclusion proofs at ``size`` leaves: time per proof and size, beside a PK lookup."""
    from tests.ledger_helpers import BLOB, LEDGER_ID, record
    from tests.ledger_helpers import new_ledger as small_ledger

    from carbonledger.core.merkle import leaf_hash, verify_inclusion
    from carbonledger.core.tx import build_tx, utc_now
    from carbonledger.crypto.keys import PrivateKey

    key = PrivateKey.generate()
    path = Path(workdir) / f"proof-{size}.db"
    ledger = small_ledger(path, key, sites=1)
    nonce, per_tx, pending, month = 4, 1000, [], 1
    while ledger.state().size + len(pending) * per_tx < size:
        todo = min(per_tx, size - ledger.state().size - len(pending) * per_tx)
        items = [
            record(
                "s0",
                (month + i) % 1000 + 1,
                account=f"A{(month + i) // 1000}",
                year=1900,
            )
            for i in range(todo)
        ]
        month += todo
        pending.append(
            build_tx(
                key,
                tx_type="record_emissions",
                ledger_id=LEDGER_ID,
                nonce=nonce,
                created=utc_now(),
                items=items,
                blobs=[BLOB],  # the sealed blob the records name travels with them
            )
        )
        nonce += 1
        if len(pending) == 50:
            ledger.submit(pending)
            pending = []
    ledger.submit(pending)
    head = ledger.latest_checkpoint()
    rng = random.Random(7)
    picks = [rng.randrange(head.size) for _ in range(1000)]
    times, sizes = [], []
    for i in picks:
        t = time.perf_counter()
        p = ledger.proof(i, with_tx=False)
        times.append(time.perf_counter() - t)
        sizes.append(len(p.path))
        assert verify_inclusion(
            leaf_hash(p.item),
            i,
            p.tree_size,
            [bytes.fromhex(h) for h in p.path],
            bytes.fromhex(head.root),
        )
    t = time.perf_counter()
    for i in picks[:200]:
        ledger.proof(i, with_tx=True)
    with_tx = (time.perf_counter() - t) / 200
    con = sqlite3.connect(path)
    t = time.perf_counter()
    for i in picks:
        con.execute("SELECT data FROM leaf WHERE idx = ?", (i,)).fetchone()
    lookup = (time.perf_counter() - t) / len(picks)
    times.sort()
    return {
        "leaves": head.size,
        "proof_ms_mean": statistics.fmean(times) * 1e3,
        "proof_ms_p99": times[int(len(times) * 0.99)] * 1e3,
        "path_hashes_max": max(sizes),
        "path_bytes_max": max(sizes) * 32,
        "proof_with_tx_ms_mean": with_tx * 1e3,
        "baseline_pk_lookup_ms": lookup * 1e3,
    }


def _call(fn: Any, args: tuple[Any, ...], out: Any) -> None:
    try:
        out.put(fn(*args))
    except BaseException as exc:
        out.put({"error": f"{type(exc).__name__}: {exc}"})
        raise


def _run(fn: Any, *args: Any) -> dict[str, Any]:
    """Run one phase in a fresh (non-daemonic: it may start workers) process."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_call, args=(fn, args, out))
    proc.start()
    result = out.get()
    proc.join()
    if proc.exitcode or "error" in result:
        raise RuntimeError(f"phase {fn.__name__} failed: {result.get('error', proc.exitcode)}")
    return dict(result)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20,000 bills, proofs to 10^5")
    ap.add_argument("--months", type=int, help="bills per site (1,000 sites); default 100")
    ap.add_argument(
        "--only", choices=("import",), help="run only the single-process import and its baseline"
    )
    ap.add_argument(
        "--verify-only",
        metavar="DIR",
        help="only verify the ledger in DIR (imported there first if absent), --repeat times",
    )
    ap.add_argument("--repeat", type=int, default=3, help="verify runs with --verify-only")
    args = ap.parse_args()
    n_sites = 1000
    months = args.months or (20 if args.quick else 100)
    sizes = [10**4, 10**5] if args.quick else [10**4, 10**5, 10**6]
    if args.verify_only:
        Path(args.verify_only).mkdir(parents=True, exist_ok=True)
        verify_only(n_sites, months, args.verify_only, args.repeat)
        return
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as workdir:
        print(f"bills: {n_sites * months:,} ({n_sites} sites x {months} months), US and EU")
        base = out["sqlite_baseline"] = _run(phase_sqlite_baseline, n_sites, months, workdir)
        imp = out["import"] = _run(phase_import, n_sites, months, workdir)
        print(
            f"import    {imp['bills_per_s']:>10,.0f} bills/s  peak RSS {imp['peak_rss_mb']:.0f} MB"
            f"  {imp['db_bytes_per_bill']:.0f} B/bill on disk;"
            f" CPU {imp['cpu_us_per_bill']:.1f} us/bill"
            f" ({1e6 / imp['cpu_us_per_bill']:,.0f} bills per CPU second)"
        )
        print(
            f"  baseline bare sqlite3 executemany {base['rows_per_s']:,.0f} rows/s"
            f"  -> ratio {imp['bills_per_s'] / base['rows_per_s']:.3f};"
            f" per CPU second {base['rows_per_cpu_s']:,.0f} rows/s"
            f" -> ratio {1e6 / imp['cpu_us_per_bill'] / base['rows_per_cpu_s']:.3f}"
        )
        store = out["store_baseline"] = _run(phase_store_baseline, workdir)
        print(
            f"  baseline the import's {store['rows']:,} leaf rows written again into the"
            f" ledger's schema: {store['indexed_cpu_us_per_row']:.1f} us CPU a row"
            f" ({store['primary_key_only_cpu_us_per_row']:.1f} with the primary key alone)"
        )
        if args.only == "import":
            return
        par = out["import_parallel"] = _run(phase_import_parallel, n_sites, months, workdir)
        print(
            f"import, 2 worker processes {par['bills_per_s']:>10,.0f} bills/s"
            f"  (main process peak RSS {par['peak_rss_mb']:.0f} MB)"
            f"  -> {par['bills_per_s'] / imp['bills_per_s']:.2f}x the single process"
        )
        ver = out["verify"] = _run(phase_verify, workdir)
        _print_verify(ver)
        one = out["verify_one_process"] = _run(phase_verify, workdir, "0")
        _print_verify(one, "  1 proc")
        out["proofs"] = []
        for size in sizes:
            pr = _run(phase_proofs, size, workdir)
            out["proofs"].append(pr)
            print(
                f"proof @ {pr['leaves']:>9,} leaves: mean {pr['proof_ms_mean']:.3f} ms,"
                f" p99 {pr['proof_ms_p99']:.3f} ms, <= {pr['path_hashes_max']} hashes"
                f" (with signed tx {pr['proof_with_tx_ms_mean']:.2f} ms)"
                f" ({pr['path_bytes_max']} B); baseline PK lookup"
                f" {pr['baseline_pk_lookup_ms']:.4f} ms"
                f" -> ratio {pr['proof_ms_mean'] / pr['baseline_pk_lookup_ms']:.1f}"
            )
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"written {results / 'latest.json'} (cores: {os.cpu_count()})")


if __name__ == "__main__":
    main()
