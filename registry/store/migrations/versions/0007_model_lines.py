"""model lines

Pony, Illustrious, NoobAI, SDXL Lightning/Hyper and Flux.1 dev/schnell/Kontext/Krea are lines of
their family that only metadata, sidecars and the training base tell apart. Each artifact gets
its line, the confidence and the evidence, and the sha256 of the checkpoint it was trained on
(kohya's ``ss_new_sd_model_hash``), by which the catalogued checkpoint lends it its line. Existing
rows keep everything; their new columns stay NULL ("not decided yet") until the next scan,
which probes them again (``PROBE_VERSION`` 3) and decides.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("line", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("line_confidence", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("line_evidence", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("trained_on_sha256", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_index(batch_op.f("ix_artifact_line"), ["line"], unique=False)
        batch_op.create_index(batch_op.f("ix_artifact_trained_on_sha256"), ["trained_on_sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifact_trained_on_sha256"))
        batch_op.drop_index(batch_op.f("ix_artifact_line"))
        batch_op.drop_column("trained_on_sha256")
        batch_op.drop_column("line_evidence")
        batch_op.drop_column("line_confidence")
        batch_op.drop_column("line")
