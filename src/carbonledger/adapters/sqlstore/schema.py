"""The off-chain store's tables (SQLAlchemy Core), the same layout as the embedded file.

``tx``, ``leaf``, ``node``, ``checkpoint`` and ``meta`` hold the mirrored log (see
:mod:`carbonledger.adapters.sqlite.schema` for what each column means);
``channel_key`` and ``blob`` hold sealed channel data and wrapped keys. The
schema is created and upgraded only by the alembic scripts in ``migrations/``;
these objects describe it for queries.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    text,
)

__all__ = ["METADATA", "blob", "channel_key", "checkpoint", "leaf", "meta", "node", "tx"]

METADATA = MetaData()

meta = Table(
    "meta",
    METADATA,
    Column("key", Text, primary_key=True),
    Column("value", LargeBinary, nullable=False),
)
tx = Table(
    "tx",
    METADATA,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("entry_hash", LargeBinary, nullable=False),
    Column("ledger_time", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("sender", Text, nullable=False),
    Column("nonce", BigInteger, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("first_leaf", BigInteger, nullable=False),
    Column("n_leaves", Integer, nullable=False),
)
leaf = Table(
    "leaf",
    METADATA,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("rid", Text),
    Column("org", Text),
    Column("site", Text),
    Column("account", Text),
    Column("pstart", Text),
    Column("pend", Text),
    Column("data", LargeBinary, nullable=False),
)
_EMISSIONS = text("kind = 'emissions_record'")
Index(
    "leaf_period",
    leaf.c.account,
    leaf.c.pstart,
    leaf.c.pend,
    unique=True,
    postgresql_where=_EMISSIONS,
    sqlite_where=_EMISSIONS,
)
Index("leaf_site", leaf.c.site, leaf.c.pstart)
Index("leaf_rid", leaf.c.rid)
Index("leaf_kind", leaf.c.kind, leaf.c.idx)
Index("leaf_site_kind", leaf.c.site, leaf.c.kind, leaf.c.idx)  # migration 0002
Index("leaf_org_kind", leaf.c.org, leaf.c.kind, leaf.c.idx)
node = Table(
    "node",
    METADATA,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)
checkpoint = Table(
    "checkpoint",
    METADATA,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("prev_size", BigInteger, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("ledger_time", Text, nullable=False),
    Column("signer", Text, nullable=False),
    Column("signature", LargeBinary, nullable=False),
)
channel_key = Table(
    "channel_key",
    METADATA,
    Column("channel", Text, primary_key=True),
    Column("epoch", Integer, primary_key=True, autoincrement=False),
    Column("member", Text, primary_key=True),
    Column("digest", Text, primary_key=True),
    Column("wrapped", LargeBinary, nullable=False),
)
blob = Table(
    "blob",
    METADATA,
    Column("id", Text, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)
