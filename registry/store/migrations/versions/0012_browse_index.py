"""browse index: the columns the app's table filters, sorts and counts by, in one index

At 100,000 artifacts a query that reads the artifact rows themselves reads the whole table (the
training metadata makes a row kilobytes long): ~0.3 s. The app's facet counts (by kind, base and
model line), its filters on those and on status and rank, and its sorts by size, rank, base and
date are answered from this index alone (~20 ms). Nothing else changes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

#: Kept in step with ``Artifact.__table_args__`` (models.py).
COLUMNS = ["kind", "base", "base_override", "line", "status", "rank_min", "rank_max", "size", "created_at", "name"]


def upgrade() -> None:
    op.create_index("ix_artifact_browse", "artifact", COLUMNS, unique=False)


def downgrade() -> None:
    op.drop_index("ix_artifact_browse", table_name="artifact")
