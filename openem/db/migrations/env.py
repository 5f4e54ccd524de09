"""Alembic environment: batch mode on SQLite, PostGIS-aware on PostgreSQL."""

from __future__ import annotations

from alembic import context

from openem.db.engine import is_sqlite, make_engine
from openem.db.registry import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or ""


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=is_sqlite(url),
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
