"""alembic environment of the off-chain store: runs on the connection it is handed."""

from __future__ import annotations

from alembic import context

from carbonledger.adapters.sqlstore.schema import METADATA

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=METADATA)
with context.begin_transaction():
    context.run_migrations()
