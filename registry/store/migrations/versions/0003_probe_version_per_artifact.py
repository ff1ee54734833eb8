"""probe version per artifact

Which probe described each row, so a rescan re-probes what an older loradex got wrong or
could not read (LDM .ckpt files were "unknown" before version 2) without re-hashing. Existing
rows get 0: the first scan after upgrading re-probes them once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("probed_with", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.drop_column("probed_with")
