"""What the Textual app's table shows: a filter in the ``list`` query language, and light rows.

The filter text is what a user types: words such as ``kind:lora base:sdxl line:pony tag:anime
rank>=16 status:ok civitai:yes sort:-size``, and the rest is the ``--text`` substring — plain text with no such word
is passed as it is, so it selects exactly the rows ``loradex list --text TEXT`` does (the same
WHERE conditions, :func:`.filters.where_clauses`). A front end holds the ids a filter selects
(:func:`matching_ids`) and reads the rows of the few on screen (:func:`browse`): light rows of
the columns the table shows, so that neither a keystroke nor the memory grows with the catalog;
the facet counts (:func:`facets`) are a query of their own, which it may show a moment later.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from loradex.adapters.model.artifact import FAMILIES, KINDS, family_of
from loradex.adapters.model.model_lines import Line, line_of
from loradex.adapters.vocabulary import Status
from loradex.registry.errors import QueryError
from loradex.registry.store.paths import absolute, status_on_disk

from .filters import EFFECTIVE_BASE, Filter, by_trigrams, order_by, where_clauses
from .reading import Reader, as_reader, in_list
from .sort_keys import CIVITAI_FILTERS, NO_LINE, SORT_KEYS

if TYPE_CHECKING:
    from sqlmodel import Session

__all__ = [
    "BrowseRow",
    "browse",
    "facets",
    "line_filter",
    "matching_ids",
    "named",
    "parse_filter",
    "total",
]

#: A word: blanks only inside double quotes (``tag:"dark fantasy"``); a quote still open while the
#: user types runs to the end.
_WORD = re.compile(r'(?:[^\s"]+|"[^"]*"?)+')
_TOKEN = re.compile(r"^(kind|base|line|tag|status|civitai|sort):(.+)$|^rank(>=|<=|>|<|:|=)(.*)$", re.I | re.S)
STATUSES: tuple[Status, ...] = tuple(Status)


def parse_filter(text: str, **fixed: str | None) -> Filter:
    """The :class:`Filter` of what a user typed (``fixed``: facet choices, which typed words override).

    A value with blanks is quoted: ``tag:"dark fantasy"``; ``rank`` takes ``>=``, ``<=``, ``>``,
    ``<`` and ``=`` (or ``:``) with a whole number.

    Raises:
        QueryError: an unknown kind, base, line, status, civitai value or sort key (one line naming the valid
            ones), or a rank that is not a whole number.
    """
    words = _WORD.findall(text)
    values: dict = {k: v for k, v in fixed.items() if v}
    rest = []
    for word in words:
        m = _TOKEN.match(word)
        if not m:
            rest.append(word.replace('"', ""))
        elif m[1]:
            values[m[1].lower()] = m[2].replace('"', "")
        else:
            values.update(_rank_bounds(m[3], m[4], word))
    if len(rest) == len(words):  # no filter word: the text as typed, as `list --text` takes it
        values["text"] = text or None
    else:
        values["text"] = " ".join(rest) or None
    if values.get("kind") and values["kind"] not in KINDS:
        raise QueryError(f"unknown kind {values['kind']!r}; one of {', '.join(KINDS)}")
    if values.get("base"):
        family = family_of(values["base"])
        if family is None:
            raise QueryError(f"unknown base {values['base']!r}; one of {', '.join(FAMILIES)}")
        values["base"] = family
    if values.get("line"):
        values["line"] = line_filter(values["line"])
    if values.get("status") and values["status"] not in STATUSES:
        raise QueryError(f"unknown status {values['status']!r}; one of {', '.join(STATUSES)}")
    if values.get("civitai"):
        values["civitai"] = values["civitai"].lower()
        if values["civitai"] not in CIVITAI_FILTERS:
            raise QueryError(f"unknown civitai filter {values['civitai']!r}; one of {', '.join(CIVITAI_FILTERS)}")
    if values.get("sort", "name") not in SORT_KEYS:
        raise QueryError(f"unknown sort key {values['sort']!r}; one of {', '.join(SORT_KEYS)}")
    return Filter(**values)


def line_filter(spelling: str) -> str:
    """The ``line`` filter value a user means: a line in any of its spellings (``pony``,
    ``SDXL Lightning``, ``flux1-kontext``), or ``none`` for artifacts without one.

    Raises:
        QueryError: no line is spelled so (one line naming the valid ones).
    """
    if spelling.strip().lower() == NO_LINE:
        return NO_LINE
    line = line_of(spelling)
    if line is None:
        raise QueryError(f"unknown line {spelling!r}; one of {', '.join([*Line, NO_LINE])}")
    return line.value


def _rank_bounds(op: str, value: str, word: str) -> dict[str, int]:
    """``rank_min`` / ``rank_max`` of ``rank>=16`` and its kin."""
    if not value.isdigit():
        raise QueryError(f"{word}: rank takes a whole number, e.g. rank>=16")
    n = int(value)
    bounds = {">=": {"rank_min": n}, ">": {"rank_min": n + 1}, "<=": {"rank_max": n}, "<": {"rank_max": n - 1}}
    return bounds.get(op, {"rank_min": n, "rank_max": n})


@dataclass(frozen=True)
class BrowseRow:
    """One line of the table."""

    id: int
    name: str
    kind: str
    base: str
    line: str | None
    rank_min: int | None
    rank_max: int | None
    size: int
    status: str
    weight: float | None
    format: str
    path: str
    tags: tuple[str, ...] = field(default_factory=tuple)
    previews: int = 0

    @property
    def ranks(self) -> str:
        if self.rank_min is None:
            return ""
        return str(self.rank_min) if self.rank_min == self.rank_max else f"{self.rank_min}–{self.rank_max}"


def _where(reader: Reader, flt: Filter, params: dict[str, Any]) -> str:
    """`` WHERE …`` of ``flt``, or nothing."""
    conditions = where_clauses(params, flt, reader.dialect)
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def _artifacts(reader: Reader, flt: Filter) -> str:
    """The table to read ``flt``'s ids, facet columns and sort keys from. SQLite's planner, which
    cannot know how long a row is (kilobytes), would read the rows; on a text filter these indexes
    hold what the table needs: the rows a substring finds in the trigram table (0013) are looked up
    in the browse columns keyed by id, and a text of one or two characters (no trigram) is matched
    in the search text held by name with those columns (0015)."""
    if reader.dialect != "sqlite" or not flt.text:
        return "artifact a"
    if by_trigrams(flt, reader.dialect):
        return "artifact a INDEXED BY ix_artifact_browse_by_id"
    return "artifact a INDEXED BY artifact_search_by_name"


def _but_facets(flt: Filter) -> Filter:
    """``flt`` without the facet choices (the facets count under every other condition)."""
    return replace(flt, kind=None, base=None, line=None)


def matching_ids(source: Reader | Session, flt: Filter) -> list[int]:
    """The ids of the artifacts ``flt`` selects, in its sort order (a front end holds these and
    reads the rows of the few on screen with :func:`browse`): read off an index, ~20–50 ms on
    100,000 artifacts, a text filter included."""
    reader = as_reader(source)
    params: dict[str, Any] = {}
    sql = f"SELECT a.id FROM {_artifacts(reader, flt)}{_where(reader, flt, params)} ORDER BY {order_by(flt.sort)}"
    return [artifact_id for (artifact_id,) in reader.rows(sql, params)]


def browse(source: Reader | Session, ids: Sequence[int]) -> list[BrowseRow]:
    """The rows of ``ids`` (a window of :func:`matching_ids`), in that order; an id no longer in
    the catalog is left out; a file gone since the last scan reads as missing, as in ``list``.
    At most :data:`.lookup.CHUNK` ids: one statement's parameters."""
    reader = as_reader(source)
    params: dict[str, Any] = {}
    chosen = in_list("id", ids, params)
    found = {
        values[0]: values
        for values in reader.rows(
            f"SELECT a.id, a.name, a.kind, {EFFECTIVE_BASE}, a.line, a.rank_min, a.rank_max, a.size, a.status, "
            f"a.preferred_weight, a.format, a.path FROM artifact a WHERE a.id IN {chosen}",
            params,
        )
    }
    tags: dict[int, list[str]] = {}
    for artifact_id, name in reader.rows(
        "SELECT x.artifact_id, t.name FROM artifact_tag x JOIN tag t ON t.id = x.tag_id "
        f"WHERE x.artifact_id IN {chosen} ORDER BY t.name",
        params,
    ):
        tags.setdefault(artifact_id, []).append(name)
    previews = dict(
        reader.rows(
            f"SELECT artifact_id, COUNT(*) FROM preview WHERE artifact_id IN {chosen} GROUP BY artifact_id", params
        )
    )
    return [
        BrowseRow(
            id_,
            name,
            kind,
            base,
            line,
            rank_min,
            rank_max,
            size,
            status_on_disk(status, absolute(path, reader.folder)),
            weight,
            fmt,
            absolute(path, reader.folder),
            tags=tuple(tags.get(id_, ())),
            previews=previews.get(id_, 0),
        )
        for id_, name, kind, base, line, rank_min, rank_max, size, status, weight, fmt, path in (
            found[i] for i in ids if i in found
        )
    ]


