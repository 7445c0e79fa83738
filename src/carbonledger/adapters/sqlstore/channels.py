"""The channel store port on SQLAlchemy: sealed blobs and wrapped keys (PostgreSQL or SQLite)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from carbonledger.adapters.sqlstore.schema import blob, channel_key
from carbonledger.errors import IntegrityError, NotFound

__all__ = ["SqlChannelStore", "insert_ignore"]


def insert_ignore(engine: Engine, table: object) -> object:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the engine's dialect."""
    make = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    return make(table).on_conflict_do_nothing()  # type: ignore[arg-type]


class SqlChannelStore:
    """Implements :class:`carbonledger.ports.channels.ChannelStore` on a SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def put_keys(self, channel: str, epoch: int, wrapped: Mapping[str, bytes]) -> None:
        # Stored by content: a key whose transaction failed cannot displace the recorded one.
        rows = [
            {
                "channel": channel,
                "epoch": epoch,
                "member": member,
                "digest": hashlib.sha256(data).hexdigest(),
                "wrapped": data,
            }
            for member, data in wrapped.items()
        ]
        if rows:
            with self._engine.begin() as conn:
                conn.execute(insert_ignore(self._engine, channel_key), rows)  # type: ignore[call-overload]

    def wrapped_key(self, channel: str, epoch: int, member: str, digest: str) -> bytes:
        query = select(channel_key.c.wrapped).where(
            channel_key.c.channel == channel,
            channel_key.c.epoch == epoch,
            channel_key.c.member == member,
            channel_key.c.digest == digest,
        )
        with self._engine.connect() as conn:
            found = conn.execute(query).scalar()
        if found is None:
            raise NotFound(f"no key of channel {channel!r} epoch {epoch} is wrapped for {member}")
        return bytes(found)

    def put_blob(self, blob_id: str, channel: str, epoch: int, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != blob_id:
            raise IntegrityError(f"blob {blob_id[:16]}...: id is not the SHA-256 of its data")
        row = {"id": blob_id, "channel": channel, "epoch": epoch, "data": data}
        with self._engine.begin() as conn:
            conn.execute(insert_ignore(self._engine, blob), [row])  # type: ignore[call-overload]

    def put_blobs(self, rows: Sequence[tuple[str, str, int, bytes]]) -> None:
        """Several blobs (id, channel, epoch, data), each checked, in one commit."""
        for blob_id, _, _, data in rows:
            if hashlib.sha256(data).hexdigest() != blob_id:
                raise IntegrityError(f"blob {blob_id[:16]}...: id is not the SHA-256 of its data")
        if not rows:
            return
        values = [{"id": i, "channel": c, "epoch": e, "data": d} for i, c, e, d in rows]
        with self._engine.begin() as conn:
            conn.execute(insert_ignore(self._engine, blob), values)  # type: ignore[call-overload]

    def blob(self, blob_id: str) -> bytes:
        with self._engine.connect() as conn:
            found = conn.execute(select(blob.c.data).where(blob.c.id == blob_id)).scalar()
        if found is None:
            raise NotFound(f"sealed blob {blob_id[:16]}... is not in the channel store")
        return bytes(found)

    def blob_ids(self) -> Iterator[tuple[str, bytes]]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(blob.c.id, blob.c.data).order_by(blob.c.id)).all()
        for blob_id, data in rows:
            yield blob_id, hashlib.sha256(data).digest()
