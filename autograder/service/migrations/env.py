"""Alembic's entry point: run by store.migrate on the connection it is given (no alembic.ini)."""

from alembic import context

from autograder.service.store import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")  # SQLite alters tables by copying them
with context.begin_transaction():
    context.run_migrations()
