"""preview size: the size a Civitai example image was generated at

``try --like`` renders an example's parameters again; its size is one of them (a portrait
example rendered square is another picture). Two columns on ``preview``; Civitai's previews
get theirs from the version JSON their record keeps (``civitai_record.raw``: the image of the
same URL, its ``meta.Size``, else its width and height unless the meta says it was upscaled
after). Every other preview keeps NULL: a quick-test PNG records its own size.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

import json
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_SIZE = re.compile(r"(\d+)x(\d+)")
_MAX_SIDE = 16384


def _size(image: dict[str, Any]) -> tuple[int, int] | None:
    """As ``civitai_records.generation_size`` decided it when this revision was written (frozen
    here: a migration must not change with the code after it)."""
    meta: dict[str, Any] = image["meta"] if isinstance(image.get("meta"), dict) else {}
    size: tuple[Any, Any] | None = None
    if isinstance(meta.get("Size"), str):
        found = _SIZE.fullmatch(meta["Size"].strip())
        size = (int(found[1]), int(found[2])) if found else None
    elif not any(key.startswith("Hires") for key in meta):
        size = (image.get("width"), image.get("height"))
    if size and all(isinstance(s, int) and not isinstance(s, bool) and 0 < s <= _MAX_SIDE for s in size):
        return size
    return None


def upgrade() -> None:
    with op.batch_alter_table("preview", schema=None) as batch_op:
        batch_op.add_column(sa.Column("width", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("height", sa.Integer(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT p.id, p.url, r.raw FROM preview p JOIN civitai_record r ON r.artifact_id = p.artifact_id "
            "WHERE p.source = 'civitai' AND p.url IS NOT NULL AND r.raw IS NOT NULL"
        )
    ).all()
    for preview_id, url, raw in rows:
        version = json.loads(raw) if isinstance(raw, str) else raw
        images = version.get("images") if isinstance(version, dict) else None
        image = next((i for i in images or [] if isinstance(i, dict) and i.get("url") == url), None)
        size = _size(image) if image else None
        if size:
            bind.execute(
                sa.text("UPDATE preview SET width = :w, height = :h WHERE id = :id"),
                {"w": size[0], "h": size[1], "id": preview_id},
            )


def downgrade() -> None:
    with op.batch_alter_table("preview", schema=None) as batch_op:
        batch_op.drop_column("height")
        batch_op.drop_column("width")
