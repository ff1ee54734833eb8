"""An artifact's hashes in full, as plain text lines the mouse can select (``c`` copies the sha256)."""

from __future__ import annotations

from rich.text import Text

from .section import Section

#: (label, Artifact attribute)
HASHES = (
    ("sha256", "sha256"),
    ("AutoV2", "autov2"),
    ("tensor hash", "tensor_hash"),
    ("model hash", "model_hash"),
    ("AutoV3", "autov3"),
    ("BLAKE3", "blake3"),
    ("CRC32", "crc32"),
)


class Hashes(Section):
    TITLE = "hashes"

    def show(self, a) -> None:
        text = Text()
        for i, (label, attr) in enumerate(HASHES):
            value = getattr(a, attr)
            text.append(("\n" if i else "") + f"{label:<12}", style="bold")
            text.append(value or ("not hashed yet" if attr == "sha256" else "—"), style="" if value else "dim")
        self.update(text)
