"""The table's rows on a large catalog: read a page at a time as they are drawn, and a row removed
by another process (a CLI ``forget``) dropping out when its page is read."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from loradex.tui.app import make_app
from loradex.tui.app.paged_rows import PAGE, PagedRows

EXAMPLE = Path(__file__).parents[3] / "catalog.db.example"
SIZE = (160, 45)


def _catalog(tmp_path: Path, rows: int) -> Path:
    """The example catalog with its artifacts copied (names and paths suffixed) to at least ``rows``."""
    path = Path(shutil.copy2(EXAMPLE, tmp_path / "catalog.db"))
    with sqlite3.connect(path) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(artifact)") if row[1] != "id"]
        copied = ", ".join(f"{c} || '-' || :n" if c in ("path", "name") else c for c in columns)
        last = db.execute("SELECT MAX(id) FROM artifact").fetchone()[0]
        n = 0
        while db.execute("SELECT COUNT(*) FROM artifact").fetchone()[0] < rows:
            n += 1
            db.execute(
                f"INSERT INTO artifact ({', '.join(columns)}) SELECT {copied} FROM artifact WHERE id <= :last",
                {"n": n, "last": last},
            )
    return path


def test_rows_are_read_a_page_at_a_time_as_they_are_asked_for(tmp_path):
    catalog = make_app(_catalog(tmp_path, 3 * PAGE)).catalog
    ids = catalog.select("").rows.ids
    reads: list[int] = []
    rows = PagedRows(ids, lambda wanted: reads.append(len(wanted)) or catalog.browse(wanted))
    assert len(rows) == len(ids) >= 3 * PAGE and reads == []
    assert [rows[0].id, rows[PAGE + 1].id] == [ids[0], ids[PAGE + 1]]
    assert [rows[1].id, rows[PAGE].id] == [ids[1], ids[PAGE]]  # their pages were read already
    assert reads == [PAGE, PAGE]


async def test_a_row_removed_by_another_process_drops_out_when_its_page_is_read(tmp_path):
    catalog = _catalog(tmp_path, 2 * PAGE)
    app = make_app(catalog)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#table")
        before = len(table.rows)
        gone = table.rows.ids[-3]
        with sqlite3.connect(catalog) as db:
            db.execute("DELETE FROM artifact WHERE id = ?", (gone,))
        await pilot.press("end")
        await pilot.pause()
        assert len(table.rows) == before - 1 and gone not in table.rows.ids
        assert table.current is not None and table.cursor == len(table.rows) - 1
