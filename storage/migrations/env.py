"""Alembic environment: runs on the connection that `storage.migrate` hands it."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import storage.tables  # noqa: F401  (registers the tables on the metadata)

connection = context.config.attributes.get("connection")
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection is not None and connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
