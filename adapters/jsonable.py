"""One JSON encoder for every report, row and view: what ``--json`` prints, and what scripts get.

A dataclass becomes an object of its fields (recursively), plus the read-only properties its
class names in ``json_computed``; a pydantic model (a recipe) its ``model_dump(mode="json")``;
paths, enum members and other scalars their text; tuples and sets lists. A class whose JSON is not
its fields (an embedded recipe's layout) says so in one ``__json__`` method, which wins.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

__all__ = ["jsonable"]


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON values (dict, list, str, int, float, bool, None)."""
    if value is None or isinstance(value, (bool, int, float, str)) and not isinstance(value, enum.Enum):
        return value
    if hasattr(value, "__json__"):
        return jsonable(value.__json__())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        data.update({name: jsonable(getattr(value, name)) for name in getattr(value, "json_computed", ())})
        return data
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(item) for item in value]
    if isinstance(value, (datetime, date, PurePath)):
        return str(value)
    return str(value)
