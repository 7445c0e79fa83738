"""A site's or an organisation's items of one kind in ledger order.

The listing reads ``WHERE site = ? AND kind = ? ORDER BY idx``: with the index ending
in ``idx`` a page is read in order from the index, without sorting every match
(the embedded ledger's ``leaf_site_kind`` and ``leaf_org_kind``; on SQLite the rowid
ends every index, on PostgreSQL it is spelled out).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("leaf_site_kind", "leaf", ["site", "kind", "idx"])
    op.create_index("leaf_org_kind", "leaf", ["org", "kind", "idx"])


def downgrade() -> None:
    op.drop_index("leaf_org_kind", "leaf")
    op.drop_index("leaf_site_kind", "leaf")
