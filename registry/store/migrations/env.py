"""Alembic environment: runs on the engine open_catalog() hands over (no ini file)."""

from alembic import context
from sqlmodel import SQLModel

from loradex.registry.store import models  # noqa: F401  (registers the tables)

engine = context.config.attributes["engine"]
sqlite = engine.dialect.name == "sqlite"
with engine.connect() as connection:
    if sqlite:
        # Batch mode rebuilds a table by copy, drop and rename; with foreign keys on, dropping
        # the old artifact table would cascade-delete every module, tag and preview row.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
    if sqlite:
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        if broken:
            raise RuntimeError(f"migration left {len(broken)} rows with dangling foreign keys")
