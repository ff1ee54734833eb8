"""paths relative to the catalog

Paths under a catalog file's own folder are stored relative to it (``./zoo/a.safetensors``),
so a catalog moved or cloned with its files keeps finding them (:mod:`loradex.registry.store.paths`).
Rows written before keep working only where they are; this rewrites them in the stored form.
Server catalogs have no folder: nothing changes there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import os

import sqlalchemy as sa
from alembic import op

from loradex.registry.store.paths import absolute, stored

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLES = ("artifact", "scan_root", "preview")


def _rewrite(form) -> None:
    bind = op.get_bind()
    database = bind.engine.url.database if bind.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        return
    folder = os.path.dirname(os.path.abspath(database))
    for name in _TABLES:
        table = sa.table(name, sa.column("id", sa.Integer), sa.column("path", sa.String))
        for ident, path in bind.execute(sa.select(table.c.id, table.c.path)).all():
            new = form(path, folder)
            if new != path:
                bind.execute(table.update().where(table.c.id == ident).values(path=new))


def upgrade() -> None:
    _rewrite(stored)


def downgrade() -> None:
    _rewrite(absolute)
