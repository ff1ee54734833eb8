"""search text trigram index: a text filter reads the rows it finds, not every row

A filter on text (``list --text``, the app's filter as the user types) was
``search_text LIKE '%…%'`` alone: every row read, ~0.2 s at 100,000 artifacts of a kilobyte of
text each, per keystroke. A trigram index answers a substring of three characters or more from
the trigrams it holds:

- SQLite: ``artifact_search``, an FTS5 table with the ``trigram`` tokenizer over
  ``artifact.search_text`` (external content: the text is stored once, in the artifact row;
  ``case_sensitive 1``: the text is stored lowercased and a query is lowercased the same way,
  so no other folding applies). Triggers keep it in step with every write of an artifact row,
  whichever writer makes it (the ORM, plain ``sqlite3``, a scan's batches). The rows already
  there are indexed here. A later migration that rebuilds the artifact table (batch mode) drops
  these triggers with the old table and must create them again.
- PostgreSQL: a ``pg_trgm`` GIN index on ``search_text``, which the same ``LIKE`` uses.

The rows a substring selects are then looked up by id for what the app's table counts and sorts
by; in the rows themselves (kilobytes each) that is a page read per row, 13,000 of them for a
common word at 100,000 artifacts: ``ix_artifact_browse_by_id`` holds 0012's browse columns keyed
by id, so those lookups read a small index instead (~2.5× faster).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from alembic import op
from sqlalchemy.exc import DBAPIError

from loradex.registry.errors import CatalogError

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_SQLITE = (
    "CREATE VIRTUAL TABLE artifact_search USING fts5(search_text, content='artifact', content_rowid='id', "
    "tokenize='trigram case_sensitive 1', columnsize=0)",
    "CREATE TRIGGER artifact_search_insert AFTER INSERT ON artifact BEGIN "
    "INSERT INTO artifact_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER artifact_search_delete AFTER DELETE ON artifact BEGIN "
    "INSERT INTO artifact_search(artifact_search, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER artifact_search_update AFTER UPDATE OF id, search_text ON artifact "
    "WHEN old.id IS NOT new.id OR old.search_text IS NOT new.search_text BEGIN "
    "INSERT INTO artifact_search(artifact_search, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO artifact_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    "INSERT INTO artifact_search(artifact_search) VALUES ('rebuild')",
)
#: Kept in step with ``Artifact.__table_args__`` (models.py): 0012's browse columns, the id first.
BY_ID = ["id", "kind", "base", "base_override", "line", "status", "rank_min", "rank_max", "size", "created_at", "name"]
_POSTGRESQL_INDEX = "CREATE INDEX artifact_search_trgm ON artifact USING gin (search_text gin_trgm_ops)"


def upgrade() -> None:
    op.create_index("ix_artifact_browse_by_id", "artifact", BY_ID, unique=False)
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE:
            op.execute(statement)
        return
    try:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0]
        raise CatalogError(
            f"cannot create the PostgreSQL extension pg_trgm ({reason}); have the database's owner run "
            "CREATE EXTENSION pg_trgm (it comes with Debian's postgresql package, elsewhere with postgresql-contrib), "
            "then open the catalog again"
        ) from exc
    op.execute(_POSTGRESQL_INDEX)


def downgrade() -> None:
    op.drop_index("ix_artifact_browse_by_id", table_name="artifact")
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER artifact_search_{trigger}")
        op.execute("DROP TABLE artifact_search")
        return
    op.drop_index("artifact_search_trgm", table_name="artifact")
