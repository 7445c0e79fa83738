"""Channel store in the embedded ledger's SQLite file (tables ``channel_key`` and ``blob``)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence

from carbonledger.errors import IntegrityError, NotFound

__all__ = ["CHANNEL_SCHEMA", "SqliteChannelStore"]

CHANNEL_SCHEMA = """
CREATE TABLE IF NOT EXISTS channel_key (
    channel TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    member TEXT NOT NULL,
    digest TEXT NOT NULL,
    wrapped BLOB NOT NULL,
    PRIMARY KEY (channel, epoch, member, digest)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blob (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    data BLOB NOT NULL
) WITHOUT ROWID;
"""


class SqliteChannelStore:
    """Implements :class:`carbonledger.ports.channels.ChannelStore` on a SQLite connection."""

    def __init__(self, connection: Callable[[], sqlite3.Connection]) -> None:
        # ``connection()`` gives the calling thread's own connection to the file.
        self._connection = connection
        connection().executescript(CHANNEL_SCHEMA)

    @property
    def _conn(self) -> sqlite3.Connection:
        return self._connection()

    def put_keys(self, channel: str, epoch: int, wrapped: Mapping[str, bytes]) -> None:
        # Stored by content: a wrapped key that the ledger never records (its
        # transaction failed) cannot displace the one it does record.
        with self._conn:
            self._conn.executemany(
                "INSERT OR IGNORE INTO channel_key VALUES (?,?,?,?,?)",
                [
                    (channel, epoch, member, hashlib.sha256(blob).hexdigest(), blob)
                    for member, blob in wrapped.items()
                ],
            )

    def wrapped_key(self, channel: str, epoch: int, member: str, digest: str) -> bytes:
        row = self._conn.execute(
            "SELECT wrapped FROM channel_key WHERE channel = ? AND epoch = ? AND member = ?"
            " AND digest = ?",
            (channel, epoch, member, digest),
        ).fetchone()
        if row is None:
            raise NotFound(f"no key of channel {channel!r} epoch {epoch} is wrapped for {member}")
        return bytes(row[0])

    def put_blob(self, blob_id: str, channel: str, epoch: int, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != blob_id:
            raise IntegrityError(f"blob {blob_id[:16]}...: id is not the SHA-256 of its data")
        with self._conn:
            self._conn.execute(
                "INSERT OR IGNORE INTO blob VALUES (?,?,?,?)", (blob_id, channel, epoch, data)
            )

    def put_blobs(self, rows: Sequence[tuple[str, str, int, bytes]]) -> None:
        """Several blobs (id, channel, epoch, data), each checked, in one commit."""
        for blob_id, _, _, data in rows:
            if hashlib.sha256(data).hexdigest() != blob_id:
                raise IntegrityError(f"blob {blob_id[:16]}...: id is not the SHA-256 of its data")
        with self._conn:
            self._conn.executemany("INSERT OR IGNORE INTO blob VALUES (?,?,?,?)", rows)

    def blob(self, blob_id: str) -> bytes:
        row = self._conn.execute("SELECT data FROM blob WHERE id = ?", (blob_id,)).fetchone()
        if row is None:
            raise NotFound(f"sealed blob {blob_id[:16]}... is not in the channel store")
        return bytes(row[0])

    def blob_ids(self) -> Iterator[tuple[str, bytes]]:
        for blob_id, data in self._conn.execute("SELECT id, data FROM blob ORDER BY id"):
            yield blob_id, hashlib.sha256(data).digest()
