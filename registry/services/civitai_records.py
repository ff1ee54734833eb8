"""What Civitai's JSON records in the catalog: a model version (and its model's page) as a
:class:`CivitaiRecord`, an example image's generation parameters as a :class:`Preview`'s, and
the description as plain text.

Everything is read defensively: a field of an unexpected type is left out, never trusted.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

from loradex.registry.store.models import CivitaiRecord, Preview

from .records import storable

__all__ = [
    "LICENSE_FLAGS",
    "MAX_DESCRIPTION",
    "NSFW_LEVELS",
    "apply_model",
    "apply_version",
    "example_images",
    "html_text",
    "image_preview",
    "version_hashes",
]

#: Characters of a description kept (some pages paste whole guides; the catalog is not an archive).
MAX_DESCRIPTION = 20_000
#: Civitai's NSFW levels (an image has one; a version's is the bitwise or of its images').
NSFW_LEVELS = {"pg": 1, "pg13": 2, "r": 4, "x": 8, "xxx": 16}
#: The license flags of a model's page (Lora Manager keeps them in its version JSON's ``model``).
LICENSE_FLAGS = ("allowNoCredit", "allowCommercialUse", "allowDerivatives", "allowDifferentLicense")
_BLOCKS = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote", "pre", "hr"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCKS and tag != "li":  # an item ends where the next begins: one a line
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_text(value: Any, *, limit: int = MAX_DESCRIPTION) -> str | None:
    """Civitai's HTML description as plain text: paragraphs and list items on their own lines,
    entities decoded, runs of blank lines folded; cut to ``limit`` characters (``…`` at the end)."""
    if not isinstance(value, str) or not value.strip():
        return None
    parser = _Text()
    parser.feed(value[: limit * 4])  # markup outweighs text; what lies past this would be cut anyway
    parser.close()
    text = html.unescape("".join(parser.parts))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return storable(text) or None


def _str(value: Any) -> str | None:
    return storable(value.strip()) or None if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def version_hashes(version: dict[str, Any]) -> set[str]:
    """Every hash of every file of a version, lowercased (what a lookup hash is matched against)."""
    found: set[str] = set()
    for file in _dicts(version.get("files")):
        hashes = file.get("hashes")
        if isinstance(hashes, dict):
            found.update(h.lower() for h in hashes.values() if isinstance(h, str))
    return found


def apply_version(record: CivitaiRecord, version: dict[str, Any], matched_hash: str) -> None:
    """Fill ``record`` from a model version's JSON (``GET /api/v1/model-versions/by-hash/…``)."""
    model = version.get("model") if isinstance(version.get("model"), dict) else {}
    assert isinstance(model, dict)
    record.state = "matched"
    record.matched_hash = matched_hash
    record.deleted_at = None
    record.model_id = _int(version.get("modelId"))
    record.model_name = _str(model.get("name"))
    record.model_type = _str(model.get("type"))
    record.version_id = _int(version.get("id"))
    record.version_name = _str(version.get("name"))
    record.air = _str(version.get("air"))
    record.base_model = _str(version.get("baseModel"))
    words = version.get("trainedWords")
    record.trained_words = storable(
        [w.strip() for w in words if isinstance(w, str) and w.strip()] if isinstance(words, list) else []
    )
    record.description = record.description or html_text(version.get("description"))
    record.nsfw_level = _int(version.get("nsfwLevel"))
    record.published_at = _date(version.get("publishedAt")) or _date(version.get("createdAt"))
    record.files = storable(
        [
            {
                "name": file.get("name"),
                "type": file.get("type"),
                "size_kb": file.get("sizeKB"),
                "primary": bool(file.get("primary")),
                "hashes": file.get("hashes") if isinstance(file.get("hashes"), dict) else {},
            }
            for file in _dicts(version.get("files"))
        ]
    )
    record.raw = storable(version)


