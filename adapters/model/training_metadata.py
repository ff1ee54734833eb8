"""What a trainer's metadata says about use: trigger words and kohya's tag counts."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from loradex.adapters.io import bounded_json

from .artifact import ArtifactInfo


def fill_training_metadata(info: ArtifactInfo) -> None:
    meta = info.metadata
    words = [w.strip() for w in meta.get("modelspec.trigger_phrase", "").split(",") if w.strip()]
    counts = tag_counts(meta)
    info.tag_frequency = counts.most_common()
    info.trigger_words = words + [t for t, _ in counts.most_common(10) if t not in words]


def tag_counts(metadata: Mapping[str, Any]) -> Counter[str]:
    """Tag → count over every dataset folder of kohya's ``ss_tag_frequency``; empty if absent or
    unreadable (a malformed tag table is not worth refusing a file for), parsed within bounds."""
    raw = metadata.get("ss_tag_frequency")
    try:
        folders = bounded_json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return Counter()
    counts: Counter[str] = Counter()
    for tags in folders.values() if isinstance(folders, dict) else ():
        for tag, n in tags.items() if isinstance(tags, dict) else ():
            if isinstance(n, (int, float)) and math.isfinite(n):
                counts[tag.strip()] += int(n)
    return counts
