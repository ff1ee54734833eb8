"""What the operation CLI tests share: running the CLI, reading its JSON and its one-line errors,
and a hash from the catalog (their fixtures, ``files`` and ``catalog``, are in conftest.py)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from loradex.registry.queries import lookup, orm
from loradex.registry.queries.reading import open_reader
from loradex.registry.queries.rows import ArtifactRow
from loradex.registry.store.db import open_catalog
from loradex.registry.store.db import session as open_session
from loradex.tui.cli import app

runner = CliRunner()


def cli(*args, catalog: str | None = None):
    return runner.invoke(app, [*(["--catalog", catalog] if catalog else []), *map(str, args)])


def cli_json(*args, catalog: str | None = None) -> dict:
    result = cli(*args, "--json", catalog=catalog)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def scanned(folder, ref: str, catalog) -> ArtifactRow:
    """Scan ``folder`` into ``catalog`` with the CLI; the row ``ref`` names, as the read path gives it."""
    result = cli("scan", folder, catalog=str(catalog))
    assert result.exit_code == 0, result.output
    with open_reader(catalog) as reader:
        return lookup.resolve(reader, ref)


def one_error_line(result, *words: str, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    if code == 1:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        text = lines[0]
    else:
        text = " ".join(result.stderr.split())  # Click's usage box wraps
    assert all(w in text for w in words), text
    assert "Traceback" not in result.output
    return text


def _sha(url: str, name: str) -> str:
    engine = open_catalog(url)
    try:
        with open_session(engine) as s:
            return orm.resolve(s, name).sha256 or ""
    finally:
        engine.dispose()