def apply_model(record: CivitaiRecord, model: dict[str, Any]) -> None:
    """Add what only the model's page says (``GET /api/v1/models/{id}``): its description, tags,
    license flags, creator, and its versions (for ``loradex civitai updates``)."""
    record.description = html_text(model.get("description")) or record.description
    tags = model.get("tags")
    record.tags = storable(
        [t.get("name") if isinstance(t, dict) else t for t in tags if isinstance(t, (str, dict))]
        if isinstance(tags, list)
        else []
    )
    record.tags = [t for t in record.tags if isinstance(t, str)]
    record.license = storable({flag: model[flag] for flag in LICENSE_FLAGS if flag in model}) or None
    creator = model.get("creator")
    record.creator = _str(creator.get("username")) if isinstance(creator, dict) else record.creator
    record.model_name = record.model_name or _str(model.get("name"))
    record.model_versions = storable(
        [
            {
                "id": _int(v.get("id")),
                "name": _str(v.get("name")),
                "base_model": _str(v.get("baseModel")),
                "published_at": v.get("publishedAt") if isinstance(v.get("publishedAt"), str) else None,
            }
            for v in _dicts(model.get("modelVersions"))
            if _int(v.get("id")) is not None
        ]
    )


def example_images(version: dict[str, Any], *, count: int, max_nsfw: int) -> list[dict[str, Any]]:
    """The first ``count`` still images of a version at NSFW level ``max_nsfw`` or below (an
    image whose level is not given is taken for the strongest)."""
    chosen: list[dict[str, Any]] = []
    for image in _dicts(version.get("images")):
        if len(chosen) >= count:
            break
        if image.get("type", "image") != "image" or not isinstance(image.get("url"), str):
            continue
        level = _int(image.get("nsfwLevel")) or NSFW_LEVELS["xxx"]
        if level <= max_nsfw:
            chosen.append(image)
    return chosen


#: The largest width or height an example image's size may state.
MAX_SIDE = 16384


def image_preview(artifact_id: int, path: str, image: dict[str, Any], *, base: str | None) -> Preview:
    """A preview row for a downloaded example image, with how it was made as far as Civitai says."""
    meta = image.get("meta") if isinstance(image.get("meta"), dict) else {}
    assert isinstance(meta, dict)
    given = meta.get("seed")
    # As an int, never a float: seeds pass 2**53. Some tools write them as strings.
    seed = int(given) if isinstance(given, str) and given.strip().lstrip("-").isdigit() else _int(given)
    resources = [
        {
            "name": r.get("name"),
            "type": r.get("type"),
            "weight": _number(r.get("weight")),
            "hash": r.get("hash"),
        }
        for r in _dicts(meta.get("resources"))
    ] + [
        {"type": r.get("type"), "weight": _number(r.get("weight")), "model_version_id": _int(r.get("modelVersionId"))}
        for r in _dicts(meta.get("civitaiResources"))
    ]
    return Preview(
        artifact_id=artifact_id,
        path=path,
        source="civitai",
        prompt=_str(meta.get("prompt")),
        negative_prompt=_str(meta.get("negativePrompt")),
        seed=seed if seed is not None and abs(seed) < 2**63 else None,
        sampler=_str(meta.get("sampler")),
        steps=int(s) if (s := _number(meta.get("steps"))) is not None and s.is_integer() else None,
        cfg=_number(meta.get("cfgScale")),
        resources=storable(resources) or None,
        base=_str(meta.get("Model")) or base,
        url=image["url"],
        nsfw_level=_int(image.get("nsfwLevel")),
        width=size[0] if (size := generation_size(image)) else None,
        height=size[1] if size else None,
    )


def generation_size(image: dict[str, Any]) -> tuple[int, int] | None:
    """The size an example image was generated at: its ``meta.Size``; else the image's own width and
    height, unless the meta says it was upscaled after (hires fix: those are not the size to render)."""
    # Here, not at the top: the scan imports this module (sidecars) and needs none of the generation side.
    from loradex.adapters.generate.examples import parse_size

    meta = image.get("meta") if isinstance(image.get("meta"), dict) else {}
    assert isinstance(meta, dict)
    if isinstance(meta.get("Size"), str):
        size = parse_size(meta["Size"])
    elif any(key.startswith("Hires") for key in meta):
        size = None
    else:
        width, height = _int(image.get("width")), _int(image.get("height"))
        size = (width, height) if width is not None and height is not None else None
    # Within what any pipeline renders (and a 32-bit column holds): a bigger number is a typo or junk.
    return size if size and all(0 < side <= MAX_SIDE for side in size) else None
