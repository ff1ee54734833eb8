"""sidecar signature

Each artifact remembers the names and mtimes of the sidecars beside it when they were last read
(``sidecar_seen``), so a scan reads them again when one is added or changed after the file's first
scan, the file itself unchanged. Existing rows get NULL: their sidecars are read once more at the
next scan (importing the formats read since: Lora Manager's, Stability Matrix's).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("artifact") as batch:
        batch.add_column(sa.Column("sidecar_seen", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("artifact") as batch:
        batch.drop_column("sidecar_seen")
