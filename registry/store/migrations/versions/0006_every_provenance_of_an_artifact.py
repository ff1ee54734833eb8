"""every provenance of an artifact

A file pulled from the Hub that the catalog already held (or pulled again from another repo)
used to have its ``source`` overwritten, losing the first provenance. ``sources`` now lists
every provenance a row was given, in order; ``source`` keeps the first. Existing rows that
came from the Hub start their list with the one provenance they kept.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sources", sa.JSON(), nullable=True))
    artifact = sa.table(
        "artifact", sa.column("id", sa.Integer), sa.column("source", sa.String), sa.column("sources", sa.JSON)
    )
    conn = op.get_bind()
    pulled = conn.execute(sa.select(artifact.c.id, artifact.c.source).where(artifact.c.source != "local")).all()
    for row_id, source in pulled:
        conn.execute(sa.update(artifact).where(artifact.c.id == row_id).values(sources=[source]))


def downgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.drop_column("sources")
