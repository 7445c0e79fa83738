"""``verify`` with a worker process beside the replay (``CARBONLEDGER_VERIFY_WORKERS=1``).

The worker is a fast path for an intact ledger: every tampering the one-process pass
catches must still be caught (the conformance tamper tests, run again here with the
worker), and the report (first bad entry, every finding, counts, notes) must be the
one-process report, for intact and damaged ledgers alike.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

import carbonledger.adapters.ledger_log as ledger_log
from carbonledger.adapters.sqlite.ledger import SqliteLedger
from carbonledger.adapters.sqlite.verify_parallel import WORKERS_ENV
from carbonledger.core.canonical import canonical
from carbonledger.core.tx import signing_digest
from carbonledger.ports.ledger import VerifyReport
from tests.conformance.tamper import KEY
from tests.ledger.test_tamper import FileCopy, original  # noqa: F401 - a fixture
from tests.ledger.test_tamper import TestEmbeddedFileTamper as _EmbeddedFileTamper
from tests.ledger_helpers import BLOB_ID, fill, record, setup, tx


@pytest.fixture(autouse=True)
def with_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WORKERS_ENV, "1")


def _report(path: Path, workers: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(WORKERS_ENV, workers)
    with closing(SqliteLedger(path)) as ledger, _Seen() as seen:
        report = asdict(ledger.verify())
    if workers == "1":
        # The fast path ran; on an intact ledger it answered, else it handed over.
        (said,) = seen.messages
        held = said == "verify: every check held, with a worker process"
        assert held == report["ok"], said
    return report


class _Seen(logging.Handler):
    """What the fast path said about the ledger (it logs why it hands over)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> _Seen:
        log = logging.getLogger("carbonledger.verify")
        self._level = log.level
        log.setLevel(logging.DEBUG)
        log.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        log = logging.getLogger("carbonledger.verify")
        log.removeHandler(self)
        log.setLevel(self._level)


class _FileCopy(FileCopy):
    def tampered(self) -> VerifyReport:
        with _Seen() as seen:
            report = super().tampered()
        if not str(report.error).startswith("refused to open"):
            # The worker ran and the fast path itself found the change (it did not hand
            # over for want of a worker).
            (said,) = seen.messages
            assert said.endswith("checking again in one process"), said
            assert "worker process" not in said, said
        return report


class TestTamperWithWorker(_EmbeddedFileTamper):
    copy_type = _FileCopy


@pytest.fixture
def ledger_file(tmp_path: Path) -> Path:
    """A ledger of 4 setup entries and 6 entries of 25 records (154 leaves, blobs named)."""
    path = tmp_path / "ledger.db"
    with closing(SqliteLedger(path, operator=KEY)) as ledger:
        setup(ledger, KEY, sites=2)
        fill(ledger, KEY, txs=3, per_tx=25)
        fill(ledger, KEY, txs=3, per_tx=25, site="s1")
    return path


