"""search text by name: a filter of one or two characters scans a narrow index, not the rows

A text of one or two characters holds no trigram for 0013's index to look up, so it is
``search_text LIKE '%…%'`` over every row; on SQLite that read every artifact row (kilobytes with
its training metadata, the search text at its end): ~0.4 s at 100,000 artifacts per keystroke
in the app's filter. ``artifact_search_by_name`` holds the search text with what the app's table
filters, sorts and counts by, in name order: the same ``LIKE`` scans ~40 MB of index instead of
~330 MB of rows, and the ids come out in the table's default order with no sort (~50 ms at
100,000 artifacts, where a third of that is handing over the ids).

SQLite only: on PostgreSQL a B-tree entry is limited to a third of a page (~2.7 KB), which a long
search text passes, and the pg_trgm index of 0013 already answers the ``LIKE`` there. Named with
``artifact_search``'s prefix: search SQL the models do not declare.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

#: The order, then 0012's browse columns (``Artifact.__table_args__``), then the text.
COLUMNS = [
    "name",
    "id",
    "kind",
    "base",
    "base_override",
    "line",
    "status",
    "rank_min",
    "rank_max",
    "size",
    "created_at",
    "search_text",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("artifact_search_by_name", "artifact", COLUMNS, unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("artifact_search_by_name", table_name="artifact")
