"""Alembic, shared by every service: one env.py body and the helpers the CLI and tests use.

Each service keeps its own `migrations/` folder (its history); its env.py is two lines that
call `run_env(Base.metadata)`.
"""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
import sqlalchemy as sa

from servicekit.db import is_sqlite, make_engine


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(migrations_dir, database_url), revision)


def revision(migrations_dir: Path, database_url: str, message: str) -> None:
    """Autogenerate a new revision against an up-to-date database (development only)."""
    command.revision(alembic_config(migrations_dir, database_url), message=message, autogenerate=True)


def differences(database_url: str, metadata: sa.MetaData) -> list:
    """What separates a migrated database from the models (empty when they agree)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
            return compare_metadata(ctx, metadata)
    finally:
        engine.dispose()


def run_env(metadata: sa.MetaData) -> None:
    """The body of every service's migrations/env.py (online mode only)."""
    from alembic import context

    url = context.config.get_main_option("sqlalchemy.url")
    engine = make_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=is_sqlite(url),  # SQLite needs table copies for ALTERs
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
