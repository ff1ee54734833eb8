"""civitai

What Civitai says about a catalogued file, asked by its hash (``loradex civitai sync``): one
``civitai_record`` per artifact (model and version, base model, trained words, description,
license flags, tags, creator, files, the version JSON as answered), kept when the page goes away
upstream. Example images become previews with how they were made (sampler, steps, CFG, negative
prompt, resources), where they came from and their NSFW level; a preview's seed becomes 64-bit
(Civitai's seeds pass 2**31). Existing rows keep everything; the new preview columns stay NULL.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "civitai_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("site", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("matched_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("model_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("model_type", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("version_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("air", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("base_model", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("trained_words", sa.JSON(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("nsfw_level", sa.Integer(), nullable=True),
        sa.Column("license", sa.JSON(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("creator", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("published_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("files", sa.JSON(), nullable=True),
        sa.Column("model_versions", sa.JSON(), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=True),
        sa.Column("first_matched_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("deleted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_checked", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["artifact_id"], ["artifact.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("artifact_id"),
    )
    with op.batch_alter_table("civitai_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_civitai_record_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_civitai_record_model_id"), ["model_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_civitai_record_version_id"), ["version_id"], unique=False)
    with op.batch_alter_table("preview", schema=None) as batch_op:
        batch_op.alter_column("seed", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=True)
        batch_op.add_column(sa.Column("sampler", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("steps", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cfg", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("negative_prompt", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("resources", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("url", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("nsfw_level", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("preview", schema=None) as batch_op:
        for column in ("nsfw_level", "url", "resources", "negative_prompt", "cfg", "steps", "sampler"):
            batch_op.drop_column(column)
        batch_op.alter_column("seed", type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=True)
    op.drop_table("civitai_record")
