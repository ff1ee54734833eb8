"""What a filter of the catalog is — :class:`Filter`, the one definition ``loradex list``
(:func:`.lookup.listing`), the app's table (:mod:`.table`) and :func:`.orm.find` take — and its
SQL over ``artifact a``: the WHERE conditions and the ORDER BY of a sort key, in the subset
SQLite and PostgreSQL share.

The text filter is a case-insensitive substring of the search text (name, trigger words,
training metadata; stored lowercased). Three characters or more are looked up in the trigram
index (migration 0013), which reads only the rows that hold the substring: on SQLite the FTS5
table ``artifact_search``, the text quoted as one phrase (what a user types is never read as FTS
syntax: ``"``, ``*``, ``-``, ``OR``, ``NEAR``, ``x:`` are characters like any other); on
PostgreSQL the ``LIKE`` itself, which the ``pg_trgm`` index answers (and checks against the row).
A shorter text holds no trigram to look up: ``LIKE`` over every row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from loradex.registry.errors import QueryError

from .sort_keys import CIVITAI_FILTERS, NO_LINE, SORT_FIELDS, SORT_KEYS

__all__ = ["EFFECTIVE_BASE", "EVERYTHING", "Filter", "by_trigrams", "order_by", "tag_name", "where_clauses"]

#: The base a user sees (over ``artifact a``): their override wins over the probed verdict (in
#: Python: :func:`.compat.base_of`). Here, not in :mod:`.compat`, which ``list`` does not need.
EFFECTIVE_BASE = "COALESCE(a.base_override, a.base)"
#: The shortest substring a trigram index holds.
TRIGRAM = 3

_SORT_COLUMNS = dict(
    zip(SORT_FIELDS, ("a.name", "a.size", "a.rank_max", "a.kind", EFFECTIVE_BASE, "a.created_at"), strict=True)
)


@dataclass(frozen=True)
class Filter:
    """Which artifacts, in what order (every field optional; none: all of them, by name).

    Attributes:
        kind: ``lora``, ``lycoris``, ``checkpoint`` …
        base: the base family, as overridden by the user where they did (``base_override``).
        line: the model line (``pony``, ``illustrious`` …), or :data:`.sort_keys.NO_LINE` for
            artifacts with none.
        tag: a tag name (case-insensitive).
        status: ``ok``, ``error`` or ``missing``.
        rank_min: keep artifacts with some rank at or above this (their largest rank).
        rank_max: keep artifacts with some rank at or below this (their smallest rank).
            Artifacts without ranks drop out when either bound is given.
        text: a case-insensitive substring of name, trigger words and training metadata.
        civitai: ``yes``, ``no`` or ``deleted`` (:data:`.sort_keys.CIVITAI_FILTERS`).
        sort: one of :data:`.sort_keys.SORT_KEYS` (``-`` prefix: descending); ties go by name, id.
    """

    kind: str | None = None
    base: str | None = None
    line: str | None = None
    tag: str | None = None
    status: str | None = None
    rank_min: int | None = None
    rank_max: int | None = None
    text: str | None = None
    civitai: str | None = None
    sort: str = "name"


#: The filter that keeps every artifact, by name.
EVERYTHING = Filter()


def where_clauses(params: dict[str, Any], flt: Filter, dialect: str) -> list[str]:
    """The WHERE conditions of ``flt`` (its sort aside), their values added to ``params``;
    ``dialect``: the reader's (:attr:`.reading.Reader.dialect`). ``status`` is the stored one
    (:func:`.lookup.listing` reads a row whose file is gone as missing)."""
    conditions = []
    if flt.kind:
        conditions.append("a.kind = :kind")
        params["kind"] = flt.kind
    if flt.base:
        conditions.append(f"{EFFECTIVE_BASE} = :base")
        params["base"] = flt.base
    if flt.line == NO_LINE:
        conditions.append("a.line IS NULL")
    elif flt.line:
        conditions.append("a.line = :line")
        params["line"] = flt.line
    if flt.status:
        conditions.append("a.status = :status")
        params["status"] = flt.status
    if flt.rank_min is not None:
        conditions.append("a.rank_max >= :rank_min")
        params["rank_min"] = flt.rank_min
    if flt.rank_max is not None:
        conditions.append("a.rank_min <= :rank_max")
        params["rank_max"] = flt.rank_max
    if flt.text:
        conditions.append(_text_condition(flt.text.lower(), params, dialect))
    if flt.tag:
        conditions.append(
            "a.id IN (SELECT x.artifact_id FROM artifact_tag x JOIN tag t ON t.id = x.tag_id WHERE t.name = :tag)"
        )
        params["tag"] = tag_name(flt.tag)
    if flt.civitai:
        conditions.append(_civitai_condition(flt.civitai))
    return conditions


def by_trigrams(flt: Filter, dialect: str) -> bool:
    """Whether ``flt``'s rows are found in SQLite's trigram table (then they are looked up by id)."""
    return dialect == "sqlite" and flt.text is not None and len(flt.text.lower()) >= TRIGRAM


def _text_condition(text: str, params: dict[str, Any], dialect: str) -> str:
    """The condition that the lowercased search text holds ``text`` (lowercased)."""
    if by_trigrams(Filter(text=text), dialect):
        # One FTS5 string: a phrase of the text's trigrams, in order, is the substring; a double
        # quote inside is written twice, and nothing else in a string is syntax.
        params["text"] = '"' + text.replace('"', '""') + '"'
        return "a.id IN (SELECT rowid FROM artifact_search WHERE artifact_search MATCH :text)"
    # The escapes keep % and _ literal.
    params["text"] = "%" + re.sub(r"([/%_])", r"/\1", text) + "%"
    return "a.search_text LIKE :text ESCAPE '/'"


def tag_name(name: str) -> str:
    """A tag as the catalog stores it: blanks collapsed, lower case (tags are case-insensitive, as
    on Civitai: "Anime" and "anime" are one tag)."""
    clean = " ".join(name.split()).lower()
    if not clean:
        raise QueryError("a tag cannot be empty")
    return clean


def _civitai_condition(civitai: str) -> str:
    """The condition of a :data:`.sort_keys.CIVITAI_FILTERS` value (over the indexed ``state``).

    Raises:
        QueryError: another value.
    """
    known = "SELECT c.artifact_id FROM civitai_record c WHERE c.state"
    if civitai == "yes":
        return f"a.id IN ({known} = 'matched')"
    if civitai == "deleted":
        return f"a.id IN ({known} = 'deleted')"
    if civitai == "no":
        return f"a.id NOT IN ({known} IN ('matched', 'deleted'))"
    raise QueryError(f"unknown civitai filter {civitai!r}; one of {', '.join(CIVITAI_FILTERS)}")


def order_by(sort: str) -> str:
    """ORDER BY of a :data:`.sort_keys.SORT_KEYS` key (``-``: descending); ties go by name, then
    id; NULLs last (SQLite and PostgreSQL disagree on where they sort by default).

    Raises:
        QueryError: an unknown key.
    """
    if sort not in SORT_KEYS:
        raise QueryError(f"unknown sort key {sort!r}; use one of {', '.join(SORT_KEYS)}")
    key = sort.lstrip("-")
    direction = "DESC" if sort.startswith("-") else "ASC"
    # Only the rank can be NULL; NULLS LAST or a repeated name elsewhere keeps SQLite from reading
    # the order off an index (the name's: 100,000 ids by name in ~20 ms instead of a sort).
    nulls = " NULLS LAST" if key == "rank" else ""
    ties = "a.id" if key == "name" else "a.name, a.id"
    return f"{_SORT_COLUMNS[key]} {direction}{nulls}, {ties}"
