"""preview adapters and weights

A quick-test image applied every adapter named on the command line, each at its own weight;
a preview row now records them all (with their effective weights) and the base's family, so
an image made with two LoRAs is not taken for a picture of either one alone. Existing rows
keep everything they had; their new columns stay NULL ("not known"), and the next quick-test
of the same image fills them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("preview", schema=None) as batch_op:
        batch_op.add_column(sa.Column("base_family", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("adapters", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("preview", schema=None) as batch_op:
        batch_op.drop_column("adapters")
        batch_op.drop_column("base_family")
