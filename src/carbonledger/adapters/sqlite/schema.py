"""SQLite schema of the embedded ledger, and the columns derived from each item.

Tables:

* ``tx``: one row per signed transaction: body and signature exactly as signed,
  the hash-chain link (``entry_hash``), ledger time and the leaf range.
* ``leaf``: one row per item (Merkle leaf) holding the canonical bytes, plus
  query columns *derived* from the bytes (kind, id, site, account, period).
  ``verify`` re-derives them, so editing a column is detected like editing data.
* ``node``: hashes of perfect Merkle subtrees at level >= ``NODE_MIN_LEVEL``
  (lower levels are recomputed from at most 2**NODE_MIN_LEVEL leaves), so an
  inclusion proof reads O(log n) rows.
* ``checkpoint``: signed tree heads, one per committed batch, each naming the size
  of the one before it, so removing a checkpoint breaks the chain.
"""

from __future__ import annotations

import sqlite3
from typing import Any

__all__ = [
    "NODE_MIN_LEVEL",
    "SCHEMA",
    "SCHEMA_VERSION",
    "VOID_COLUMNS",
    "connect",
    "derived_columns",
]

SCHEMA_VERSION = 1
NODE_MIN_LEVEL = 4

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tx (
    seq INTEGER PRIMARY KEY,
    entry_hash BLOB NOT NULL,
    ledger_time TEXT NOT NULL,
    type TEXT NOT NULL,
    sender TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    body BLOB NOT NULL,
    signature BLOB NOT NULL,
    first_leaf INTEGER NOT NULL,
    n_leaves INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS leaf (
    idx INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    rid TEXT,
    org TEXT,
    site TEXT,
    account TEXT,
    pstart TEXT,
    pend TEXT,
    data BLOB NOT NULL
);
-- A site's or an organisation's items of one kind in ledger order (the index ends in
-- the rowid, idx): a page of them is read without sorting every match or scanning
-- every leaf. (Files made before these kept leaf_site, on (site, pstart).)
CREATE INDEX IF NOT EXISTS leaf_site_kind ON leaf (site, kind) WHERE site IS NOT NULL;
CREATE INDEX IF NOT EXISTS leaf_org_kind ON leaf (org, kind) WHERE org IS NOT NULL;
CREATE INDEX IF NOT EXISTS leaf_rid ON leaf (rid);
CREATE TABLE IF NOT EXISTS node (
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoint (
    size INTEGER PRIMARY KEY,
    prev_size INTEGER NOT NULL,
    root BLOB NOT NULL,
    ledger_time TEXT NOT NULL,
    signer TEXT NOT NULL,
    signature BLOB NOT NULL
);
"""

#: One record per account and period, in the file as in the rules: a record's id is the
#: UUID of its site, account and period, so a unique id among records is a unique
#: period. Keyed on the 36-character id, not on the account (site and a 64-character
#: reference) and both dates: that index cost each imported bill 3-4 us of CPU, this
#: one about 1. A record's periods are found through ``leaf_site_kind`` (see
#: ``SqliteLedger.periods``). Files made before it keep their ``leaf_period`` on
#: (account, pstart, pend), which holds the same rule, and are not given this one.
_RECORD_INDEX = (
    "CREATE UNIQUE INDEX IF NOT EXISTS leaf_record ON leaf (rid) WHERE kind = 'emissions_record'"
)

Columns = tuple[str, str | None, str | None, str | None, str | None, str | None, str | None]

#: The query columns of every leaf of a void entry (a chain's entry that recorded an
#: account's period an earlier entry recorded first: see
#: :func:`carbonledger.core.authority.apply_followed`). Its leaves stay in the tree, as
#: they are in the chain's log, but no query finds them as records (nor the unique
#: index of periods); ``verify`` judges each entry void or not again from the replay.
VOID_COLUMNS: Columns = ("void", None, None, None, None, None, None)


def derived_columns(item: dict[str, Any]) -> Columns:
    """The query columns of ``item``: (kind, id, org, site, account, period start, period end)."""
    kind = str(item.get("kind"))
    if kind == "emissions_record":
        period = item["period"]
        site = item["site"]
        return (
            kind,
            item["id"],
            item["org"],
            site,
            f"{site}/{item['account']}",
            period["start"],
            period["end"],
        )
    if kind == "site":
        return (kind, item.get("id"), item.get("org"), item.get("id"), None, None, None)
    if kind == "organisation":
        return (kind, item.get("id"), item.get("id"), None, None, None, None)
    org, site = item.get("org"), item.get("site")
    return (
        kind,
        item.get("id"),
        org if isinstance(org, str) else None,
        site if isinstance(site, str) else None,
        None,
        None,
        None,
    )


def connect(path: str) -> sqlite3.Connection:
    """Open the ledger file in WAL mode with full durability on commit."""
    # A generous busy timeout: readers and the channel store wait for a commit in
    # progress instead of failing.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    # 16 KiB pages for a new file (an existing file keeps its own): a leaf row holds
    # about 500 bytes and a sealed blob half a megabyte, and larger pages cut the
    # B-tree work of an import by about a fifth. Set before WAL mode creates the file.
    conn.execute("PRAGMA page_size=16384")
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed batch survives a power cut, not just a killed process;
    # batches are large, so the fsync per commit is cheap.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=OFF")
    # 32 MiB page cache: record ids are random UUIDs, so their index is written all over.
    conn.execute("PRAGMA cache_size=-32768")
    conn.executescript(SCHEMA)
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'leaf_period'").fetchone() is None:
        conn.execute(_RECORD_INDEX)
    return conn
