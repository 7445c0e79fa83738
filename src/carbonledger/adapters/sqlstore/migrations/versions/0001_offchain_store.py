"""The off-chain store: mirrored log (tx, leaf, node, checkpoint, meta) and channel data.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_EMISSIONS = sa.text("kind = 'emissions_record'")


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "tx",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("entry_hash", sa.LargeBinary, nullable=False),
        sa.Column("ledger_time", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("sender", sa.Text, nullable=False),
        sa.Column("nonce", sa.BigInteger, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("first_leaf", sa.BigInteger, nullable=False),
        sa.Column("n_leaves", sa.Integer, nullable=False),
    )
    op.create_table(
        "leaf",
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("rid", sa.Text),
        sa.Column("org", sa.Text),
        sa.Column("site", sa.Text),
        sa.Column("account", sa.Text),
        sa.Column("pstart", sa.Text),
        sa.Column("pend", sa.Text),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_index(
        "leaf_period",
        "leaf",
        ["account", "pstart", "pend"],
        unique=True,
        postgresql_where=_EMISSIONS,
        sqlite_where=_EMISSIONS,
    )
    op.create_index("leaf_site", "leaf", ["site", "pstart"])
    op.create_index("leaf_rid", "leaf", ["rid"])
    op.create_index("leaf_kind", "leaf", ["kind", "idx"])
    op.create_table(
        "node",
        sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "checkpoint",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("prev_size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("ledger_time", sa.Text, nullable=False),
        sa.Column("signer", sa.Text, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "channel_key",
        sa.Column("channel", sa.Text, primary_key=True),
        sa.Column("epoch", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("member", sa.Text, primary_key=True),
        sa.Column("digest", sa.Text, primary_key=True),
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "blob",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    for table in ("blob", "channel_key", "checkpoint", "node", "leaf", "tx", "meta"):
        op.drop_table(table)
