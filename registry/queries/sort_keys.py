"""The words catalog queries accept, without the database layer: front ends list them as
choices at start-up, before (and without) importing SQLAlchemy."""

from __future__ import annotations

#: Fields a listing sorts by (:func:`.lookup.listing`, :func:`.orm.find`).
SORT_FIELDS: tuple[str, ...] = ("name", "size", "rank", "kind", "base", "created")
#: Accepted ``sort`` values of ``find``; a leading ``-`` sorts descending.
SORT_KEYS: tuple[str, ...] = tuple(k for key in SORT_FIELDS for k in (key, f"-{key}"))
#: The ``line`` filter value that selects the artifacts no evidence gives a model line.
NO_LINE = "none"
#: The ``civitai`` filter values: ``yes`` Civitai knows the file (matched), ``deleted`` it matched
#: once and the page is gone upstream, ``no`` neither (not found there, or never looked up).
CIVITAI_FILTERS: tuple[str, ...] = ("yes", "no", "deleted")
