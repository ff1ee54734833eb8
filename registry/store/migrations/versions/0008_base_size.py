"""base size, and 64-bit sizes

SD3 (Medium, Large) and Flux.2 ([dev], [klein] 4B and 9B) come in sizes whose layers differ in
width and depth: an adapter fits only its own. Each artifact records the size its shapes fit.
A file's bytes and parameters become 64-bit: PostgreSQL's 32-bit INTEGER refused a Flux.1
all-in-one checkpoint (12 billion parameters, 24 GB) and any file over 2 GiB.
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
        for column in ("size", "parameters"):
            batch_op.alter_column(column, type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        for column in ("size", "parameters"):
            batch_op.alter_column(column, type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False)
        batch_op.drop_column("base_size")
