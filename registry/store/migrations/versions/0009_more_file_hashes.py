"""more file hashes: AutoV3, BLAKE3, CRC-32

The hashes Civitai (and Stability Matrix, InvokeAI) answer to besides sha256 and AutoV2.
AutoV3 is the first 12 hex digits of the tensor hash every safetensors row already has, so it
is filled here; BLAKE3 and CRC-32 need the file's bytes and stay NULL until the next scan, which
reads again every row hashed without them (unchanged or not). Nothing else changes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_COLUMNS = ("autov3", "blake3", "crc32")


def upgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        for column in _COLUMNS:
            batch_op.add_column(sa.Column(column, sqlmodel.sql.sqltypes.AutoString(), nullable=True))
            batch_op.create_index(batch_op.f(f"ix_artifact_{column}"), [column], unique=False)
    # A folder's tensor hash is over its files' list, not Civitai's AutoV3 of anything.
    op.get_bind().execute(
        sa.text(
            "UPDATE artifact SET autov3 = substr(tensor_hash, 1, 12) WHERE tensor_hash IS NOT NULL AND is_dir = :no"
        ),
        {"no": False},
    )


def downgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        for column in reversed(_COLUMNS):
            batch_op.drop_index(batch_op.f(f"ix_artifact_{column}"))
            batch_op.drop_column(column)
