"""base size

SD3 (Medium, Large) and Flux.2 ([dev], [klein] 4B and 9B) come in sizes whose layers differ in
width and depth: an adapter fits only its own. Each artifact records the size its shapes fit.
Existing rows keep everything; the column stays NULL until the next scan re-probes them
(``PROBE_VERSION`` 3 already asks for that).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("base_size", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.drop_column("base_size")