def test_an_intact_ledger_gets_the_one_process_report(
    ledger_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_worker = _report(ledger_file, "1", monkeypatch)
    alone = _report(ledger_file, "0", monkeypatch)
    assert with_worker == alone
    # 4 + 6 entries; 1 + 1 + 2 + 1 setup leaves and 150 records; one checkpoint per submit
    # (4 setup submits, 2 fills); the one test blob, named by every record.
    assert (alone["ok"], alone["entries"], alone["leaves"]) == (True, 10, 155)
    assert (alone["checkpoints"], alone["blobs"], alone["unreferenced"]) == (6, 1, 0)
    assert alone["remembered_size"] == 155


@pytest.mark.parametrize("workers", ["0", "1"])
@pytest.mark.parametrize("collecting", [True, False])
def test_verify_leaves_the_garbage_collector_as_it_found_it(
    ledger_file: Path, monkeypatch: pytest.MonkeyPatch, workers: str, collecting: bool
) -> None:
    # verify pauses the cyclic collector while it replays; a host process (a server, a
    # test run) gets it back as it was, whether the ledger holds or not.
    with closing(sqlite3.connect(ledger_file)) as con, con:
        con.execute("UPDATE leaf SET data = data || x'20' WHERE idx = 30")
    was = gc.isenabled()
    try:
        (gc.enable if collecting else gc.disable)()
        report = _report(ledger_file, workers, monkeypatch)
        assert gc.isenabled() is collecting
    finally:
        (gc.enable if was else gc.disable)()
    assert not report["ok"]
    assert report["entry"] == 6


@pytest.mark.parametrize(
    "scope",
    [
        b'"2-market"',  # a record still in the plain shape its packed form is read from
        '"2-locatión"'.encode(),  # non-ASCII: packed the long way
        b'"2-location" ',  # not canonical JSON
    ],
)
def test_two_altered_leaves_are_named_as_without_the_worker(
    ledger_file: Path, monkeypatch: pytest.MonkeyPatch, scope: bytes
) -> None:
    with closing(sqlite3.connect(ledger_file)) as con, con:
        for idx in (30, 120):  # entries 6 and 9 (leaves 5-29 are entry 5, then 25 each)
            (data,) = con.execute("SELECT data FROM leaf WHERE idx = ?", (idx,)).fetchone()
            con.execute(
                "UPDATE leaf SET data = ? WHERE idx = ?",
                (bytes(data).replace(b'"2-location"', scope), idx),
            )
    with_worker = _report(ledger_file, "1", monkeypatch)
    assert with_worker == _report(ledger_file, "0", monkeypatch)
    assert not with_worker["ok"]
    named = [e["entry"] for e in with_worker["errors"] if e["entry"] is not None]
    assert named == [6, 9]
    assert with_worker["entry"] == 6
    assert "items_root" in with_worker["error"]


def test_an_entry_the_rules_refuse_with_every_hash_and_signature_intact_is_named(
    ledger_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator whose software skipped the rules: its hashes, nodes, checkpoint and note
    are all correct, so only the replay of the state machine can catch the entry."""
    with closing(SqliteLedger(ledger_file, operator=KEY)) as ledger:
        nonce = ledger.state().next_nonce(KEY.address)
        unregistered = tx(KEY, "record_emissions", nonce, [record("s9", 1, year=2001)])
        with monkeypatch.context() as m:
            m.setattr(ledger_log, "apply", lambda *args, **kwargs: {})
            ledger.submit([unregistered])
    with_worker = _report(ledger_file, "1", monkeypatch)
    assert with_worker == _report(ledger_file, "0", monkeypatch)
    assert with_worker["entry"] == 11
    assert "site 's9' is not registered" in with_worker["error"]


@pytest.mark.parametrize("change", ["altered", "deleted", "orphan", "altered orphan"])
def test_a_sealed_blob_changed_in_the_file_is_reported_as_without_the_worker(
    ledger_file: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """The worker hashes every stored blob, the replay looks up the ones items name: a
    named blob altered or deleted is named; a blob no item names (left by an import
    killed before its commit) is reported, not failed, even one that does not hash to
    its name (no entry depends on it), as the one-process pass reports it."""
    orphan = b"sealed by an import that never committed"
    orphan_id = hashlib.sha256(orphan).hexdigest()
    with closing(sqlite3.connect(ledger_file)) as con, con:
        if change == "altered":
            (data,) = con.execute("SELECT data FROM blob WHERE id = ?", (BLOB_ID,)).fetchone()
            altered = bytes([data[0] ^ 1]) + bytes(data[1:])
            con.execute("UPDATE blob SET data = ? WHERE id = ?", (altered, BLOB_ID))
        elif change == "deleted":
            con.execute("DELETE FROM blob WHERE id = ?", (BLOB_ID,))
        else:
            data = orphan if change == "orphan" else orphan + b"!"
            con.execute("INSERT INTO blob VALUES (?, 'acme', 0, ?)", (orphan_id, data))
    with_worker = _report(ledger_file, "1", monkeypatch)
    assert with_worker == _report(ledger_file, "0", monkeypatch)
    if "orphan" in change:
        assert with_worker["ok"]
        assert with_worker["unreferenced_blobs"] == [orphan_id]
    else:
        assert not with_worker["ok"]
        assert with_worker["entry"] == 5  # the first record entry (after 4 setup entries)
        word = "was altered" if change == "altered" else "is missing"
        assert f"blob {BLOB_ID} {word}" in with_worker["error"]


@pytest.mark.parametrize("odd", [False, True])
def test_a_typed_entry_signed_over_other_records_packed_is_named(
    ledger_file: Path, monkeypatch: pytest.MonkeyPatch, odd: bool
) -> None:
    """The sender signs a typed body whose packed hash (all a contract checks) is of other
    records than the entry's items, and an operator's software skipping the check stores
    it: every hash, node and checkpoint of the file holds, and only packing each stored
    record again finds it. A record with a non-ASCII schema is packed the long way
    (decoded), a plain one straight from its bytes: both are checked."""
    items = [record("s0", 200, year=2001), record("s1", 200, year=2001)]
    if odd:
        items[1]["trace"]["schema"] = "tést"
    other = [json.loads(canonical(item)) for item in items]
    other[1]["detail"]["commitment"] = "00" * 32  # what the contract would hold
    with closing(SqliteLedger(ledger_file, operator=KEY)) as ledger:
        nonce = ledger.state().next_nonce(KEY.address)
        honest, forged_packed = (
            tx(KEY, "record_emissions", nonce, items),
            tx(KEY, "record_emissions", nonce, other),
        )
        body = {**honest.body, "packed": forged_packed.body["packed"]}
        body_bytes = canonical(body)
        signature = KEY.sign_digest(signing_digest(body_bytes, body))
        ledger.submit([replace(honest, body=body, body_bytes=body_bytes, signature=signature)])
    with_worker = _report(ledger_file, "1", monkeypatch)
    assert with_worker == _report(ledger_file, "0", monkeypatch)
    assert not with_worker["ok"]
    assert [e["entry"] for e in with_worker["errors"]] == [11]
    assert "do not match its packed items hash" in with_worker["error"]
    # The file as the operator left it: the stored leaf is the record signed in the JSON.
    with closing(sqlite3.connect(ledger_file)) as con:
        (data,) = con.execute("SELECT data FROM leaf WHERE seq = 11 ORDER BY idx DESC").fetchone()
    assert bytes(data) == canonical(items[1])


_WHO_VERIFIES = """
import logging, os, sys, threading
from carbonledger.adapters.sqlite.ledger import SqliteLedger

# The machine's load is the environment, not the thing under test: an idle machine
# with two cores, then a busy one.
os.cpu_count = lambda: 2

said = []
handler = logging.Handler(logging.DEBUG)
handler.emit = lambda record: said.append(record.getMessage())
log = logging.getLogger("carbonledger.verify")
log.setLevel(logging.DEBUG)
log.addHandler(handler)
for path in sys.argv[1:]:
    os.getloadavg = lambda: (0.3, 0.3, 0.3)
    ledger = SqliteLedger(path)
    ok = ledger.verify().ok
    print(path, "main thread", ok, said.pop() if said else "one process")
    done = []
    thread = threading.Thread(target=lambda: done.append(ledger.verify().ok))
    thread.start()
    thread.join()
    print(path, "other thread", done[0], said.pop() if said else "one process")
    os.getloadavg = lambda: (1.6, 1.2, 1.0)
    ok = ledger.verify().ok
    print(path, "busy machine", ok, said.pop() if said else "one process")
"""


def test_by_default_a_worker_helps_from_5000_leaves_from_the_main_thread_on_a_free_core(
    ledger_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh process (so no other test's threads): the default, as the CLI runs it."""
    large = tmp_path / "large.db"
    with closing(SqliteLedger(large, operator=KEY)) as ledger:
        setup(ledger, KEY, sites=5)
        for site in range(5):  # 5 + 5 x 1,000 = 5,005 leaves
            fill(ledger, KEY, txs=1, per_tx=1000, site=f"s{site}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop(WORKERS_ENV)
    out = subprocess.run(
        [sys.executable, "-c", _WHO_VERIFIES, str(large), str(ledger_file)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout.splitlines()
    held = "verify: every check held, with a worker process"
    assert out == [
        f"{large} main thread True {held}",
        # Another thread verifies in one process: forking beside it is not safe.
        f"{large} other thread True one process",
        # No core free: a worker would only add its share of the work.
        f"{large} busy machine True one process",
        f"{ledger_file} main thread True one process",  # 155 leaves: not worth a process
        f"{ledger_file} other thread True one process",
        f"{ledger_file} busy machine True one process",
    ]


def _misshapen(item: dict[str, Any], how: str) -> None:
    """One thing about a signed record that a writer's software got wrong."""
    if how == "activity":
        item["activity"] = "electricity!"
    elif how == "scope":
        item["trace"]["scope"] = "4"
    elif how == "id":
        item["id"] = "00000000-0000-5000-8000-000000000000"
    elif how == "date":
        item["period"]["end"] = "1990-04-31"  # April has 30 days
    elif how == "order":
        item["period"]["start"], item["period"]["end"] = item["period"]["end"], "1989-12-01"
    elif how == "epoch":
        item["detail"]["epoch"] = 1


@pytest.mark.parametrize(
    ("how", "said"),
    [
        ("activity", "activity id 'electricity!' is not valid"),
        ("scope", "scope '4' is not a scope"),
        ("id", "id must be the record id of its site, account and period"),
        ("date", "period end '1990-04-31' is not a date"),
        ("order", "is before start"),
        ("epoch", "sealed under epoch 1, the channel is at epoch 0"),
    ],
)
def test_a_signed_record_the_rule_refuses_is_named_by_the_fast_path_too(
    ledger_file: Path, monkeypatch: pytest.MonkeyPatch, how: str, said: str
) -> None:
    """A record signed in the compact typed form (the worker checks on that form what the
    record rule checks that does not depend on the state; the replay then checks the
    rest) but refused by the rule, stored by an operator's software that skipped the
    rules: its hashes, nodes, checkpoint and note all hold. The fast path finds it
    itself and the one-process pass names the entry as it always has."""
    item = record("s0", 3, year=1990)  # a period no entry recorded
    _misshapen(item, how)
    with closing(SqliteLedger(ledger_file, operator=KEY)) as ledger:
        nonce = ledger.state().next_nonce(KEY.address)
        signed = tx(KEY, "record_emissions", nonce, [record("s1", 3, year=1990), item])
        assert signed.body["v"] == 2  # typed: its records packed compactly
        with monkeypatch.context() as m:
            m.setattr(ledger_log, "apply", lambda *args, **kwargs: {})
            ledger.submit([signed])
    monkeypatch.setenv(WORKERS_ENV, "1")
    with closing(SqliteLedger(ledger_file)) as ledger, _Seen() as seen:
        with_worker = asdict(ledger.verify())
    (handed_over,) = seen.messages
    assert handed_over.endswith("checking again in one process"), handed_over
    assert "worker process" not in handed_over, handed_over
    assert with_worker == _report(ledger_file, "0", monkeypatch)
    assert not with_worker["ok"]
    assert [e["entry"] for e in with_worker["errors"]] == [11]
    assert said in with_worker["error"]