def named(source: Reader | Session, flt: Filter, name: str) -> set[int]:
    """The ids, among those ``flt`` selects, of the artifacts named ``name`` in any case (compared
    here: SQL's ``lower`` folds ASCII only)."""
    reader = as_reader(source)
    params: dict[str, Any] = {}
    wanted = name.lower()
    rows = reader.rows(f"SELECT a.id, a.name FROM artifact a{_where(reader, flt, params)}", params)
    return {artifact_id for artifact_id, found in rows if found.lower() == wanted}


#: The facets' raw columns, in the order of the browse index (migration 0012), which holds them.
_FACET_COLUMNS = "a.kind, a.base, a.base_override, a.line"
_FACETS = ("kind", "base", "line")
#: (kind, effective base, line or ``none``): what the three facets count by.
Group = tuple[str, str, str]


def _group(kind: str, base: str, override: str | None, line: str | None) -> Group:
    """As :data:`.filters.EFFECTIVE_BASE` and the ``line`` filter read the raw columns."""
    return kind, base if override is None else override, NO_LINE if line is None else line


def _facet_counts(groups: Counter[Group], flt: Filter) -> dict[str, Counter]:
    """Each facet's counts from the artifacts counted by group: a facet sums the groups its two
    siblings' choices keep (its own choice left out, as faceted search counts)."""
    chosen = (flt.kind, flt.base, flt.line)
    counts: dict[str, Counter] = {facet: Counter() for facet in _FACETS}
    for group, n in groups.items():
        for i, facet in enumerate(_FACETS):
            if all(not chosen[j] or chosen[j] == group[j] for j in range(len(_FACETS)) if j != i):
                counts[facet][group[i]] += n
    return counts


