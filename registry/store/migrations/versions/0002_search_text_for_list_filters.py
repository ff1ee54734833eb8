"""search text for list filters

One lowercased column holding name, trigger words and training-metadata text, so a text
filter is one indexed-table scan instead of JSON parsing per row. Existing rows are filled.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _text(name, trigger_words, metadata) -> str:
    # Frozen copy of the rule at this revision: migrations must not follow later code.
    words = json.loads(trigger_words) if isinstance(trigger_words, str) else (trigger_words or [])
    meta = json.loads(metadata) if isinstance(metadata, str) else (metadata or {})
    parts = [name or "", *words, *(str(v) for k, v in sorted(meta.items()) if k != "ss_tag_frequency")]
    return " ".join(parts).lower()


def upgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, name, trigger_words, training_metadata FROM artifact")).fetchall()
    for row in rows:
        conn.execute(
            sa.text("UPDATE artifact SET search_text = :t WHERE id = :i"),
            {"t": _text(row[1], row[2], row[3]), "i": row[0]},
        )


def downgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.drop_column("search_text")