def facets(source: Reader | Session, flt: Filter | None = None) -> dict[str, Counter]:
    """How many artifacts of each kind, each (effective) base and each model line (``none`` for
    no line) ``flt`` selects (all of them without one). Each facet counts under every condition
    but its own, as faceted search does: with ``kind:lora`` the kind facet still says how many
    checkpoints there are to switch to.

    One query: the artifacts the other conditions select, counted by the raw columns (read off an
    index, not off the rows: ~20 ms on 100,000 artifacts, up to ~80 ms for a one-character text
    that most of them hold; a few hundred groups at most).
    """
    flt = flt or Filter()
    reader = as_reader(source)
    params: dict[str, Any] = {}
    others = _but_facets(flt)
    where = _where(reader, others, params)
    sql = f"SELECT {_FACET_COLUMNS}, COUNT(*) FROM {_artifacts(reader, others)}{where} GROUP BY {_FACET_COLUMNS}"
    groups: Counter[Group] = Counter()
    for kind, base, override, line, n in reader.rows(sql, params):
        groups[_group(kind, base, override, line)] += n
    return _facet_counts(groups, flt)


def total(source: Reader | Session) -> int:
    """How many artifacts the catalog holds (the table's "12 of 40 artifacts")."""
    return int(as_reader(source).value("SELECT COUNT(*) FROM artifact"))
